//! Java's `Roaring64Bitmap` as an object, not just a set of values: the ART with each node's type,
//! key positions, Node48 slots and prefixes as serialised, and the container arrays with their
//! capacities, empty cells and fill indices. Paimon's `rbm64` aggregation deserialises the
//! accumulator, runs `or(input)`, `runOptimize()` and `serialize`: replaying those steps on this
//! model gives Java's bytes exactly, whatever layout the inputs had (see
//! `format-spec/merge-engines.md`).

use roaring::RoaringBitmap;

use super::{bad, FormatError, Reader, KEY_BYTES, LEAF, NODE16, NODE256, NODE4, NODE48};
use super::{ARRAY, BITMAP, EMPTY_TAG, NOT_EMPTY_TAG, NOT_NULL_MARK, NOT_TRIMMED_MARK, NULL_MARK, RUN};

/// Java's `Containers.MAX_JVM_ARRAY_OFFSET`: where a container array is full and a new one starts.
const MAX_ARRAY_OFFSET: i64 = i32::MAX as i64 - 9;
const MAX_DEPTH: usize = KEY_BYTES + 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Array,
    Bitmap,
    Run,
}

/// A 16-bit container: its type, its values, and for a run container the runs as stored (Java
/// writes a run container's runs back as they are).
#[derive(Clone, Debug)]
struct Container {
    kind: Kind,
    values: RoaringBitmap,
    runs: Option<Vec<(u16, u16)>>,
}

fn runs_of(values: &RoaringBitmap) -> Vec<(u16, u16)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for v in values.iter() {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    runs.into_iter().map(|(s, e)| (s as u16, (e - s) as u16)).collect()
}

impl Container {
    fn new(kind: Kind, values: RoaringBitmap) -> Container {
        Container { kind, values, runs: None }
    }

    fn card(&self) -> u64 {
        self.values.len()
    }

    fn is_full(&self) -> bool {
        self.card() == 65536
    }

    fn full_run() -> Container {
        let mut values = RoaringBitmap::new();
        values.insert_range(0..65536);
        Container::new(Kind::Run, values)
    }

    /// `RunContainer.toEfficientContainer`: runs unless an array or a bitmap is smaller.
    fn efficient(values: RoaringBitmap) -> Container {
        let run_size = 2 + 4 * runs_of(&values).len() as u64;
        let card = values.len();
        if run_size <= (2 * card + 2).min(8192) {
            Container::new(Kind::Run, values)
        } else if card <= 4096 {
            Container::new(Kind::Array, values)
        } else {
            Container::new(Kind::Bitmap, values)
        }
    }

    /// `Container.ior(other)` with the container type Java's RoaringBitmap 1.0.5 gives the result.
    fn ior(self, other: &Container) -> Container {
        use Kind::*;
        if self.kind == Run && self.is_full() {
            return self;
        }
        let union = &self.values | &other.values;
        let full = union.len() == 65536;
        match (self.kind, other.kind) {
            (Array, Array) => {
                if self.card() + other.card() > 4096 {
                    // Through a bitmap, repaired afterwards.
                    if union.len() <= 4096 {
                        Container::new(Array, union)
                    } else if full {
                        Container::full_run()
                    } else {
                        Container::new(Bitmap, union)
                    }
                } else {
                    Container::new(Array, union)
                }
            }
            (Array, Bitmap) | (Bitmap, Bitmap) | (Bitmap, Run) | (Run, Bitmap) if full => Container::full_run(),
            (Array, Bitmap) | (Bitmap, Bitmap) | (Bitmap, Run) | (Run, Bitmap) | (Bitmap, Array) => {
                Container::new(Bitmap, union)
            }
            (Array, Run) | (Run, Array) => Container::efficient(union),
            (Run, Run) => {
                if 2 + 4 * runs_of(&union).len() as u64 >= 8192 {
                    Container::new(Bitmap, union)
                } else {
                    Container::new(Run, union)
                }
            }
        }
    }

