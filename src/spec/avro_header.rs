//! A bounds check of an Avro object container's header, run before apache-avro reads it: the
//! header's metadata map carries item counts and lengths from the file, and apache-avro reserves
//! memory for a map's count before reading its items (a 21-byte file made it allocate 5 GB; found
//! by fuzzing). Here every count and length must fit in the bytes that are actually there.

/// `Err(reason)` if the header cannot be a valid one for `bytes`; `Ok` says nothing about the rest.
pub(crate) fn check_container_header(bytes: &[u8]) -> Result<(), String> {
    let mut pos = 4usize;
    if bytes.len() < 4 || &bytes[..4] != b"Obj\x01" {
        return Ok(()); // not a container at all: apache-avro reports that without allocating
    }
    loop {
        let remaining = bytes.len().saturating_sub(pos);
        let count = read_long(bytes, &mut pos)?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            let size = read_long(bytes, &mut pos)?;
            if size < 0 || size as u128 > remaining as u128 {
                return Err(format!("header block size {size} exceeds the {remaining} bytes left"));
            }
        }
        let count = count.unsigned_abs();
        // Every entry is a key and a value, each at least one length byte.
        if count > (remaining / 2) as u64 {
            return Err(format!("header map claims {count} entries in {remaining} bytes"));
        }
        for _ in 0..count {
            for what in ["key", "value"] {
                let len = read_long(bytes, &mut pos)?;
                let left = bytes.len().saturating_sub(pos);
                if len < 0 || len as u128 > left as u128 {
                    return Err(format!("header {what} length {len} exceeds the {left} bytes left"));
                }
                pos += len as usize;
            }
        }
    }
}

/// An Avro long: zig-zag varint of at most 10 bytes.
fn read_long(bytes: &[u8], pos: &mut usize) -> Result<i64, String> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *bytes.get(*pos).ok_or("header ends inside a number")?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
        }
    }
    Err("header number longer than 10 bytes".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_metadata_count_is_refused_and_a_real_header_passes() {
        // The input fuzzing found: a map count of about 68 million in a 21-byte file.
        let fuzzed = [79u8, 98, 106, 1, 249, 176, 255, 48, 255, 255, 255, 157, 0, 0, 0, 0, 0, 59, 1, 0, 8];
        assert!(check_container_header(&fuzzed).is_err());
        // A header with one entry ("k" -> "v") and the end of the map, then the sync marker.
        let mut ok = b"Obj\x01".to_vec();
        ok.extend([2, 2, b'k', 2, b'v', 0]);
        ok.extend([0u8; 16]);
        assert!(check_container_header(&ok).is_ok());
        assert!(check_container_header(&ok[..7]).is_err());
    }
}
