use super::*;
use std::error::Error as _;

#[test]
fn specific_input_errors_read_and_classify_as_invalid_input() {
    for e in [
        Error::InvalidInput("m".into()),
        Error::RowKindRefused("m".into()),
        Error::SchemaMismatch("m".into()),
        Error::InvalidOptionValue("m".into()),
    ] {
        assert_eq!(e.kind(), ErrorKind::Input, "{e:?}");
        assert_eq!(e.kind().exit_code(), 2);
        assert_eq!(e.to_string(), "invalid input: m");
        // Wrapped after a context, "invalid input" is said once.
        assert_eq!(e.detail(), "m");
    }
    assert_eq!(Error::CommitConflict("m".into()).detail(), "commit conflict: m");
}

#[tokio::test]
async fn a_failed_task_keeps_its_join_error() {
    let handle = tokio::spawn(async { panic!("boom") });
    let e = handle.await.map_err(Error::join("flushing a bucket")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    let msg = e.to_string();
    assert!(msg.starts_with("task failed while flushing a bucket: "), "{msg}");
    assert!(msg.contains("panicked"), "{msg}");
    let source = e.source().expect("the join error is the source");
    assert!(source.downcast_ref::<tokio::task::JoinError>().is_some_and(|j| j.is_panic()));
}

#[test]
fn an_internal_error_keeps_its_cause() {
    let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
    let e = Error::internal("status /x/status.json")(io);
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert_eq!(e.to_string(), "task failed: status /x/status.json: denied");
    let source = e.source().expect("a source");
    assert_eq!(source.downcast_ref::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::PermissionDenied));
}

#[test]
fn a_local_io_error_keeps_its_cause_and_classifies_by_it() {
    use std::io::{Error as IoErr, ErrorKind as K};
    let e = Error::local_io("writing to stdout")(IoErr::new(K::StorageFull, "no space left"));
    assert_eq!(e.to_string(), "writing to stdout: no space left");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_eq!(e.kind().exit_code(), 6);
    assert_eq!(e.detail(), "writing to stdout: no space left", "no \"invalid input\" to strip");
    let source = e.source().expect("the io error is the source");
    assert_eq!(source.downcast_ref::<IoErr>().map(|e| e.kind()), Some(K::StorageFull));
    for (kind, expected) in [
        (K::NotFound, ErrorKind::NotFound),
        (K::AlreadyExists, ErrorKind::AlreadyExists),
        (K::PermissionDenied, ErrorKind::Input),
        (K::InvalidData, ErrorKind::Input),
        (K::AddrNotAvailable, ErrorKind::Input),
        (K::Unsupported, ErrorKind::Unsupported),
        (K::AddrInUse, ErrorKind::Transient),
        (K::Interrupted, ErrorKind::Transient),
        (K::Other, ErrorKind::Transient),
    ] {
        assert_eq!(Error::local_io("f.csv")(IoErr::new(kind, "x")).kind(), expected, "{kind:?}");
    }
}

#[test]
fn an_unexpected_state_is_an_internal_task_error() {
    let e = Error::Task("a dynamic-bucket partition was assigned before it was loaded".into());
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert_eq!(e.kind().exit_code(), 1);
    assert_eq!(e.to_string(), "task failed: a dynamic-bucket partition was assigned before it was loaded");
}

#[test]
fn a_corrupt_table_file_classifies_as_corruption() {
    let e: Error =
        SpecError::corrupt("hash index file", "/t/index/h-1", "its entry names bucket 70000, out of range").into();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert_eq!(e.kind().exit_code(), 7);
    assert_eq!(e.to_string(), "corrupt hash index file in /t/index/h-1: its entry names bucket 70000, out of range");
}