    /// `runOptimize()` as `Roaring64Bitmap` applies it: arrays and bitmaps become run containers
    /// when strictly smaller; run containers stay.
    fn run_optimize(&mut self) {
        let size = match self.kind {
            Kind::Run => return,
            Kind::Array => 2 * self.card(),
            Kind::Bitmap => 8192,
        };
        if size > 2 + 4 * runs_of(&self.values).len() as u64 {
            self.kind = Kind::Run;
            self.runs = None;
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            Kind::Run => RUN,
            Kind::Bitmap => BITMAP,
            Kind::Array => ARRAY,
        });
        out.extend_from_slice(&(self.card() as i32).to_le_bytes());
        match self.kind {
            Kind::Run => {
                let runs = self.runs.clone().unwrap_or_else(|| runs_of(&self.values));
                out.extend_from_slice(&(runs.len() as u16).to_le_bytes());
                for (s, l) in runs {
                    out.extend_from_slice(&s.to_le_bytes());
                    out.extend_from_slice(&l.to_le_bytes());
                }
            }
            Kind::Array => {
                for v in self.values.iter() {
                    out.extend_from_slice(&(v as u16).to_le_bytes());
                }
            }
            Kind::Bitmap => {
                let mut words = vec![0u64; 1024];
                for v in self.values.iter() {
                    words[v as usize / 64] |= 1 << (v % 64);
                }
                for w in words {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
    }

    /// A container as `Containers.deserialize` reads it (type, cardinality, body).
    fn read(r: &mut Reader) -> Result<Container, FormatError> {
        let kind = r.u8()?;
        let card = r.i32()?;
        if !(0..=65536).contains(&card) {
            return bad(format!("container cardinality {card}"));
        }
        let mut values = RoaringBitmap::new();
        let c = match kind {
            RUN => {
                let n = r.u16()?;
                let mut runs = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let (start, len) = (r.u16()?, r.u16()?);
                    if start as u32 + len as u32 > 0xFFFF {
                        return bad(format!("run {start}+{len} passes 65535"));
                    }
                    values.insert_range(start as u32..=start as u32 + len as u32);
                    runs.push((start, len));
                }
                Container { kind: Kind::Run, values, runs: Some(runs) }
            }
            BITMAP => {
                for (w, chunk) in r.take(8192)?.chunks_exact(8).enumerate() {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(chunk);
                    let mut word = u64::from_le_bytes(a);
                    while word != 0 {
                        values.insert(w as u32 * 64 + word.trailing_zeros());
                        word &= word - 1;
                    }
                }
                Container::new(Kind::Bitmap, values)
            }
            ARRAY => {
                let mut prev = None;
                for _ in 0..card {
                    let v = r.u16()?;
                    if prev.is_some_and(|p| p >= v) {
                        return bad("array container values not strictly ascending");
                    }
                    prev = Some(v);
                    values.insert(v as u32);
                }
                Container::new(Kind::Array, values)
            }
            k => return bad(format!("unknown container type {k}")),
        };
        if c.card() != card as u64 {
            return bad(format!("container announces {card} values but holds {}", c.card()));
        }
        Ok(c)
    }
}

/// An ART node as Java holds it.
#[derive(Clone, Debug)]
enum Node {
    Leaf {
        prefix: Vec<u8>,
        key: [u8; KEY_BYTES],
        idx: u64,
    },
    /// Node4 and Node16: key bytes by position (the first `children.len()` are the children's,
    /// sorted), children in position order.
    Small {
        wide: bool,
        prefix: Vec<u8>,
        keys: [u8; 16],
        children: Vec<Node>,
    },
    /// Node48: the slot of each key byte (0xff: none) and the slots.
    N48 {
        prefix: Vec<u8>,
        index: Box<[u8; 256]>,
        slots: Vec<Option<Node>>,
        count: usize,
    },
    N256 {
        prefix: Vec<u8>,
        children: Vec<Option<Node>>,
        count: usize,
    },
}

impl Node {
    fn prefix(&self) -> &[u8] {
        match self {
            Node::Leaf { prefix, .. }
            | Node::Small { prefix, .. }
            | Node::N48 { prefix, .. }
            | Node::N256 { prefix, .. } => prefix,
        }
    }

