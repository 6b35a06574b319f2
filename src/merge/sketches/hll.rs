//! Apache DataSketches HLL sketches in datasketches-java 4.2's binary form, and the union Paimon
//! 0.9 runs on them (`HllSketchUtil.union`: `Union.heapify(input)`, `update(heapify(acc))`,
//! `getResult(HLL_4).toCompactByteArray()`).
//!
//! A union's bytes depend on more than the registers: coupon hash-set layouts grow with insertion
//! history, the HIP accumulator and the KxQ registers are updated incrementally in Java's order,
//! and the union has its own rules for which side is copied and which merged in. So this follows
//! the Java union state machine step by step (heap sketches only, which is all Paimon makes),
//! giving Java's bytes; `format-spec/merge-engines.md` has the layout.

use super::FormatError;

const KEY_BITS: u32 = 26;
const KEY_MASK: u32 = (1 << KEY_BITS) - 1;
const LG_INIT_LIST: u8 = 3;
const LG_INIT_SET: u8 = 5;
/// Java's `HllUtil.LG_AUX_ARR_INTS`: the initial size of an HLL_4 exception table, by lgK.
const LG_AUX_ARR_INTS: [u8; 22] = [0, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13];
const AUX_TOKEN: u8 = 0xF;
const FLAG_EMPTY: u8 = 4;
const FLAG_COMPACT: u8 = 8;
const FLAG_OUT_OF_ORDER: u8 = 16;
const FLAG_REBUILD: u8 = 32;
const MODE_LIST: u8 = 0;
const MODE_SET: u8 = 1;
const MODE_HLL: u8 = 2;
const HLL_START: usize = 40;

fn bad<T>(message: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError { kind: "HLL", message: message.into() })
}

