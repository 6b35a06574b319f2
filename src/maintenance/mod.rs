//! Jobs that keep a table healthy beside its writers: compaction (more to come: snapshot expiry,
//! tags, consumers, orphan files).

pub mod compact;
