//! Snapshot and schema JSON files: any text parses or fails with an error naming the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal::spec::{Snapshot, TableSchema};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Snapshot::from_json_str(text, "fuzz");
    if let Ok(schema) = TableSchema::from_json_str(text, "fuzz") {
        let _ = schema.validate();
        let _ = shoal::spec::merge_engine::MergeEngineConfig::from_schema(&schema);
    }
});