fn inv_pow2(v: u8) -> f64 {
    f64::from_bits((1023 - v as u64) << 52)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TgtType {
    Hll4,
    Hll6,
    Hll8,
}

/// A coupon list (LIST mode) or coupon hash set (SET mode): coupons are `value << 26 | 26 hash
/// bits`, 0 is an empty cell.
#[derive(Clone, Debug)]
struct Coupons {
    lg_k: u8,
    set: bool,
    lg_arr: u8,
    count: u32,
    arr: Vec<u32>,
}

/// HLL-mode registers with Java's bookkeeping (an `Hll8Array`, or a source of another type
/// holding its register values).
#[derive(Clone, Debug)]
struct Regs {
    lg_k: u8,
    tgt: TgtType,
    values: Vec<u8>,
    ooo: bool,
    rebuild: bool,
    cur_min: u8,
    num_at_cur_min: u32,
    hip: f64,
    kxq0: f64,
    kxq1: f64,
}

#[derive(Clone, Debug)]
enum Impl {
    Coupons(Coupons),
    Regs(Regs),
}

impl Coupons {
    fn new(lg_k: u8, set: bool) -> Coupons {
        let lg_arr = if set { LG_INIT_SET } else { LG_INIT_LIST };
        Coupons { lg_k, set, lg_arr, count: 0, arr: vec![0; 1 << lg_arr] }
    }

    /// Java's `AbstractCoupons.find`: `Ok(index)` of the coupon, or `Err(index)` of the empty
    /// cell where it goes.
    fn find(arr: &[u32], lg_arr: u8, coupon: u32) -> Result<Result<usize, usize>, FormatError> {
        let mask = arr.len() - 1;
        let mut probe = coupon as usize & mask;
        let start = probe;
        loop {
            match arr[probe] {
                0 => return Ok(Err(probe)),
                c if c == coupon => return Ok(Ok(probe)),
                _ => {}
            }
            let stride = (((coupon & KEY_MASK) >> lg_arr) | 1) as usize;
            probe = (probe + stride) & mask;
            if probe == start {
                return bad("a coupon hash set without an empty cell");
            }
        }
    }

    /// Java's `couponUpdate` of a list or set: `Some` when it grew into another mode.
    fn update(&mut self, coupon: u32) -> Result<Option<Impl>, FormatError> {
        if !self.set {
            let len = self.arr.len();
            for i in 0..len {
                if self.arr[i] == 0 {
                    self.arr[i] = coupon;
                    self.count += 1;
                    if self.count as usize >= len {
                        if self.lg_k < 8 {
                            return Ok(Some(Impl::Regs(self.promote_to_hll())));
                        }
                        let mut set = Coupons::new(self.lg_k, true);
                        for c in self.arr.iter().take(self.count as usize) {
                            set.update(*c)?;
                        }
                        return Ok(Some(Impl::Coupons(set)));
                    }
                    return Ok(None);
                }
                if self.arr[i] == coupon {
                    return Ok(None);
                }
            }
            return bad("a full coupon list");
        }
        let Err(empty) = Self::find(&self.arr, self.lg_arr, coupon)? else { return Ok(None) };
        self.arr[empty] = coupon;
        self.count += 1;
        if 4 * self.count as usize > 3 * self.arr.len() {
            if self.lg_arr + 3 >= self.lg_k {
                return Ok(Some(Impl::Regs(self.promote_to_hll())));
            }
            self.lg_arr += 1;
            let mut grown = vec![0; 1 << self.lg_arr];
            for c in self.arr.iter().filter(|c| **c != 0) {
                match Self::find(&grown, self.lg_arr, *c)? {
                    Err(i) => grown[i] = *c,
                    Ok(_) => return bad("a coupon twice in a hash set"),
                }
            }
            self.arr = grown;
        }
        Ok(None)
    }

    /// `promoteHeapListOrSetToHll`: the coupons into registers, the HIP accumulator set to the
    /// coupon estimate.
    fn promote_to_hll(&self) -> Regs {
        let mut r = Regs::new(self.lg_k);
        for c in self.arr.iter().filter(|c| **c != 0) {
            r.coupon_update(*c);
        }
        r.hip = coupon_estimate(self.count);
        r.put_ooo(false);
        r
    }

    fn coupons(&self) -> impl Iterator<Item = u32> + '_ {
        self.arr.iter().copied().filter(|c| *c != 0)
    }
}

/// Java's coupon-count estimator: cubic interpolation in `CouponMapping`'s tables (the first
/// entries: a set holds at most 3/4 of 2^18 coupons).
fn coupon_estimate(count: u32) -> f64 {
    const X: [f64; 10] = [0.0, 1.0, 20.0, 400.0, 8000.0, 160000.0, 300000.0, 600000.0, 900000.0, 1200000.0];
    // Java's digits as written (they round to the same doubles).
    #[allow(clippy::excessive_precision)]
    const Y: [f64; 10] = [
        0.0,
        1.0,
        20.0000009437402611,
        400.0003963713384110,
        8000.1589294602090376,
        160063.6067763759638183,
        300223.7071597663452849,
        600895.5933856170158833,
        902016.8065120954997838,
        1203588.4983199508860707,
    ];
    let x = count as f64;
    // The straddle: X[o] <= x < X[o + 1].
    let o = (0..X.len() - 1).rev().find(|&i| X[i] <= x).unwrap_or(0);
    let first = match o {
        0 => 0,
        o if o == X.len() - 2 => o - 2,
        o => o - 1,
    };
    let (x0, x1, x2, x3) = (X[first], X[first + 1], X[first + 2], X[first + 3]);
    let (y0, y1, y2, y3) = (Y[first], Y[first + 1], Y[first + 2], Y[first + 3]);
    let term0 = (y0 * ((x - x1) * (x - x2) * (x - x3))) / ((x0 - x1) * (x0 - x2) * (x0 - x3));
    let term1 = (y1 * ((x - x0) * (x - x2) * (x - x3))) / ((x1 - x0) * (x1 - x2) * (x1 - x3));
    let term2 = (y2 * ((x - x0) * (x - x1) * (x - x3))) / ((x2 - x0) * (x2 - x1) * (x2 - x3));
    let term3 = (y3 * ((x - x0) * (x - x1) * (x - x2))) / ((x3 - x0) * (x3 - x1) * (x3 - x2));
    (term0 + term1 + term2 + term3).max(x)
}

