//! The serialised form of Java RoaringBitmap's `Roaring64Bitmap` (version 1.0.5, the one Paimon 0.9
//! bundles), the value of the `rbm64` aggregate function. Paimon's `RoaringBitmap64.serialize`
//! calls `runOptimize()` and then `Roaring64Bitmap.serialize(DataOutput)`; this is not the
//! portable 64-bit roaring format (`RoaringTreemap`) but a dump of the Java object: an adaptive
//! radix tree (ART) over the high 48 bits of each value, whose leaves point into a two-level
//! array of 16-bit roaring containers. `format-spec/merge-engines.md` describes the bytes.
//!
//! The bytes of a union depend on both inputs' layouts (Java's `or` appends new containers after
//! the accumulator's, inserts new keys into its tree, and picks container types by its own
//! rules), so [`union`] replays Java's steps on a model of the Java object ([`java`]) and gives
//! Java's bytes. [`Bitmap64`] is the set of values: [`Bitmap64::decode`] reads any layout Java
//! writes, [`Bitmap64::encode`] writes the layout of a fresh bitmap that was given the values in
//! ascending order (Java's `RoaringBitmap64.bitmapOf` of them, byte for byte).

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

mod java;
#[cfg(test)]
mod tests;

/// Paimon's `FieldRoaringBitmap64Agg.agg(acc, input)`: Java's `or` of the input into the
/// accumulator, replayed on a model of Java's object, so the bytes are Java's. The error says
/// which side was not a bitmap (`true`: the accumulator).
pub fn union(acc: &[u8], input: &[u8]) -> Result<Vec<u8>, (bool, FormatError)> {
    let mut a = java::JavaBitmap::decode(acc).map_err(|e| (true, e))?;
    let b = java::JavaBitmap::decode(input).map_err(|e| (false, e))?;
    a.or(&b);
    Ok(a.encode())
}

/// A corrupt or unsupported serialised bitmap: what was wrong, and where.
#[derive(Debug, thiserror::Error)]
#[error("not a serialised Roaring64Bitmap: {0}")]
pub struct FormatError(String);

fn bad<T>(message: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(message.into()))
}

const EMPTY_TAG: u8 = 0;
const NOT_EMPTY_TAG: u8 = 1;
const NODE4: u8 = 0;
const NODE16: u8 = 1;
const NODE48: u8 = 2;
const NODE256: u8 = 3;
const LEAF: u8 = 4;
const NOT_TRIMMED_MARK: u8 = 0xFE;
const NULL_MARK: u8 = 0;
const NOT_NULL_MARK: u8 = 1;
const RUN: u8 = 0;
const BITMAP: u8 = 1;
const ARRAY: u8 = 2;
/// Java's `ArrayContainer.DEFAULT_MAX_SIZE`: more values than this make a bitmap container.
const ARRAY_MAX: u64 = 4096;
/// The high 48 bits of a value, as the ART's 6-byte key.
const KEY_BYTES: usize = 6;

/// A set of 64-bit values (Java's longs, compared unsigned as Roaring64Bitmap does), grouped by
/// their high 48 bits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitmap64 {
    containers: BTreeMap<u64, RoaringBitmap>,
}

impl Bitmap64 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, v: u64) {
        self.containers.entry(v >> 16).or_default().insert((v & 0xFFFF) as u32);
    }

    pub fn len(&self) -> u64 {
        self.containers.values().map(|c| c.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.containers.values().all(|c| c.is_empty())
    }

    /// The values in ascending (unsigned) order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.containers.iter().flat_map(|(high, c)| c.iter().map(move |low| high << 16 | low as u64))
    }

    /// Adds every value of `other`.
    pub fn union_with(&mut self, other: &Bitmap64) {
        for (high, c) in &other.containers {
            *self.containers.entry(*high).or_default() |= c;
        }
    }

    /// Reads the bytes of Java's `Roaring64Bitmap.serialize(DataOutput)`.
    pub fn decode(bytes: &[u8]) -> Result<Bitmap64, FormatError> {
        Ok(Bitmap64 { containers: java::JavaBitmap::decode(bytes)?.values().into_iter().collect() })
    }

    /// The bytes Java writes for these values: a `Roaring64Bitmap` built by adding them in
    /// ascending order, after `runOptimize()`.
    pub fn encode(&self) -> Vec<u8> {
        let keys: Vec<(u64, &RoaringBitmap)> =
            self.containers.iter().filter(|(_, c)| !c.is_empty()).map(|(k, c)| (*k, c)).collect();
        if keys.is_empty() {
            return vec![EMPTY_TAG];
        }
        let mut out = vec![NOT_EMPTY_TAG];
        out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        let key_bytes: Vec<[u8; KEY_BYTES]> = keys.iter().map(|(k, _)| key_to_bytes(*k)).collect();
        write_tree(&mut out, &key_bytes, 0, 0);
        // One container array (Java starts a second only past 2^31 - 9 containers), grown from
        // length 1 by half its length at a time, as java.util.ArrayList grows.
        let n = keys.len();
        let mut capacity = 1usize;
        while capacity < n {
            capacity = (capacity + (capacity >> 1)).max(capacity + 1);
        }
        out.extend_from_slice(&1i32.to_le_bytes());
        out.push(NOT_TRIMMED_MARK);
        out.extend_from_slice(&(capacity as i32).to_le_bytes());
        for (_, c) in &keys {
            out.push(NOT_NULL_MARK);
            write_container(&mut out, c);
        }
        out.resize(out.len() + (capacity - n), NULL_MARK);
        out.extend_from_slice(&(n as u64).to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&((n - 1) as i32).to_le_bytes());
        out
    }
}

