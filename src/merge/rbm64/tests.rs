use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Java Paimon 0.9: `RoaringBitmap64.bitmapOf(1, 5, 1L << 33, (1L << 33) + 7).serialize()`.
const JAVA_SMALL: &str = "010200000000000000000200030000000000020004000000000000000000000000000000000004000000000000020000\
                          010000000000000001000000fe02000000010202000000010005000102020000000000070002000000000000000000\
                          000001000000";

/// Java Paimon 0.9: `FieldRoaringBitmap64Agg.agg(bitmapOf(3, 1L << 40), bitmapOf(<JAVA_SMALL's values>))`.
const JAVA_UNION: &str = "0103000000000000000002000200000000010000020000000002000400000000000000000000000000000000000400\
                          0000000000020000020000000000000004000000000001000000010000000000000001000000fe0300000001020300\
                          000001000300050001020100000000000102020000000000070003000000000000000000000002000000";

#[test]
fn reads_and_writes_javas_bytes() {
    let values = [1u64, 5, 1 << 33, (1 << 33) + 7];
    let b = Bitmap64::decode(&hex(JAVA_SMALL)).unwrap();
    assert_eq!(b.iter().collect::<Vec<_>>(), values);
    assert_eq!(values.iter().copied().collect::<Bitmap64>().encode(), hex(JAVA_SMALL));
}

#[test]
fn reads_javas_union_layout() {
    let u = Bitmap64::decode(&hex(JAVA_UNION)).unwrap();
    assert_eq!(u.iter().collect::<Vec<_>>(), [1, 3, 5, 1 << 33, (1 << 33) + 7, 1 << 40]);
    let mut mine: Bitmap64 = [3u64, 1 << 40].into_iter().collect();
    mine.union_with(&Bitmap64::decode(&hex(JAVA_SMALL)).unwrap());
    assert_eq!(mine, u);
}

#[test]
fn union_is_javas_bytes() {
    let acc: Bitmap64 = [3u64, 1 << 40].into_iter().collect();
    assert_eq!(union(&acc.encode(), &hex(JAVA_SMALL)).unwrap(), hex(JAVA_UNION));
    // Empty sides: Java's or into an empty bitmap builds it anew from the input's containers.
    assert_eq!(union(&[0], &[0]).unwrap(), [0]);
    assert_eq!(union(&[0], &hex(JAVA_SMALL)).unwrap(), hex(JAVA_SMALL));
    assert_eq!(union(&hex(JAVA_SMALL), &[0]).unwrap(), hex(JAVA_SMALL));
    let (in_acc, _) = union(&hex(JAVA_SMALL), &[7]).unwrap_err();
    assert!(!in_acc);
}

/// Every node type grows as Java grows it: keys added one commit at a time.
#[test]
fn unions_grow_every_node_type() {
    let mut acc = Bitmap64::new().encode();
    let mut all = Bitmap64::new();
    for i in 0..300u64 {
        let v = (i * 7919 % 300) << 16 | i;
        let one: Bitmap64 = [v].into_iter().collect();
        acc = union(&acc, &one.encode()).unwrap();
        all.insert(v);
        assert_eq!(Bitmap64::decode(&acc).unwrap(), all, "after {i}");
    }
}

#[test]
fn empty_and_round_trips() {
    assert_eq!(Bitmap64::new().encode(), [0]);
    assert!(Bitmap64::decode(&[0]).unwrap().is_empty());
    // Many keys (every node type), long runs, dense and sparse containers, negative longs.
    let mut values: Vec<u64> = (0..300u64).map(|i| i << 16 | i).collect();
    values.extend((0..70_000u64).map(|i| (7 << 40) + i));
    values.extend((0..5000u64).map(|i| (9 << 40) + 2 * i));
    values.extend((0..20u64).map(|i| u64::MAX - 3 * i));
    let b: Bitmap64 = values.iter().copied().collect();
    let back = Bitmap64::decode(&b.encode()).unwrap();
    assert_eq!(back, b);
    assert_eq!(back.len(), b.len());
}

#[test]
fn corrupt_bytes_are_errors() {
    let many: Bitmap64 = (0..20u64).map(|i| i << 16 | i).chain((0..5).map(|i| i << 40)).collect();
    for good in [hex(JAVA_SMALL), hex(JAVA_UNION), many.encode()] {
        for n in 0..good.len() {
            assert!(Bitmap64::decode(&good[..n]).is_err(), "truncated to {n}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(Bitmap64::decode(&extra).is_err());
        // Every single-byte change either still reads or is an error, never a panic, also when
        // unioned either way.
        for i in 0..good.len() {
            for x in [0u8, 1, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = x;
                let _ = Bitmap64::decode(&b);
                let _ = union(&b, &good);
                let _ = union(&good, &b);
            }
        }
    }
    assert!(Bitmap64::decode(&[2]).is_err());
}