impl Regs {
    /// A fresh `Hll8Array`.
    fn new(lg_k: u8) -> Regs {
        let k = 1u32 << lg_k;
        Regs {
            lg_k,
            tgt: TgtType::Hll8,
            values: vec![0; k as usize],
            ooo: false,
            rebuild: false,
            cur_min: 0,
            num_at_cur_min: k,
            hip: 0.0,
            kxq0: k as f64,
            kxq1: 0.0,
        }
    }

    fn k(&self) -> usize {
        1 << self.lg_k
    }

    fn put_ooo(&mut self, ooo: bool) {
        if ooo {
            self.hip = 0.0;
        }
        self.ooo = ooo;
    }

    /// `hipAndKxQIncrementalUpdate`.
    fn hip_and_kxq(&mut self, old: u8, new: u8) {
        self.hip += self.k() as f64 / (self.kxq0 + self.kxq1);
        if old < 32 {
            self.kxq0 -= inv_pow2(old);
        } else {
            self.kxq1 -= inv_pow2(old);
        }
        if new < 32 {
            self.kxq0 += inv_pow2(new);
        } else {
            self.kxq1 += inv_pow2(new);
        }
    }

    fn update_slot_with_kxq(&mut self, slot: usize, new: u8) {
        let old = self.values[slot];
        if new > old {
            self.values[slot] = new & 0x3F;
            self.hip_and_kxq(old, new);
            if old == 0 {
                self.num_at_cur_min = self.num_at_cur_min.wrapping_sub(1);
            }
        }
    }

    fn coupon_update(&mut self, coupon: u32) {
        let slot = coupon as usize & (self.k() - 1);
        self.update_slot_with_kxq(slot, (coupon >> KEY_BITS) as u8);
    }

    /// `copyAs(HLL_8)`: a copy of an HLL_8 sketch, or `Conversions.convertToHll8`.
    fn copy_as_hll8(&self) -> Regs {
        if self.tgt == TgtType::Hll8 {
            return self.clone();
        }
        let mut r = Regs::new(self.lg_k);
        r.put_ooo(self.ooo);
        let mut zeros = self.k() as u32;
        for (slot, v) in self.values.iter().enumerate() {
            if *v != 0 {
                zeros -= 1;
                r.update_slot_with_kxq(slot, *v);
            }
        }
        r.num_at_cur_min = zeros;
        r.hip = self.hip;
        r.rebuild = false;
        r
    }

    /// `Union.downsample`.
    fn downsample(&self, lg_k: u8) -> Regs {
        let mut r = Regs::new(lg_k);
        let mask = r.k() - 1;
        for (slot, v) in self.values.iter().enumerate() {
            if *v != 0 {
                r.update_slot_with_kxq(slot & mask, *v);
            }
        }
        r.hip = self.hip;
        r.put_ooo(self.ooo);
        r.rebuild = false;
        r
    }

    /// `mergeHlltoHLLmode`: register maxima, folding a larger source onto this.
    fn merge_registers(&mut self, src: &Regs) {
        let mask = self.k() - 1;
        for (i, v) in src.values.iter().enumerate() {
            let t = &mut self.values[i & mask];
            *t = (*t).max(*v);
        }
        self.rebuild = true;
    }

