//! Deletion-vector index files: any bytes and any (offset, length) from the index manifest give a
//! bitmap or an error, never a panic or an out-of-bounds read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal::spec::deletion_vector::decode_deletion_vector;

fuzz_target!(|input: (u16, u16, &[u8])| {
    let (offset, length, bytes) = input;
    let _ = decode_deletion_vector(bytes, offset as usize, length as usize, "fuzz");
    // The usual shape: a whole file starting at offset 1.
    if bytes.len() > 9 {
        let _ = decode_deletion_vector(bytes, 1, bytes.len() - 9, "fuzz");
    }
});
