use super::*;

fn io(dir: &std::path::Path) -> FileIO {
    FileIO::from_uri(dir.to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn one_holder_at_a_time_and_takeover_after_release() {
    let d = tempfile::tempdir().unwrap();
    let io = io(d.path());
    let ttl = Duration::from_secs(60);
    let Acquired::Held(mut a) = Lease::acquire(&io, "leases/db.t", "a", ttl).await.unwrap() else { panic!() };
    assert!(matches!(Lease::acquire(&io, "leases/db.t", "b", ttl).await.unwrap(), Acquired::Busy(_)));
    a.renew().await.unwrap();
    assert!(matches!(Lease::acquire(&io, "leases/db.t", "b", ttl).await.unwrap(), Acquired::Busy(_)));
    a.release().await;
    let Acquired::Held(b) = Lease::acquire(&io, "leases/db.t", "b", ttl).await.unwrap() else { panic!() };
    assert!(b.generation > 1);
    // Old generations are cleaned up: at most the newest three remain.
    assert!(io.list("leases/db.t").await.unwrap().len() <= 3);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_holder_notices() {
    let d = tempfile::tempdir().unwrap();
    let io = io(d.path());
    let Acquired::Held(mut a) = Lease::acquire(&io, "l", "a", Duration::from_millis(1)).await.unwrap() else {
        panic!()
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let Acquired::Held(_b) = Lease::acquire(&io, "l", "b", Duration::from_secs(60)).await.unwrap() else { panic!() };
    assert!(a.renew().await.is_err(), "the old holder learns it lost the lease");
}
