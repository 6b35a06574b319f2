//! Deletion-vector index files (`index/index-<uuid>-<n>`): a version byte (1), then per data file
//! `[i32 BE size][size bytes: i32 BE magic 1581511376 + 32-bit RoaringBitmap, portable
//! serialisation][i32 BE CRC32 of those size bytes]`. Bit i set: row i of the data file is
//! deleted. With `deletion-vectors.bitmap64` (Paimon 1.x) an entry is instead `[i32 BE size][size
//! bytes: i32 LE magic 1681511377 + 64-bit RoaringBitmap, portable: u64 LE count, then per
//! bitmap u32 LE high bits + 32-bit portable bitmap][i32 BE CRC32]`, and its index manifest
//! length is the whole entry (size int and CRC included) where a 32-bit entry's is `size`. See
//! format-spec/deletion-vectors.md.

use roaring::{RoaringBitmap, RoaringTreemap};

use super::SpecError;

pub(crate) const INDEX_FILE_VERSION: u8 = 1;
pub(crate) const BITMAP32_MAGIC: i32 = 1581511376;
pub(crate) const BITMAP64_MAGIC: i32 = 1681511377;

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
    let magic_at = offset.checked_add(8).filter(|&e| e <= bytes.len()).map(|_| {
        let m = [bytes[offset + 4], bytes[offset + 5], bytes[offset + 6], bytes[offset + 7]];
        (i32::from_be_bytes(m), i32::from_le_bytes(m))
    });
    // A 64-bit entry's length in the index manifest counts its size int and CRC too.
    let bitmap64 = matches!(magic_at, Some((_, le)) if le == BITMAP64_MAGIC);
    let length = if bitmap64 {
        length.checked_sub(8).ok_or_else(|| corrupt(format!("64-bit entry of {length} bytes is too short")))?
    } else {
        length
    };
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
    if bitmap64 {
        let map = RoaringTreemap::deserialize_from(&body[4..]).map_err(|e| corrupt(format!("64-bit bitmap: {e}")))?;
        let mut rows = RoaringBitmap::new();
        for (high, bitmap) in map.bitmaps() {
            match high {
                0 => rows = bitmap.clone(),
                _ if bitmap.is_empty() => {}
                _ => {
                    return Err(corrupt(format!(
                        "64-bit deletion vector marks row {} and beyond: data files of more than 2^32 rows are \
                         not supported",
                        (high as u64) << 32
                    )))
                }
            }
        }
        return Ok(rows);
    }
    match int(offset + 4) {
        BITMAP32_MAGIC => RoaringBitmap::deserialize_from(&body[4..]).map_err(|e| corrupt(format!("bitmap: {e}"))),
        m => Err(corrupt(format!("unknown magic {m} (neither a 32-bit nor a 64-bit deletion vector)"))),
    }
}

/// Encodes deletion vectors into an index file, 32-bit ones or (`bitmap64`, Paimon's
/// `deletion-vectors.bitmap64`) 64-bit ones; returns the bytes and each vector's (data file,
/// offset, length) for the index manifest.
pub(crate) fn encode_index_file(
    vectors: &[(String, &RoaringBitmap)],
    bitmap64: bool,
) -> (Vec<u8>, Vec<(String, i32, i32)>) {
    let mut out = vec![INDEX_FILE_VERSION];
    let mut ranges = vec![];
    for (file, bitmap) in vectors {
        let mut body;
        if bitmap64 {
            // Paimon's OptimizedRoaringBitmap64: a bitmap per 2^32 rows from high bits 0 up;
            // row positions fit one.
            body = BITMAP64_MAGIC.to_le_bytes().to_vec();
            body.extend_from_slice(&1u64.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
        } else {
            body = BITMAP32_MAGIC.to_be_bytes().to_vec();
        }
        bitmap.serialize_into(&mut body).expect("writing to a Vec cannot fail");
        let length = if bitmap64 { body.len() + 8 } else { body.len() };
        ranges.push((file.clone(), out.len() as i32, length as i32));
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
        let (bytes, ranges) = encode_index_file(&[("f1".into(), &a), ("f2".into(), &b)], false);
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

    #[test]
    fn bitmap64_entries_in_paimons_layout() {
        let a: RoaringBitmap = [1u32, 5, 70_000].into_iter().collect();
        let (bytes, ranges) = encode_index_file(&[("f1".into(), &a)], true);
        let (_, off, len) = &ranges[0];
        // Java's Bitmap64DeletionVector.serializeTo: the range is the whole entry.
        assert_eq!((*off, *len as usize), (1, bytes.len() - 1));
        let size = i32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
        assert_eq!(size + 8, *len as usize);
        assert_eq!(&bytes[5..9], &BITMAP64_MAGIC.to_le_bytes(), "magic little-endian");
        assert_eq!(&bytes[9..17], &1u64.to_le_bytes(), "one 32-bit bitmap");
        assert_eq!(&bytes[17..21], &[0, 0, 0, 0], "for high bits 0");
        let portable_start = 21;
        let mut portable = vec![];
        a.serialize_into(&mut portable).unwrap();
        assert_eq!(&bytes[portable_start..portable_start + portable.len()], &portable[..]);
        let crc = crc32fast::hash(&bytes[5..5 + size]);
        assert_eq!(&bytes[5 + size..9 + size], &crc.to_be_bytes());
        assert_eq!(decode_deletion_vector(&bytes, 1, *len as usize, "idx").unwrap(), a);

        // Rows beyond 2^32 cannot be in a shoal-readable file; an empty high bitmap is fine.
        let mut wide = RoaringTreemap::new();
        wide.insert(3);
        wide.insert(1u64 << 33);
        let mut body = BITMAP64_MAGIC.to_le_bytes().to_vec();
        wide.serialize_into(&mut body).unwrap();
        let mut file = vec![INDEX_FILE_VERSION];
        file.extend_from_slice(&(body.len() as i32).to_be_bytes());
        file.extend_from_slice(&body);
        file.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        let e = decode_deletion_vector(&file, 1, file.len() - 1, "wide").unwrap_err().to_string();
        assert!(e.contains("2^32") && e.contains("wide"), "{e}");
    }
}
