//! Paimon's hash index file (`index/index-<uuid>-<n>`, index type `HASH`): the hashes of the
//! keys a bucket of a dynamic-bucket table holds, one big-endian 32-bit int each, no header
//! (Paimon's `HashIndexFile` over `IntFileUtils.writeInts`). The hash is that of the key's
//! BinaryRow (the primary key without partition columns), the one fixed buckets are chosen by.

use super::SpecError;

/// `HASH`: the index type of hash index files in the index manifest.
pub(crate) const HASH_INDEX: &str = "HASH";

/// The file's bytes for these hashes.
pub(crate) fn encode(hashes: impl IntoIterator<Item = i32>) -> Vec<u8> {
    let hashes = hashes.into_iter();
    let mut out = Vec::with_capacity(hashes.size_hint().0 * 4);
    for h in hashes {
        out.extend_from_slice(&h.to_be_bytes());
    }
    out
}

/// The hashes a hash index file holds; `file` names it in the error when its length is not a
/// multiple of four.
pub(crate) fn decode(bytes: &[u8], file: &str) -> Result<Vec<i32>, SpecError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(SpecError::Corrupt {
            what: "hash index file",
            file: file.to_string(),
            message: format!("{} bytes is not a whole number of 4-byte hashes", bytes.len()),
        });
    }
    Ok(bytes.chunks_exact(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_big_endian() {
        let bytes = encode([1, -2, i32::MAX]);
        assert_eq!(&bytes[..4], &[0, 0, 0, 1]);
        assert_eq!(&bytes[4..8], &[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(decode(&bytes, "f").unwrap(), vec![1, -2, i32::MAX]);
        assert!(decode(&bytes[..5], "index-x-0").unwrap_err().to_string().contains("index-x-0"));
        assert!(decode(&[], "f").unwrap().is_empty());
    }
}