    fn prefix_mut(&mut self) -> &mut Vec<u8> {
        match self {
            Node::Leaf { prefix, .. }
            | Node::Small { prefix, .. }
            | Node::N48 { prefix, .. }
            | Node::N256 { prefix, .. } => prefix,
        }
    }

    fn read(r: &mut Reader, depth: usize) -> Result<Node, FormatError> {
        if depth > MAX_DEPTH {
            return bad("the tree nests deeper than a 6-byte key allows");
        }
        let kind = r.u8()?;
        let count = r.u16()? as usize;
        let prefix_len = r.u8()? as usize;
        let prefix = r.take(prefix_len)?.to_vec();
        let max = match kind {
            LEAF => {
                let mut key = [0u8; KEY_BYTES];
                key.copy_from_slice(r.take(KEY_BYTES)?);
                let idx = r.u64()?;
                return Ok(Node::Leaf { prefix, key, idx });
            }
            NODE4 => 4,
            NODE16 => 16,
            NODE48 => 48,
            NODE256 => 256,
            k => return bad(format!("unknown tree node type {k}")),
        };
        if count == 0 || count > max {
            return bad(format!("a node of type {kind} with {count} children"));
        }
        match kind {
            NODE4 | NODE16 => {
                let wide = kind == NODE16;
                let mut keys = [0u8; 16];
                let body = r.take(if wide { 16 } else { 4 })?;
                for (chunk_at, chunk) in body.chunks(if wide { 8 } else { 4 }).enumerate() {
                    let base = chunk_at * 8;
                    for (i, b) in chunk.iter().rev().enumerate() {
                        keys[base + i] = *b;
                    }
                }
                let children = (0..count).map(|_| Node::read(r, depth + 1)).collect::<Result<_, _>>()?;
                Ok(Node::Small { wide, prefix, keys, children })
            }
            NODE48 => {
                let body = r.take(256)?.to_vec();
                let mut index = Box::new([0xFFu8; 256]);
                for (g, chunk) in body.chunks(8).enumerate() {
                    for (j, b) in chunk.iter().rev().enumerate() {
                        index[g * 8 + j] = *b;
                    }
                }
                let mut slots: Vec<Option<Node>> = vec![None; 48];
                let used: Vec<u8> = index.iter().copied().filter(|s| *s != 0xFF).collect();
                if used.len() != count {
                    return bad(format!("a Node48 of {count} children indexes {}", used.len()));
                }
                for slot in used {
                    let cell = slots
                        .get_mut(slot as usize)
                        .ok_or_else(|| super::FormatError(format!("Node48 slot {slot}")))?;
                    if cell.is_some() {
                        return bad(format!("Node48 slot {slot} used twice"));
                    }
                    *cell = Some(Node::read(r, depth + 1)?);
                }
                Ok(Node::N48 { prefix, index, slots, count })
            }
            _ => {
                let body = r.take(32)?.to_vec();
                let mut children: Vec<Option<Node>> = vec![None; 256];
                let mut n = 0;
                for b in 0..256 {
                    if body[b / 8] & (1 << (b % 8)) != 0 {
                        n += 1;
                        if n > count {
                            return bad(format!("a Node256 of {count} children has more bits set"));
                        }
                        children[b] = Some(Node::read(r, depth + 1)?);
                    }
                }
                if n != count {
                    return bad(format!("a Node256 of {count} children has {n} bits set"));
                }
                Ok(Node::N256 { prefix, children, count })
            }
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let (kind, count) = match self {
            Node::Leaf { .. } => (LEAF, 0),
            Node::Small { wide, children, .. } => (if *wide { NODE16 } else { NODE4 }, children.len()),
            Node::N48 { count, .. } => (NODE48, *count),
            Node::N256 { count, .. } => (NODE256, *count),
        };
        out.push(kind);
        out.extend_from_slice(&(count as u16).to_le_bytes());
        out.push(self.prefix().len() as u8);
        out.extend_from_slice(self.prefix());
        match self {
            Node::Leaf { key, idx, .. } => {
                out.extend_from_slice(key);
                out.extend_from_slice(&idx.to_le_bytes());
            }
            Node::Small { wide, keys, children, .. } => {
                for chunk in keys[..if *wide { 16 } else { 4 }].chunks(if *wide { 8 } else { 4 }) {
                    out.extend(chunk.iter().rev());
                }
                for c in children {
                    c.write(out);
                }
            }
            Node::N48 { index, slots, .. } => {
                for chunk in index.chunks(8) {
                    out.extend(chunk.iter().rev());
                }
                for slot in index.iter().filter(|s| **s != 0xFF) {
                    if let Some(c) = &slots[*slot as usize] {
                        c.write(out);
                    }
                }
            }
            Node::N256 { children, .. } => {
                let mut mask = [0u8; 32];
                for (b, c) in children.iter().enumerate() {
                    if c.is_some() {
                        mask[b / 8] |= 1 << (b % 8);
                    }
                }
                out.extend_from_slice(&mask);
                for c in children.iter().flatten() {
                    c.write(out);
                }
            }
        }
    }

    /// Whether each leaf's key is the path to it (prefixes and branch bytes), within 6 bytes: what
    /// searching and inserting rely on.
    fn check_paths(&self, depth: usize, path: &mut Vec<u8>) -> Result<(), FormatError> {
        if let Node::Leaf { key, .. } = self {
            return if depth <= KEY_BYTES && key[..depth] == path[..depth] {
                Ok(())
            } else {
                bad("a leaf off its path")
            };
        }
        let below = depth + self.prefix().len();
        if below >= KEY_BYTES {
            return bad("node prefixes longer than the key");
        }
        let before = path.len();
        path.extend_from_slice(self.prefix());
        for b in 0..=255u8 {
            if let Some(c) = self.child(b) {
                path.push(b);
                c.check_paths(below + 1, path)?;
                path.pop();
            }
        }
        path.truncate(before);
        Ok(())
    }

    /// The leaves' keys and container indices, in key order.
    fn leaves(&self, out: &mut Vec<([u8; KEY_BYTES], u64)>) {
        match self {
            Node::Leaf { key, idx, .. } => out.push((*key, *idx)),
            Node::Small { children, .. } => children.iter().for_each(|c| c.leaves(out)),
            Node::N48 { index, slots, .. } => {
                for slot in index.iter().filter(|s| **s != 0xFF) {
                    if let Some(c) = &slots[*slot as usize] {
                        c.leaves(out);
                    }
                }
            }
            Node::N256 { children, .. } => children.iter().flatten().for_each(|c| c.leaves(out)),
        }
    }

    fn child_mut(&mut self, b: u8) -> Option<&mut Node> {
        match self {
            Node::Leaf { .. } => None,
            Node::Small { keys, children, .. } => {
                let n = children.len();
                keys[..n].iter().position(|k| *k == b).map(move |i| &mut children[i])
            }
            Node::N48 { index, slots, .. } => match index[b as usize] {
                0xFF => None,
                s => slots[s as usize].as_mut(),
            },
            Node::N256 { children, .. } => children[b as usize].as_mut(),
        }
    }

    fn child(&self, b: u8) -> Option<&Node> {
        match self {
            Node::Leaf { .. } => None,
            Node::Small { keys, children, .. } => {
                keys[..children.len()].iter().position(|k| *k == b).map(|i| &children[i])
            }
            Node::N48 { index, slots, .. } => match index[b as usize] {
                0xFF => None,
                s => slots[s as usize].as_ref(),
            },
            Node::N256 { children, .. } => children[b as usize].as_ref(),
        }
    }

    /// `Art.findByKey`.
    fn find(&self, key: &[u8; KEY_BYTES], mut depth: usize) -> Option<u64> {
        let mut node = self;
        loop {
            if let Node::Leaf { key: k, idx, .. } = node {
                return (depth >= KEY_BYTES || k[depth..] == key[depth..]).then_some(*idx);
            }
            let prefix = node.prefix();
            if !prefix.is_empty() {
                if depth + prefix.len() > KEY_BYTES || key[depth..depth + prefix.len()] != *prefix {
                    return None;
                }
                depth += prefix.len();
            }
            if depth >= KEY_BYTES {
                return None;
            }
            node = node.child(key[depth])?;
            depth += 1;
        }
    }

    /// `Node.insertLeaf` (Node4/16/48/256 `insert`), growing the node when it is full.
    fn insert_child(self, child: Node, b: u8) -> Node {
        match self {
            Node::Small { wide, prefix, mut keys, mut children } => {
                let limit = if wide { 16 } else { 4 };
                if children.len() < limit {
                    // Java's insertion sort of the key positions, children moving along: a stable
                    // sort by unsigned key byte.
                    let n = children.len();
                    keys[n] = b;
                    children.push(child);
                    let mut pairs: Vec<(u8, Node)> = keys[..=n].iter().copied().zip(children).collect();
                    pairs.sort_by_key(|(k, _)| *k);
                    let mut children = Vec::with_capacity(n + 1);
                    for (i, (k, c)) in pairs.into_iter().enumerate() {
                        keys[i] = k;
                        children.push(c);
                    }
                    return Node::Small { wide, prefix, keys, children };
                }
                if !wide {
                    let mut k16 = [0u8; 16];
                    k16[..4].copy_from_slice(&keys[..4]);
                    return Node::Small { wide: true, prefix, keys: k16, children }.insert_child(child, b);
                }
                let mut index = Box::new([0xFFu8; 256]);
                let mut slots: Vec<Option<Node>> = vec![None; 48];
                let count = children.len();
                for (i, c) in children.into_iter().enumerate() {
                    index[keys[i] as usize] = i as u8;
                    slots[i] = Some(c);
                }
                Node::N48 { prefix, index, slots, count }.insert_child(child, b)
            }
            Node::N48 { prefix, mut index, mut slots, count } => {
                if count < 48 {
                    let pos = if slots[count].is_none() {
                        count
                    } else {
                        slots.iter().position(|s| s.is_none()).unwrap_or(count)
                    };
                    slots[pos] = Some(child);
                    index[b as usize] = pos as u8;
                    return Node::N48 { prefix, index, slots, count: count + 1 };
                }
                let mut children: Vec<Option<Node>> = vec![None; 256];
                for k in 0..256 {
                    if index[k] != 0xFF {
                        children[k] = slots[index[k] as usize].take();
                    }
                }
                Node::N256 { prefix, children, count }.insert_child(child, b)
            }
            Node::N256 { prefix, mut children, count } => {
                children[b as usize] = Some(child);
                Node::N256 { prefix, children, count: count + 1 }
            }
            leaf @ Node::Leaf { .. } => leaf,
        }
    }
}

fn new_node4(prefix: Vec<u8>) -> Node {
    Node::Small { wide: false, prefix, keys: [0; 16], children: Vec::new() }
}

/// `Art.insert(node, key, depth, containerIdx)` for a key not in the tree.
fn insert(node: Option<Node>, key: &[u8; KEY_BYTES], depth: usize, idx: u64) -> Node {
    let leaf = || Node::Leaf { prefix: Vec::new(), key: *key, idx };
    let Some(mut node) = node else { return leaf() };
    if let Node::Leaf { key: k, .. } = &node {
        let k = *k;
        let common = (depth..KEY_BYTES).take_while(|&i| k[i] == key[i]).count();
        let at = (depth + common).min(KEY_BYTES - 1);
        node.prefix_mut().clear();
        let n4 = new_node4(key[depth..depth + common].to_vec());
        return n4.insert_child(node, k[at]).insert_child(leaf(), key[at]);
    }
    let mut depth = depth;
    let prefix_len = node.prefix().len();
    if prefix_len > 0 {
        let mismatch =
            (0..prefix_len).take_while(|&i| depth + i < KEY_BYTES && node.prefix()[i] == key[depth + i]).count();
        if mismatch != prefix_len {
            let old = node.prefix().to_vec();
            let n4 = new_node4(old[..mismatch].to_vec());
            *node.prefix_mut() = old[mismatch + 1..].to_vec();
            return n4
                .insert_child(node, old[mismatch])
                .insert_child(leaf(), key[(mismatch + depth).min(KEY_BYTES - 1)]);
        }
        depth += prefix_len;
    }
    let b = key[depth.min(KEY_BYTES - 1)];
    if let Some(child) = node.child_mut(b) {
        let taken = std::mem::replace(child, new_node4(Vec::new()));
        *child = insert(Some(taken), key, depth + 1, idx);
        return node;
    }
    node.insert_child(leaf(), b)
}

/// Java's `Containers`: container arrays with their lengths (capacities), empty cells, and where
/// the next container goes.
#[derive(Clone, Debug)]
struct Containers {
    arrays: Vec<Vec<Option<Container>>>,
    size: u64,
    first: i32,
    second: i32,
}

impl Containers {
    fn new() -> Containers {
        Containers { arrays: Vec::new(), size: 0, first: -1, second: 0 }
    }

