//! BinaryRow decoding (partitions, keys, statistics in manifests): any bytes, decoded as rows of
//! several type lists, must give a value or an error, never a panic or a huge allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal::spec::{parse_type, BinaryRow};

fuzz_target!(|data: &[u8]| {
    let Ok(row) = BinaryRow::deserialize(data) else { return };
    for types in [
        &["BIGINT", "STRING"][..],
        &["INT", "DECIMAL(38, 10)", "TIMESTAMP(9)"][..],
        &["STRING", "BYTES", "BOOLEAN", "DOUBLE", "DATE"][..],
        &["DECIMAL(10, 2)", "TIMESTAMP(3)", "SMALLINT", "TINYINT", "FLOAT"][..],
    ] {
        let types: Vec<_> = types.iter().map(|t| parse_type(t).expect("static type")).collect();
        let _ = row.to_datums(&types);
    }
});
