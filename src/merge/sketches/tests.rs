use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Java (datasketches-java 4.2 in Paimon 0.9): an HllSketch (lgK 12, HLL_4) updated with the
/// longs 1, 2, 3, `toCompactByteArray()`.
const JAVA_HLL_123: &str = "0201070c030803002bf2fb06862ff90d75816607";
/// Java: an UpdateSketch (4096 nominal entries) updated with 1, 2, 3, `compact().toByteArray()`.
const JAVA_THETA_123: &str = "02030300001acc93030000000000803f15f97dcbbd86a105c397fc1281709d1eba40b3c1da06695d";
/// Java: the same updated with 1 only (a single-item sketch).
const JAVA_THETA_1: &str = "01030300003acc9315f97dcbbd86a105";

#[test]
fn unions_read_java_sketches() {
    // The union of a list with itself is the same list.
    let h = hll_union(&hex(JAVA_HLL_123), &hex(JAVA_HLL_123)).unwrap();
    assert_eq!(h, hex(JAVA_HLL_123));
    assert_eq!(hll::contents(&h).unwrap().1.len(), 3);
    let t = theta_union(&hex(JAVA_THETA_123), &hex(JAVA_THETA_1)).unwrap();
    let t = CompactThetaSketch::deserialize(&t).unwrap();
    assert_eq!(t.num_retained(), 3);
}

#[test]
fn corrupt_sketches_are_errors_naming_the_side() {
    let good = hex(JAVA_THETA_123);
    let (in_acc, e) = theta_union(&good, &good[..good.len() - 3]).unwrap_err();
    assert!(!in_acc, "{e}");
    let (in_acc, _) = hll_union(b"junk", &hex(JAVA_HLL_123)).unwrap_err();
    assert!(in_acc);
    for bytes in [hex(JAVA_HLL_123), good] {
        for i in 0..bytes.len() {
            for x in [0u8, 1, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = x;
                let _ = hll_union(&b, &bytes);
                let _ = theta_union(&bytes, &b);
            }
        }
    }
}

/// An HLL_4 image in HLL mode with exceptions, made by a union (Java's bytes for it are checked in
/// tests/merge_engines.rs); every byte of it changed to a few values reads or errs, never panics.
#[test]
fn corrupt_hll_arrays_are_errors_not_panics() {
    let mut regs = vec![10u8, 1, 7, 8, 0, 8, 0, 2 | 2 << 2];
    for x in [1000.0f64, 50.0, 0.0] {
        regs.extend_from_slice(&x.to_le_bytes());
    }
    regs.extend_from_slice(&0u32.to_le_bytes());
    regs.extend_from_slice(&0u32.to_le_bytes());
    regs.extend((0..256u32).map(|s| (s * 13 % 37) as u8 + 1));
    let hll4 = hll_union(&regs, &hex(JAVA_HLL_123)).unwrap();
    assert!(u32::from_le_bytes(hll4[36..40].try_into().unwrap()) > 0, "has exceptions");
    assert_eq!(hll::contents(&hll4).unwrap().0, 8);
    for bytes in [regs, hll4] {
        for i in 0..bytes.len().min(200) {
            for x in [0u8, 1, 0x0f, 0x3f, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = x;
                let _ = hll_union(&b, &bytes);
                let _ = hll_union(&bytes, &b);
            }
        }
        for n in 0..bytes.len() {
            assert!(hll_union(&bytes[..n], &bytes).is_err() || n >= 40 + 128, "truncated to {n}");
        }
    }
}
