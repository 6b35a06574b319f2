//! The k-way merge's moving parts: a cursor per sorted run (one decoded batch at a time), the
//! batches its rows are picked from, and the binary heap ordering cursors by (key, sequence
//! number).

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::ScalarBuffer;
use arrow_schema::SchemaRef;

use super::file::FileReading;
use super::{interleave_rows, spill, BatchKeys, SplitReader};
use crate::error::{Error, Result};
use crate::merge::keys::SortKeys;
use crate::read::scan::DataSplit;
use crate::spec::{DataFileMeta, RowKind};

/// Keys, sequence numbers and row kinds of one batch.
pub(super) type KvColumns = Arc<(SortKeys, ScalarBuffer<i64>, ScalarBuffer<i8>)>;

/// Value batches referenced by cursors or pending output rows, by id.
#[derive(Default)]
pub(super) struct BatchStore {
    pub(super) next_id: usize,
    pub(super) values: HashMap<usize, RecordBatch>,
}

impl BatchStore {
    /// An id for a batch added later with `values.insert`.
    pub(super) fn reserve(&mut self) -> usize {
        self.next_id += 1;
        self.next_id - 1
    }

    pub(super) fn add(&mut self, values: RecordBatch) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.values.insert(id, values);
        id
    }

    pub(super) fn build(&self, rows: &[(usize, usize)], schema: &SchemaRef) -> Result<RecordBatch> {
        let mut ids: Vec<usize> = rows.iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let pos: HashMap<usize, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let indices: Vec<(usize, usize)> = rows.iter().map(|(b, r)| (pos[b], *r)).collect();
        let batches: Vec<&RecordBatch> = ids.iter().map(|id| &self.values[id]).collect();
        interleave_rows(&batches, &indices, schema)
    }

    /// Keeps only the batches cursors still stand in (call with no pending output).
    pub(super) fn retain(&mut self, cursors: &[RunCursor]) {
        let live: std::collections::HashSet<usize> =
            cursors.iter().filter_map(|c| c.current.as_ref().map(|p| p.batch_id)).collect();
        self.values.retain(|id, _| live.contains(id));
    }
}

pub(super) struct Position {
    pub(super) batch_id: usize,
    pub(super) row: usize,
    pub(super) len: usize,
    pub(super) kv: KvColumns,
    /// The current key when keys are integers, and the current sequence number: cached so the
    /// heap compares plain integers.
    pub(super) int_key: Option<i64>,
    pub(super) seq: i64,
}

impl Position {
    pub(super) fn refresh(&mut self) {
        self.seq = self.kv.1[self.row];
        self.int_key = match &self.kv.0 {
            SortKeys::I64(v) => Some(v[self.row]),
            SortKeys::I32(v) => Some(v[self.row] as i64),
            SortKeys::Rows(_) => None,
        };
    }
}

/// A cursor over one sorted run: its remaining files, the file being read (one decoded batch
/// at a time), and the position in the current batch.
pub(super) struct RunCursor {
    pub(super) files: VecDeque<DataFileMeta>,
    pub(super) reading: Option<RunReading>,
    pub(super) current: Option<Position>,
    /// A run spilled by a merge: it holds every version of its keys, so a key can repeat.
    pub(super) repeats: bool,
}

/// What a run cursor reads: a data file, or a run spilled to local disk.
pub(super) enum RunReading {
    File(Box<FileReading>),
    Spilled(Box<spill::SpilledReading>),
}

impl RunReading {
    pub(super) fn next(&mut self) -> Result<Option<(RecordBatch, Option<BatchKeys>)>> {
        match self {
            RunReading::File(f) => f.next(),
            RunReading::Spilled(s) => s.next().map(|b| b.map(|(values, kv)| (values, Some(kv)))),
        }
    }

    pub(super) fn path(&self) -> &str {
        match self {
            RunReading::File(f) => &f.path,
            RunReading::Spilled(s) => s.path(),
        }
    }
}

/// A key at a cursor's position, kept while the cursor moves on.
pub(super) struct KeyAt {
    pub(super) kv: KvColumns,
    pub(super) row: usize,
    pub(super) int_key: Option<i64>,
}

impl RunCursor {
    pub(super) fn of_files(files: Vec<DataFileMeta>) -> RunCursor {
        RunCursor { files: files.into(), reading: None, current: None, repeats: false }
    }

    /// Bytes of the run, to spill the smallest runs first.
    pub(super) fn size(&self) -> u64 {
        let spilled = match &self.reading {
            Some(RunReading::Spilled(s)) => s.size(),
            _ => 0,
        };
        spilled + self.files.iter().map(|f| f.file_size.max(0) as u64).sum::<u64>()
    }