    /// `Union.checkRebuildCurMinNumKxQ`.
    fn check_rebuild(&mut self) {
        if !self.rebuild || self.tgt != TgtType::Hll8 {
            return;
        }
        let (mut cur_min, mut num) = (64u8, 0u32);
        let (mut kxq0, mut kxq1) = (self.k() as f64, 0.0);
        for v in &self.values {
            let v = *v;
            if v > 0 {
                if v < 32 {
                    kxq0 += inv_pow2(v) - 1.0;
                } else {
                    kxq1 += inv_pow2(v) - 1.0;
                }
            }
            if v > cur_min {
                continue;
            }
            if v < cur_min {
                cur_min = v;
                num = 1;
            } else {
                num += 1;
            }
        }
        (self.kxq0, self.kxq1, self.cur_min, self.num_at_cur_min, self.rebuild) = (kxq0, kxq1, cur_min, num, false);
    }

    /// `Conversions.convertToHll4` and the compact HLL_4 image.
    fn to_hll4_bytes(&self) -> Vec<u8> {
        let k = self.k();
        let (mut cur_min, mut num) = (64u8, 0u32);
        for v in &self.values {
            if *v > cur_min {
                continue;
            }
            if *v < cur_min {
                cur_min = *v;
                num = 1;
            } else {
                num += 1;
            }
        }
        let mut h = Regs::new(self.lg_k);
        let mut nibbles = vec![0u8; k / 2];
        let mut aux: Option<AuxMap> = None;
        for (slot, v) in self.values.iter().enumerate() {
            let v = *v;
            if v == 0 {
                continue;
            }
            h.hip_and_kxq(0, v);
            let nib = if v >= cur_min + 15 {
                aux.get_or_insert_with(|| AuxMap::new(self.lg_k)).add(slot as u32, v);
                AUX_TOKEN
            } else {
                v - cur_min
            };
            nibbles[slot / 2] |= if slot % 2 == 0 { nib } else { nib << 4 };
        }
        let mut out = vec![10, 1, 7, self.lg_k, 0, FLAG_COMPACT, cur_min, MODE_HLL];
        if self.ooo {
            out[5] |= FLAG_OUT_OF_ORDER;
        }
        out.extend_from_slice(&self.hip.to_le_bytes());
        out.extend_from_slice(&h.kxq0.to_le_bytes());
        out.extend_from_slice(&h.kxq1.to_le_bytes());
        out.extend_from_slice(&num.to_le_bytes());
        out.extend_from_slice(&(aux.as_ref().map_or(0, |a| a.count)).to_le_bytes());
        out.extend_from_slice(&nibbles);
        if let Some(a) = aux {
            out[4] = a.lg_arr;
            for pair in a.arr.iter().filter(|p| **p != 0) {
                out.extend_from_slice(&pair.to_le_bytes());
            }
        }
        out
    }
}

/// `HeapAuxHashMap`: HLL_4's exceptions (slots whose value is 15 or more above curMin).
struct AuxMap {
    lg_k: u8,
    lg_arr: u8,
    count: u32,
    arr: Vec<u32>,
}

impl AuxMap {
    fn new(lg_k: u8) -> AuxMap {
        let lg_arr = LG_AUX_ARR_INTS[lg_k as usize];
        AuxMap { lg_k, lg_arr, count: 0, arr: vec![0; 1 << lg_arr] }
    }

    fn empty_cell(arr: &[u32], lg_arr: u8, lg_k: u8, slot: u32) -> usize {
        let mask = arr.len() - 1;
        let k_mask = (1u32 << lg_k) - 1;
        let mut probe = slot as usize & mask;
        // The table is never full (it grows at 3/4) and a slot is added once.
        while arr[probe] != 0 && arr[probe] & k_mask != slot {
            probe = (probe + ((slot >> lg_arr) | 1) as usize) & mask;
        }
        probe
    }