    fn get(&self, idx: u64) -> Option<&Container> {
        self.arrays.get((idx >> 32) as usize)?.get((idx & 0xFFFF_FFFF) as usize)?.as_ref()
    }

    fn get_mut(&mut self, idx: u64) -> Option<&mut Container> {
        self.arrays.get_mut((idx >> 32) as usize)?.get_mut((idx & 0xFFFF_FFFF) as usize)?.as_mut()
    }

    /// `Containers.addContainer`: the index of the added container.
    fn add(&mut self, c: Container) -> u64 {
        if self.second as i64 + 1 == MAX_ARRAY_OFFSET || self.first == -1 {
            self.arrays.push(vec![None]);
            self.first += 1;
            self.second = 0;
        } else {
            self.second += 1;
        }
        let arr = &mut self.arrays[self.first as usize];
        let min = self.second as usize + 1;
        if arr.len() < min {
            let grown = (arr.len() + (arr.len() >> 1)).max(min);
            arr.resize(grown, None);
        }
        arr[self.second as usize] = Some(c);
        self.size += 1;
        (self.first as u64) << 32 | self.second as u64
    }
}

/// A `Roaring64Bitmap` object.
#[derive(Clone, Debug)]
pub(super) struct JavaBitmap {
    key_size: u64,
    root: Option<Node>,
    containers: Containers,
}

impl JavaBitmap {
    /// `Roaring64Bitmap.deserialize(DataInput)`.
    pub(super) fn decode(bytes: &[u8]) -> Result<JavaBitmap, FormatError> {
        let mut r = Reader { bytes, pos: 0 };
        match r.u8()? {
            EMPTY_TAG => {
                r.finish()?;
                return Ok(JavaBitmap { key_size: 0, root: None, containers: Containers::new() });
            }
            NOT_EMPTY_TAG => {}
            t => return bad(format!("first byte is {t}, neither 0 (empty) nor 1 (not empty)")),
        }
        let key_size = r.u64()?;
        let root = Node::read(&mut r, 0)?;
        let first_level = r.i32()?;
        if first_level < 0 || first_level as usize > r.remaining() {
            return bad(format!("container array count {first_level} is impossible"));
        }
        let mut arrays = Vec::new();
        for i in 0..first_level {
            let trim = r.u8()?;
            if trim != NOT_TRIMMED_MARK {
                return bad(format!("container array {i} has trim mark {trim:#x}, not 0xfe"));
            }
            let len = r.i32()?;
            if len < 0 || len as usize > r.remaining() {
                return bad(format!("container array {i} has impossible length {len}"));
            }
            let mut arr = Vec::with_capacity(len as usize);
            for j in 0..len {
                arr.push(match r.u8()? {
                    NULL_MARK => None,
                    NOT_NULL_MARK => Some(Container::read(&mut r)?),
                    m => return bad(format!("container slot {i}/{j} has mark {m}, neither 0 nor 1")),
                });
            }
            arrays.push(arr);
        }
        let size = r.u64()?;
        let first = r.i32()?;
        let second = r.i32()?;
        r.finish()?;
        let present = arrays.iter().flatten().filter(|c| c.is_some()).count() as u64;
        if size != present {
            return bad(format!("{size} containers announced, {present} present"));
        }
        if first < 0 || first as usize >= arrays.len() || second < 0 || second as usize >= arrays[first as usize].len()
        {
            return bad(format!("next container position {first}/{second} outside the arrays"));
        }
        let b = JavaBitmap { key_size, root: Some(root), containers: Containers { arrays, size, first, second } };
        let mut leaves = Vec::new();
        if let Some(root) = &b.root {
            root.leaves(&mut leaves);
        }
        if leaves.len() as u64 != key_size {
            return bad(format!("the tree says it has {key_size} keys but holds {} leaves", leaves.len()));
        }
        if leaves.windows(2).any(|w| w[0].0 >= w[1].0) {
            return bad("tree keys out of order");
        }
        if let Some(root) = &b.root {
            root.check_paths(0, &mut Vec::new())?;
        }
        for (key, idx) in leaves {
            if b.containers.get(idx).is_none() {
                return bad(format!("key {key:02x?} points at container {idx:#x}, which is absent"));
            }
        }
        Ok(b)
    }

