//! Deletion-vector index files (`index/index-<uuid>-<n>`): a version byte (1), then per data file
//! `[i32 BE size][size bytes: i32 BE magic 1581511376 + 32-bit RoaringBitmap, portable
//! serialisation][i32 BE CRC32 of those size bytes]`. Bit i set: row i of the data file is
//! deleted. See format-spec/deletion-vectors.md.

use roaring::RoaringBitmap;

use super::SpecError;

pub const INDEX_FILE_VERSION: u8 = 1;
pub const BITMAP32_MAGIC: i32 = 1581511376;
pub const BITMAP64_MAGIC: i32 = 1681511377;

/// Decodes the deletion vector at `offset` (of its size int) with body `length` in `bytes`, the
/// whole index file `file`. Every check failure names the file and the offset.
pub fn decode_deletion_vector(
    bytes: &[u8],
    offset: usize,
    length: usize,
    file: &str,
) -> Result<RoaringBitmap, SpecError> {
    let corrupt =
        |m: String| SpecError::corrupt("deletion-vector index file", file, format!("at offset {offset}: {m}"));
    if bytes.first() != Some(&INDEX_FILE_VERSION) {
        return Err(corrupt(format!("version byte is {:?}, expected {INDEX_FILE_VERSION}", bytes.first())));
    }
    let end =
        offset.checked_add(8).and_then(|e| e.checked_add(length)).ok_or_else(|| corrupt("range overflows".into()))?;
    if end > bytes.len() || length < 4 {
        return Err(corrupt(format!("entry of {length} bytes does not fit the file of {} bytes", bytes.len())));
    }
    let int = |at: usize| i32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let size = int(offset);
    if size as usize != length {
        return Err(corrupt(format!("size int is {size}, the index manifest says {length}")));
    }
    let body = &bytes[offset + 4..offset + 4 + length];
    let crc = int(offset + 4 + length) as u32;
    let actual = crc32fast::hash(body);
    if crc != actual {
        return Err(corrupt(format!("CRC32 mismatch: stored {crc:#010x}, computed {actual:#010x}")));
    }
    match int(offset + 4) {
        BITMAP32_MAGIC => RoaringBitmap::deserialize_from(&body[4..]).map_err(|e| corrupt(format!("bitmap: {e}"))),
        BITMAP64_MAGIC => {
            Err(corrupt("64-bit deletion vectors (deletion-vectors.bitmap64) are not supported by shoal yet".into()))
        }
        m => Err(corrupt(format!("unknown magic {m}"))),
    }
}

/// Encodes deletion vectors into an index file; returns the bytes and each vector's (data file,
/// offset, length) for the index manifest.
pub fn encode_index_file(vectors: &[(String, &RoaringBitmap)]) -> (Vec<u8>, Vec<(String, i32, i32)>) {
    let mut out = vec![INDEX_FILE_VERSION];
    let mut ranges = vec![];
    for (file, bitmap) in vectors {
        let mut body = BITMAP32_MAGIC.to_be_bytes().to_vec();
        bitmap.serialize_into(&mut body).expect("writing to a Vec cannot fail");
        ranges.push((file.clone(), out.len() as i32, body.len() as i32));
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    }
    (out, ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_named() {
        let a: RoaringBitmap = [0u32, 5, 70_000].into_iter().collect();
        let b: RoaringBitmap = (10u32..20).collect();
        let (bytes, ranges) = encode_index_file(&[("f1".into(), &a), ("f2".into(), &b)]);
        assert_eq!(ranges[0].1, 1);
        for ((_, off, len), want) in ranges.iter().zip([&a, &b]) {
            assert_eq!(&decode_deletion_vector(&bytes, *off as usize, *len as usize, "idx").unwrap(), want);
        }
        let mut flipped = bytes.clone();
        flipped[12] ^= 0x40;
        let e = decode_deletion_vector(&flipped, 1, ranges[0].2 as usize, "idx").unwrap_err().to_string();
        assert!(e.contains("idx") && e.contains("CRC32"), "{e}");
        let e = decode_deletion_vector(&bytes[..10], 1, ranges[0].2 as usize, "idx").unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
    }
}