    fn add(&mut self, slot: u32, value: u8) {
        let i = Self::empty_cell(&self.arr, self.lg_arr, self.lg_k, slot);
        self.arr[i] = (value as u32) << KEY_BITS | slot;
        self.count += 1;
        if 4 * self.count as usize > 3 * self.arr.len() {
            self.lg_arr += 1;
            let mut grown = vec![0; 1 << self.lg_arr];
            let k_mask = (1u32 << self.lg_k) - 1;
            for p in self.arr.iter().filter(|p| **p != 0) {
                let i = Self::empty_cell(&grown, self.lg_arr, self.lg_k, p & k_mask);
                grown[i] = *p;
            }
            self.arr = grown;
        }
    }
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn get(&self, at: usize, n: usize, what: &str) -> Result<&[u8], FormatError> {
        self.0.get(at..at + n).map_or_else(|| bad(format!("truncated at the {what} ({} bytes)", self.0.len())), Ok)
    }
    fn u32(&self, at: usize, what: &str) -> Result<u32, FormatError> {
        let b = self.get(at, 4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f64(&self, at: usize, what: &str) -> Result<f64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.get(at, 8, what)?);
        Ok(f64::from_le_bytes(a))
    }
}

/// `HllSketch.heapify`: a heap sketch of a serialised one (compact or updatable).
fn heapify(bytes: &[u8], check_rebuild: bool) -> Result<Impl, FormatError> {
    let b = Bytes(bytes);
    let pre = b.get(0, 8, "preamble")?;
    let (pre_ints, ser_ver, family, lg_k, lg_arr, flags, byte6, mode_byte) =
        (pre[0], pre[1], pre[2], pre[3], pre[4], pre[5], pre[6], pre[7]);
    if ser_ver != 1 || family != 7 {
        return bad(format!("serial version {ser_ver} and family {family}, not 1 and 7 (HLL)"));
    }
    if !(4..=21).contains(&lg_k) {
        return bad(format!("lgK {lg_k} outside 4..=21"));
    }
    let tgt = match (mode_byte >> 2) & 3 {
        0 => TgtType::Hll4,
        1 => TgtType::Hll6,
        2 => TgtType::Hll8,
        t => return bad(format!("target HLL type {t}")),
    };
    let compact = flags & FLAG_COMPACT != 0;
    let checked_coupon = |c: u32| if c >> KEY_BITS == 0 { bad("a coupon with value 0") } else { Ok(c) };
    match (mode_byte & 3, pre_ints) {
        (MODE_LIST, 2) => {
            let count = if flags & FLAG_EMPTY != 0 { 0 } else { byte6 as usize };
            let mut list = Coupons::new(lg_k, false);
            if count >= list.arr.len() {
                return bad(format!("a coupon list of {count} coupons"));
            }
            for i in 0..count {
                list.arr[i] = checked_coupon(b.u32(8 + 4 * i, "coupons")?)?;
            }
            list.count = count as u32;
            Ok(Impl::Coupons(list))
        }
        (MODE_SET, 3) => {
            if lg_k < 8 {
                return bad(format!("a coupon hash set with lgK {lg_k}"));
            }
            let count = b.u32(8, "coupon count")? as usize;
            if count > bytes.len() / 4 {
                return bad(format!("{count} coupons in {} bytes", bytes.len()));
            }
            if compact {
                let mut set = Coupons::new(lg_k, true);
                for i in 0..count {
                    if set.update(checked_coupon(b.u32(12 + 4 * i, "coupons")?)?)?.is_some() {
                        return bad(format!("{count} coupons: too many for a hash set of lgK {lg_k}"));
                    }
                }
                Ok(Impl::Coupons(set))
            } else {
                if !(LG_INIT_SET..=lg_k - 3).contains(&lg_arr) {
                    return bad(format!("hash set of 2^{lg_arr} cells for lgK {lg_k}"));
                }
                let arr: Vec<u32> =
                    (0..1usize << lg_arr).map(|i| b.u32(12 + 4 * i, "coupon table")).collect::<Result<_, _>>()?;
                if arr.iter().filter(|c| **c != 0).count() != count {
                    return bad("the coupon count disagrees with the table");
                }
                Ok(Impl::Coupons(Coupons { lg_k, set: true, lg_arr, count: count as u32, arr }))
            }
        }
        (MODE_HLL, 10) => {
            let k = 1usize << lg_k;
            let mut r = Regs::new(lg_k);
            r.tgt = tgt;
            r.put_ooo(flags & FLAG_OUT_OF_ORDER != 0);
            r.cur_min = byte6;
            r.hip = b.f64(8, "HIP accumulator")?;
            r.kxq0 = b.f64(16, "KxQ0")?;
            r.kxq1 = b.f64(24, "KxQ1")?;
            r.num_at_cur_min = b.u32(32, "count at curMin")?;
            r.rebuild = flags & FLAG_REBUILD != 0;
            match tgt {
                TgtType::Hll8 => {
                    for (v, x) in r.values.iter_mut().zip(b.get(HLL_START, k, "registers")?) {
                        *v = x & 0x3F;
                    }
                }
                TgtType::Hll6 => {
                    let arr = b.get(HLL_START, k * 3 / 4 + 1, "registers")?;
                    for (slot, v) in r.values.iter_mut().enumerate() {
                        let bit = slot * 6;
                        let two = u16::from_le_bytes([arr[bit / 8], arr[bit / 8 + 1]]);
                        *v = ((two >> (bit % 8)) & 0x3F) as u8;
                    }
                }
                TgtType::Hll4 => {
                    let nibbles = b.get(HLL_START, k / 2, "registers")?;
                    let aux_count = b.u32(36, "exception count")? as usize;
                    let aux_start = HLL_START + k / 2;
                    let aux_ints = if compact {
                        aux_count
                    } else if aux_count == 0 {
                        0
                    } else {
                        if lg_arr >= lg_k {
                            return bad(format!("an exception table of 2^{lg_arr} cells for lgK {lg_k}"));
                        }
                        1 << lg_arr
                    };
                    let mut exceptions = std::collections::HashMap::new();
                    for i in 0..aux_ints {
                        let pair = b.u32(aux_start + 4 * i, "exceptions")?;
                        if pair != 0 {
                            exceptions.insert(pair & (k as u32 - 1), (pair >> KEY_BITS) as u8);
                        }
                    }
                    for (slot, v) in r.values.iter_mut().enumerate() {
                        let nib = (nibbles[slot / 2] >> (4 * (slot % 2))) & 0xF;
                        *v = if nib == AUX_TOKEN {
                            match exceptions.get(&(slot as u32)) {
                                Some(x) => *x,
                                None => return bad(format!("slot {slot} is an exception missing from the table")),
                            }
                        } else {
                            nib.saturating_add(r.cur_min)
                        };
                    }
                }
            }
            if r.cur_min > 63 || r.values.iter().any(|v| *v > 63) {
                return bad("a register value above 63");
            }
            if check_rebuild && tgt == TgtType::Hll8 {
                r.check_rebuild();
            }
            Ok(Impl::Regs(r))
        }
        (mode, pre_ints) => bad(format!("mode {mode} with {pre_ints} preamble ints")),
    }
}