    /// `Roaring64Bitmap.or(other)`.
    pub(super) fn or(&mut self, other: &JavaBitmap) {
        let mut leaves = Vec::new();
        if let Some(root) = &other.root {
            root.leaves(&mut leaves);
        }
        for (key, idx) in leaves {
            let Some(theirs) = other.containers.get(idx).cloned() else { continue };
            match self.root.as_ref().and_then(|r| r.find(&key, 0)) {
                Some(mine) => {
                    if let Some(c) = self.containers.get_mut(mine) {
                        *c = c.clone().ior(&theirs);
                    }
                }
                None => {
                    let idx = self.containers.add(theirs);
                    self.root = Some(insert(self.root.take(), &key, 0, idx));
                    self.key_size += 1;
                }
            }
        }
    }

    /// `runOptimize()` then `serialize(DataOutput)`.
    /// The values, in ascending order of their high 48 bits.
    pub(super) fn values(&self) -> Vec<(u64, RoaringBitmap)> {
        let mut leaves = Vec::new();
        if let Some(root) = &self.root {
            root.leaves(&mut leaves);
        }
        leaves
            .into_iter()
            .filter_map(|(key, idx)| Some((super::key_from_bytes(&key), self.containers.get(idx)?.values.clone())))
            .collect()
    }

    pub(super) fn encode(mut self) -> Vec<u8> {
        let Some(root) = &self.root else { return vec![EMPTY_TAG] };
        let mut out = vec![NOT_EMPTY_TAG];
        out.extend_from_slice(&self.key_size.to_le_bytes());
        root.write(&mut out);
        out.extend_from_slice(&(self.containers.arrays.len() as i32).to_le_bytes());
        for arr in &mut self.containers.arrays {
            out.push(NOT_TRIMMED_MARK);
            out.extend_from_slice(&(arr.len() as i32).to_le_bytes());
            for cell in arr.iter_mut() {
                match cell {
                    None => out.push(NULL_MARK),
                    Some(c) => {
                        c.run_optimize();
                        out.push(NOT_NULL_MARK);
                        c.write(&mut out);
                    }
                }
            }
        }
        out.extend_from_slice(&self.containers.size.to_le_bytes());
        out.extend_from_slice(&self.containers.first.to_le_bytes());
        out.extend_from_slice(&self.containers.second.to_le_bytes());
        out
    }
}
