use super::*;

#[test]
fn stale_directories_go_and_live_ones_stay() {
    let base = tempfile::tempdir().unwrap();
    // A crashed process: its lock file is there, but nobody holds the lock.
    let dead = base.path().join("shoal-1-dead");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("lock"), b"").unwrap();
    std::fs::write(dead.join("lookup-3"), b"left behind").unwrap();
    // A live process: it holds the lock.
    let live = base.path().join("shoal-2-live");
    std::fs::create_dir(&live).unwrap();
    let held = File::create(live.join("lock")).unwrap();
    held.try_lock().unwrap();
    // Not ours.
    std::fs::create_dir(base.path().join("other")).unwrap();

    assert_eq!(remove_stale(base.path()), 1);
    assert!(!dead.exists());
    assert!(live.exists() && base.path().join("other").exists());
    drop(held);
    assert_eq!(remove_stale(base.path()), 1);
    assert!(!live.exists());
}

#[test]
fn temp_files_delete_themselves() {
    let (f, mut handle) = TempFile::create("unit").unwrap();
    std::io::Write::write_all(&mut handle, b"abc").unwrap();
    let path = f.path().to_path_buf();
    assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    drop(f);
    assert!(!path.exists());
}
