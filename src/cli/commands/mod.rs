//! One file per command: its `Args` (with the help `shoal <command> --help` prints) and its
//! `exec`, which calls the library and prints.

pub mod alter;
pub mod branch;
pub mod compact;
pub mod consumer;
pub mod create;
pub mod demo;
pub mod expire_changelogs;
pub mod expire_snapshots;
pub mod files;
pub mod ingest;
pub mod inspect;
pub mod maintain;
pub mod read;
pub mod remove_orphan_files;
pub mod rollback;
pub mod schema;
pub mod snapshots;
pub mod sql;
pub mod tag;
pub mod tail;
pub mod ui;
pub mod write;