    pub(super) fn key_at(&self) -> KeyAt {
        let p = self.pos();
        KeyAt { kv: p.kv.clone(), row: p.row, int_key: p.int_key }
    }

    pub(super) fn has_key(&self, key: &KeyAt) -> bool {
        let p = self.pos();
        match (p.int_key, key.int_key) {
            (Some(x), Some(y)) => x == y,
            _ => p.kv.0.cmp_with(p.row, &key.kv.0, key.row).is_eq(),
        }
    }

    pub(super) fn advance_batch(
        &mut self,
        reader: &SplitReader,
        split: &DataSplit,
        store: &mut BatchStore,
    ) -> Result<()> {
        loop {
            if let Some(reading) = &mut self.reading {
                match reading.next()? {
                    Some((values, kv)) => {
                        let kv = kv.ok_or_else(|| Error::data_file(reading.path(), "was read without its keys"))?;
                        let len = kv.1.len();
                        if len > 0 {
                            let id = store.add(values);
                            let mut p = Position { batch_id: id, row: 0, len, kv: Arc::new(kv), int_key: None, seq: 0 };
                            p.refresh();
                            self.current = Some(p);
                            return Ok(());
                        }
                        continue;
                    }
                    None => self.reading = None,
                }
            }
            match self.files.pop_front() {
                None => {
                    self.current = None;
                    return Ok(());
                }
                Some(f) => self.reading = Some(RunReading::File(Box::new(reader.open_file(split, &f, true)?))),
            }
        }
    }

    pub(super) fn advance(&mut self, reader: &SplitReader, split: &DataSplit, store: &mut BatchStore) -> Result<()> {
        if let Some(p) = self.current.as_mut() {
            p.row += 1;
            if p.row < p.len {
                p.refresh();
                return Ok(());
            }
        }
        self.advance_batch(reader, split, store)
    }

    pub(super) fn pos(&self) -> &Position {
        self.current.as_ref().expect("only positioned cursors are compared")
    }

    pub(super) fn seq(&self) -> i64 {
        self.pos().seq
    }

    pub(super) fn kind(&self) -> RowKind {
        let p = self.pos();
        RowKind::from_byte(p.kv.2[p.row]).unwrap_or(RowKind::Insert)
    }

    pub(super) fn same_key(&self, other: &RunCursor) -> bool {
        let (a, b) = (self.pos(), other.pos());
        match (a.int_key, b.int_key) {
            (Some(x), Some(y)) => x == y,
            _ => a.kv.0.cmp_with(a.row, &b.kv.0, b.row).is_eq(),
        }
    }

    pub(super) fn cmp_key_seq(&self, other: &RunCursor) -> Ordering {
        let (a, b) = (self.pos(), other.pos());
        match (a.int_key, b.int_key) {
            (Some(x), Some(y)) => (x, a.seq).cmp(&(y, b.seq)),
            _ => a.kv.0.cmp_with(a.row, &b.kv.0, b.row).then(a.seq.cmp(&b.seq)),
        }
    }
}

pub(super) fn sift_down(
    heap: &mut [usize],
    mut i: usize,
    cursors: &[RunCursor],
    less: impl Fn(&[RunCursor], usize, usize) -> bool,
) {
    loop {
        let l = 2 * i + 1;
        let r = l + 1;
        let mut m = i;
        if l < heap.len() && less(cursors, heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && less(cursors, heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    }
}

pub(super) fn heapify(
    heap: &mut [usize],
    cursors: &[RunCursor],
    less: impl Fn(&[RunCursor], usize, usize) -> bool + Copy,
) {
    for i in (0..heap.len() / 2).rev() {
        sift_down(heap, i, cursors, less);
    }
}

pub(super) fn pop(
    heap: &mut Vec<usize>,
    cursors: &[RunCursor],
    less: impl Fn(&[RunCursor], usize, usize) -> bool + Copy,
) {
    let last = heap.len() - 1;
    heap.swap(0, last);
    heap.pop();
    if !heap.is_empty() {
        sift_down(heap, 0, cursors, less);
    }
}

pub(super) fn push(
    heap: &mut Vec<usize>,
    c: usize,
    cursors: &[RunCursor],
    less: impl Fn(&[RunCursor], usize, usize) -> bool + Copy,
) {
    heap.push(c);
    let mut i = heap.len() - 1;
    while i > 0 {
        let parent = (i - 1) / 2;
        if less(cursors, heap[i], heap[parent]) {
            heap.swap(i, parent);
            i = parent;
        } else {
            break;
        }
    }
}