/// Java's `Union` on the heap, `lgMaxK` fixed at construction.
struct Union {
    lg_max_k: u8,
    gadget: Impl,
}

impl Union {
    fn new(lg_max_k: u8) -> Union {
        Union { lg_max_k, gadget: Impl::Coupons(Coupons::new(lg_max_k, false)) }
    }

    fn gadget_empty(&self) -> bool {
        matches!(&self.gadget, Impl::Coupons(c) if c.count == 0)
    }

    /// `HllSketch.couponUpdate` on the gadget, switching mode when it grows.
    fn coupon_update(imp: &mut Impl, coupon: u32) -> Result<(), FormatError> {
        if coupon >> KEY_BITS == 0 {
            return Ok(());
        }
        match imp {
            Impl::Coupons(c) => {
                if let Some(next) = c.update(coupon)? {
                    *imp = next;
                }
            }
            Impl::Regs(r) => r.coupon_update(coupon),
        }
        Ok(())
    }

    /// `Union.unionImpl` for heap sketches.
    fn update(&mut self, src: &Impl) -> Result<(), FormatError> {
        match src {
            Impl::Coupons(c) if c.count == 0 => {}
            Impl::Coupons(c) => {
                let lg_k = match &self.gadget {
                    Impl::Coupons(g) => g.lg_k,
                    Impl::Regs(g) => g.lg_k,
                };
                if c.set && self.gadget_empty() && c.lg_k == lg_k {
                    self.gadget = Impl::Coupons(c.clone());
                } else {
                    for coupon in c.coupons() {
                        Self::coupon_update(&mut self.gadget, coupon)?;
                    }
                }
            }
            Impl::Regs(s) => {
                let lg_max_k = self.lg_max_k;
                let take_src = || if s.lg_k > lg_max_k { s.downsample(lg_max_k) } else { s.copy_as_hll8() };
                if self.gadget_empty() {
                    self.gadget = Impl::Regs(take_src());
                    return Ok(());
                }
                match &mut self.gadget {
                    Impl::Coupons(g) => {
                        let mut merged = Impl::Regs(take_src());
                        for coupon in g.coupons() {
                            Self::coupon_update(&mut merged, coupon)?;
                        }
                        self.gadget = merged;
                    }
                    Impl::Regs(g) if s.lg_k >= g.lg_k => {
                        g.merge_registers(s);
                        g.put_ooo(true);
                    }
                    Impl::Regs(g) => {
                        let mut smaller = g.downsample(s.lg_k);
                        smaller.merge_registers(s);
                        smaller.put_ooo(true);
                        self.gadget = Impl::Regs(smaller);
                    }
                }
            }
        }
        Ok(())
    }