impl FromIterator<u64> for Bitmap64 {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut b = Bitmap64::new();
        for v in iter {
            b.insert(v);
        }
        b
    }
}

fn key_to_bytes(key: u64) -> [u8; KEY_BYTES] {
    let b = key.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn key_from_bytes(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, x| acc << 8 | *x as u64)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], FormatError> {
        if self.remaining() < n {
            return bad(format!("truncated: {n} bytes needed at offset {}, {} left", self.pos, self.remaining()));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, FormatError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(i32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn finish(&self) -> Result<(), FormatError> {
        if self.remaining() != 0 {
            return bad(format!("{} bytes after the end at offset {}", self.remaining(), self.pos));
        }
        Ok(())
    }
}

/// Writes the ART of ascending, distinct keys at `depth` as Java builds it by inserting them in
/// order: path-compressed (a node's prefix is what all its keys share below its parent), node
/// type the smallest that holds its children, Node48 slots in insertion (= key) order, container
/// indices in key order starting at `first_idx`.
fn write_tree(out: &mut Vec<u8>, keys: &[[u8; KEY_BYTES]], depth: usize, first_idx: u64) {
    if keys.len() == 1 {
        out.extend_from_slice(&[LEAF, 0, 0, 0]);
        out.extend_from_slice(&keys[0]);
        out.extend_from_slice(&first_idx.to_le_bytes());
        return;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let common = (depth..KEY_BYTES).take_while(|&i| first[i] == last[i]).count();
    let branch = depth + common;
    // The children: runs of keys sharing the byte at `branch`.
    let mut groups: Vec<(u8, &[[u8; KEY_BYTES]])> = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i][branch] != keys[start][branch] {
            groups.push((keys[start][branch], &keys[start..i]));
            start = i;
        }
    }
    let n = groups.len();
    let kind = match n {
        0..=4 => NODE4,
        5..=16 => NODE16,
        17..=48 => NODE48,
        _ => NODE256,
    };
    out.push(kind);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.push(common as u8);
    out.extend_from_slice(&first[depth..branch]);
    match kind {
        NODE4 | NODE16 => {
            // Key bytes packed big-endian into an int (Node4) or two longs (Node16), each
            // written little-endian.
            let width = if kind == NODE4 { 4 } else { 16 };
            let mut packed = vec![0u8; width];
            for (i, (b, _)) in groups.iter().enumerate() {
                packed[i] = *b;
            }
            for chunk in packed.chunks(if kind == NODE4 { 4 } else { 8 }) {
                out.extend(chunk.iter().rev());
            }
        }
        NODE48 => {
            // Slot of each key byte (0xff: none), eight to a big-endian long, written
            // little-endian.
            let mut index = [0xFFu8; 256];
            for (slot, (b, _)) in groups.iter().enumerate() {
                index[*b as usize] = slot as u8;
            }
            for chunk in index.chunks(8) {
                out.extend(chunk.iter().rev());
            }
        }
        _ => {
            let mut mask = [0u8; 32];
            for (b, _) in &groups {
                mask[*b as usize / 8] |= 1 << (b % 8);
            }
            out.extend_from_slice(&mask);
        }
    }
    let mut idx = first_idx;
    for (_, g) in groups {
        write_tree(out, g, branch + 1, idx);
        idx += g.len() as u64;
    }
}

/// A container as Java holds it after adding its values in order (an array up to 4096 values,
/// else a bitmap) and `runOptimize()` (runs when strictly smaller than that).
fn write_container(out: &mut Vec<u8>, c: &RoaringBitmap) {
    let card = c.len();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for v in c.iter() {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    let as_run = 2 + 4 * runs.len() as u64;
    let as_other = if card <= ARRAY_MAX { 2 * card } else { 8192 };
    let kind = if as_other > as_run {
        RUN
    } else if card <= ARRAY_MAX {
        ARRAY
    } else {
        BITMAP
    };
    out.push(kind);
    out.extend_from_slice(&(card as i32).to_le_bytes());
    match kind {
        RUN => {
            out.extend_from_slice(&(runs.len() as u16).to_le_bytes());
            for (s, e) in runs {
                out.extend_from_slice(&(s as u16).to_le_bytes());
                out.extend_from_slice(&((e - s) as u16).to_le_bytes());
            }
        }
        ARRAY => {
            for v in c.iter() {
                out.extend_from_slice(&(v as u16).to_le_bytes());
            }
        }
        _ => {
            let mut words = [0u64; 1024];
            for v in c.iter() {
                words[v as usize / 64] |= 1 << (v % 64);
            }
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
}
