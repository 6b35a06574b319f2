//! The Avro decoders of manifests, manifest lists and index manifests: any bytes give entries
//! or an error naming the file, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shoal::spec::manifest::{decode_index_manifest, decode_manifest_entries, decode_manifest_list};

fuzz_target!(|data: &[u8]| {
    let _ = decode_manifest_entries(data, "fuzz");
    let _ = decode_manifest_list(data, "fuzz");
    let _ = decode_index_manifest(data, "fuzz");
});