    /// `getResult(HLL_4).toCompactByteArray()`.
    fn result_hll4(mut self) -> Vec<u8> {
        match &mut self.gadget {
            Impl::Coupons(c) => {
                let (pre_ints, mode) = if c.set { (3, MODE_SET) } else { (2, MODE_LIST) };
                let mut flags = FLAG_COMPACT;
                if c.count == 0 {
                    flags |= FLAG_EMPTY;
                }
                let list_count = if c.set { 0 } else { c.count as u8 };
                let mut out = vec![pre_ints, 1, 7, c.lg_k, c.lg_arr, flags, list_count, mode];
                if c.set {
                    out.extend_from_slice(&c.count.to_le_bytes());
                }
                for coupon in c.coupons() {
                    out.extend_from_slice(&coupon.to_le_bytes());
                }
                out
            }
            Impl::Regs(r) => {
                r.check_rebuild();
                r.to_hll4_bytes()
            }
        }
    }
}

/// Paimon's `HllSketchUtil.union(acc, input)`. The error says which side was not a sketch
/// (`true`: the accumulator).
pub fn union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>, (bool, FormatError)> {
    let a = heapify(acc, true).map_err(|e| (true, e))?;
    let b = heapify(input, false).map_err(|e| (false, e))?;
    let lg_k = input[3];
    let mut u = Union::new(lg_k);
    u.update(&b).map_err(|e| (false, e))?;
    u.update(&a).map_err(|e| (true, e))?;
    Ok(u.result_hll4())
}

/// What a sketch holds, whatever its layout: its lgK and either its coupons (LIST and SET mode,
/// sorted) or its register values (HLL mode, by slot).
pub fn contents(bytes: &[u8]) -> Result<(u8, Vec<u32>), FormatError> {
    Ok(match heapify(bytes, false)? {
        Impl::Coupons(c) => {
            let mut coupons: Vec<u32> = c.coupons().collect();
            coupons.sort_unstable();
            (c.lg_k, coupons)
        }
        Impl::Regs(r) => (r.lg_k, r.values.iter().map(|v| *v as u32).collect()),
    })
}
