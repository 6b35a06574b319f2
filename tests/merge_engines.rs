//! Merge engines against in-memory models: random upserts and retractions over several commits,
//! write-buffer flushes, writer restarts and full compactions, for deduplicate with a sequence
//! field, first-row, partial-update (plain, remove-record-on-delete, sequence groups with an
//! aggregate) and aggregation. Each model folds a key's whole history with Paimon's rules,
//! independently of shoal's merge code; the table must read the same at every snapshot, however
//! the history was split into files and merged along the way.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use proptest::prelude::*;
use shoal::maintenance::compact::CompactJob;
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::Table;

/// One row's value columns: a INT, b STRING, c BIGINT, d DOUBLE, e INT, g INT.
#[derive(Clone, Debug, PartialEq, Default)]
struct Row {
    a: Option<i32>,
    b: Option<String>,
    c: Option<i64>,
    d: Option<f64>,
    e: Option<i32>,
    g: Option<i32>,
}

type Table_ = BTreeMap<i64, Row>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Engine {
    DedupSequenceField,
    FirstRow,
    PartialUpdate,
    PartialUpdateRemoveOnDelete,
    PartialUpdateGroups,
    Aggregation,
}

impl Engine {
    fn options(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Engine::DedupSequenceField => vec![("sequence.field", "c")],
            Engine::FirstRow => vec![("merge-engine", "first-row"), ("first-row.ignore-delete", "true")],
            Engine::PartialUpdate => vec![("merge-engine", "partial-update"), ("ignore-delete", "true")],
            Engine::PartialUpdateRemoveOnDelete => {
                vec![("merge-engine", "partial-update"), ("partial-update.remove-record-on-delete", "true")]
            }
            Engine::PartialUpdateGroups => vec![
                ("merge-engine", "partial-update"),
                ("fields.g.sequence-group", "a,b"),
                ("fields.c.sequence-group", "e"),
                ("fields.e.aggregate-function", "sum"),
            ],
            Engine::Aggregation => vec![
                ("merge-engine", "aggregation"),
                ("fields.a.aggregate-function", "sum"),
                ("fields.b.aggregate-function", "listagg"),
                ("fields.b.ignore-retract", "true"),
                ("fields.c.aggregate-function", "max"),
                ("fields.c.ignore-retract", "true"),
                ("fields.d.ignore-retract", "true"),
                ("fields.e.aggregate-function", "sum"),
                ("fields.g.aggregate-function", "last_value"),
            ],
        }
    }

    /// The engine's result for a key's whole history (oldest first), as Paimon defines it.
    fn fold(self, history: &[(RowKind, Row)]) -> Option<Row> {
        if history.len() == 1 {
            // A lone version is itself; readers drop retractions.
            let (k, r) = &history[0];
            return if k.is_retract() { None } else { Some(r.clone()) };
        }
        match self {
            Engine::DedupSequenceField => {
                let mut ordered: Vec<(usize, &(RowKind, Row))> = history.iter().enumerate().collect();
                // By c (nulls first), then write order.
                ordered.sort_by(|x, y| x.1 .1.c.cmp(&y.1 .1.c).then(x.0.cmp(&y.0)));
                let (k, r) = ordered.last().map(|x| x.1.clone())?;
                if k.is_retract() {
                    None
                } else {
                    Some(r)
                }
            }
            Engine::FirstRow => history.iter().find(|(k, _)| !k.is_retract()).map(|(_, r)| r.clone()),
            Engine::PartialUpdate => {
                let mut row = Row::default();
                let mut any = false;
                for (k, r) in history {
                    if k.is_retract() {
                        continue;
                    }
                    any = true;
                    overwrite_non_null(&mut row, r);
                }
                any.then_some(row)
            }
            Engine::PartialUpdateRemoveOnDelete => {
                let mut row = Row::default();
                let mut deleted = false;
                let mut inserted = false;
                for (k, r) in history {
                    deleted = false;
                    match k {
                        RowKind::Delete => {
                            deleted = true;
                            row = Row::default();
                        }
                        RowKind::UpdateBefore => {}
                        _ => {
                            inserted = true;
                            overwrite_non_null(&mut row, r);
                        }
                    }
                }
                (!deleted && inserted).then_some(row)
            }
            Engine::PartialUpdateGroups => {
                let mut row = Row::default();
                let mut inserted = false;
                for (k, r) in history {
                    if k.is_retract() {
                        // Group g (a, b): a newer-or-equal g takes the group back.
                        if r.g.is_some() && r.g >= row.g {
                            row.g = r.g;
                            row.a = None;
                            row.b = None;
                        }
                        // Group c (e, summed): the sequence field moves forward; e is retracted either way.
                        if r.c.is_some() {
                            if r.c >= row.c {
                                row.c = r.c;
                            }
                            row.e = sum_retract(row.e, r.e);
                        }
                        continue;
                    }
                    inserted = true;
                    // Columns outside groups: non-null overwrites (only d here).
                    if r.d.is_some() {
                        row.d = r.d;
                    }
                    if r.g.is_some() && r.g >= row.g {
                        row.a = r.a;
                        row.b = r.b.clone();
                        row.g = r.g;
                    }
                    if r.c.is_some() {
                        if r.c >= row.c {
                            row.c = r.c;
                        }
                        row.e = sum(row.e, r.e);
                    }
                }
                inserted.then_some(row)
            }
            Engine::Aggregation => {
                let mut row = Row::default();
                for (k, r) in history {
                    if k.is_retract() {
                        row.a = sum_retract(row.a, r.a);
                        row.e = sum_retract(row.e, r.e);
                        row.g = None;
                        // b (listagg), c (max) and d (last_non_null_value) ignore retractions.
                        continue;
                    }
                    row.a = sum(row.a, r.a);
                    row.b = match (row.b.take(), &r.b) {
                        (Some(x), Some(y)) => Some(format!("{x},{y}")),
                        (x, y) => x.or(y.clone()),
                    };
                    row.c = match (row.c, r.c) {
                        (Some(x), Some(y)) => Some(x.max(y)),
                        (x, y) => x.or(y),
                    };
                    if r.d.is_some() {
                        row.d = r.d;
                    }
                    row.e = sum(row.e, r.e);
                    row.g = r.g;
                }
                Some(row)
            }
        }
    }
}

fn overwrite_non_null(row: &mut Row, r: &Row) {
    if r.a.is_some() {
        row.a = r.a;
    }
    if r.b.is_some() {
        row.b = r.b.clone();
    }
    if r.c.is_some() {
        row.c = r.c;
    }
    if r.d.is_some() {
        row.d = r.d;
    }
    if r.e.is_some() {
        row.e = r.e;
    }
    if r.g.is_some() {
        row.g = r.g;
    }
}

fn sum(acc: Option<i32>, v: Option<i32>) -> Option<i32> {
    match (acc, v) {
        (Some(x), Some(y)) => Some(x.wrapping_add(y)),
        (x, y) => x.or(y),
    }
}

fn sum_retract(acc: Option<i32>, v: Option<i32>) -> Option<i32> {
    match (acc, v) {
        (Some(x), Some(y)) => Some(x.wrapping_sub(y)),
        (None, y) => y.map(|y| y.wrapping_neg()),
        (x, None) => x,
    }
}

/// The table of an engine; `spill`: every merge of more than two runs spills the smallest
/// first (`sort-spill-threshold` 2), so spilled runs holding several versions of a key meet the
/// merge functions.
fn def(engine: Engine, spill: bool) -> TableDefinition {
    let mut d = TableDefinition::default().column("id", parse_type("BIGINT NOT NULL").unwrap());
    for (n, t) in [("a", "INT"), ("b", "STRING"), ("c", "BIGINT"), ("d", "DOUBLE"), ("e", "INT"), ("g", "INT")] {
        d = d.column(n, parse_type(t).unwrap());
    }
    d = d
        .primary_key(&["id"])
        .option("bucket", "2")
        .option("write-buffer-size", "4 kb")
        .option("num-sorted-run.compaction-trigger", "3");
    for (k, v) in engine.options() {
        d = d.option(k, v);
    }
    if spill {
        d = d.option("sort-spill-threshold", "2");
    }
    d
}

fn batch(t: &Table, rows: &[(i64, Row)]) -> RecordBatch {
    let col = |f: &dyn Fn(&Row) -> Option<i32>| {
        Arc::new(Int32Array::from(rows.iter().map(|r| f(&r.1)).collect::<Vec<_>>())) as ArrayRef
    };
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef,
            col(&|r| r.a),
            Arc::new(StringArray::from(rows.iter().map(|r| r.1.b.clone()).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1.c).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.1.d).collect::<Vec<_>>())),
            col(&|r| r.e),
            col(&|r| r.g),
        ],
    )
    .unwrap()
}

async fn read(t: &Table, snapshot: Option<i64>) -> Table_ {
    let b = t.read_all(snapshot, None).await.unwrap();
    let ids = b.column(0).as_primitive::<Int64Type>();
    let int = |c: usize, i: usize| {
        let a = b.column(c).as_primitive::<Int32Type>();
        (!a.is_null(i)).then(|| a.value(i))
    };
    let mut out = Table_::new();
    for i in 0..b.num_rows() {
        let s = b.column(2).as_string::<i32>();
        let c = b.column(3).as_primitive::<Int64Type>();
        let d = b.column(4).as_primitive::<Float64Type>();
        let row = Row {
            a: int(1, i),
            b: (!s.is_null(i)).then(|| s.value(i).to_string()),
            c: (!c.is_null(i)).then(|| c.value(i)),
            d: (!d.is_null(i)).then(|| d.value(i)),
            e: int(5, i),
            g: int(6, i),
        };
        assert!(out.insert(ids.value(i), row).is_none(), "key {} read twice", ids.value(i));
    }
    out
}

#[derive(Clone, Debug)]
enum Op {
    /// (key, row seed) pairs.
    Upsert(Vec<(i64, u32)>),
    /// Keys to retract with -U (true) or -D (false), with the seed of the retracted values.
    Retract(Vec<(i64, bool, u32)>),
    Commit,
    Compact,
    NewWriter,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => prop::collection::vec((0i64..60, any::<u32>()), 1..40).prop_map(Op::Upsert),
        2 => prop::collection::vec((0i64..60, any::<bool>(), any::<u32>()), 1..10).prop_map(Op::Retract),
        3 => Just(Op::Commit),
        1 => Just(Op::Compact),
        1 => Just(Op::NewWriter),
    ]
}

/// A row from a seed: every column sometimes null, small value ranges so ties happen.
fn row_of(seed: u32) -> Row {
    let bit = |n: u32| seed >> n & 1 == 1;
    Row {
        a: bit(0).then(|| (seed >> 4 & 0xff) as i32 - 100),
        b: bit(1).then(|| format!("s{}", seed >> 12 & 7)),
        c: bit(2).then_some((seed >> 15 & 7) as i64),
        d: bit(3).then(|| (seed >> 18 & 15) as f64 / 4.0),
        e: bit(22).then_some((seed >> 23 & 0x3f) as i32),
        g: bit(29).then_some((seed >> 30) as i32),
    }
}

fn full_row(seed: u32) -> Row {
    let r = row_of(seed | 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 22 | 1 << 29);
    debug_assert!(r.a.is_some() && r.g.is_some());
    r
}

fn expected(engine: Engine, history: &BTreeMap<i64, Vec<(RowKind, Row)>>) -> Table_ {
    history.iter().filter_map(|(k, h)| engine.fold(h).map(|r| (*k, r))).collect()
}

async fn run(engine: Engine, ops: Vec<Op>, spill: bool) {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create(dir.path().to_str().unwrap(), def(engine, spill)).await.unwrap();
    let mut w = table.new_write().await.unwrap();
    let mut committed_history: BTreeMap<i64, Vec<(RowKind, Row)>> = BTreeMap::new();
    let mut history = committed_history.clone();
    let mut snapshots: Vec<(i64, Table_)> = vec![];
    for op in ops {
        match op {
            Op::Upsert(rows) => {
                let rows: Vec<(i64, Row)> = rows
                    .into_iter()
                    .map(|(k, s)| {
                        // After remove-record-on-delete deleted a key, a partial row merged with
                        // the -D in one step would lay itself over the pre-delete row in the
                        // next (Paimon has the same order dependence): re-inserts are full rows.
                        let deleted =
                            history.get(&k).is_some_and(|h| h.iter().any(|(kind, _)| *kind == RowKind::Delete));
                        if engine == Engine::PartialUpdateRemoveOnDelete && deleted {
                            (k, full_row(s))
                        } else {
                            (k, row_of(s))
                        }
                    })
                    .collect();
                for (k, r) in &rows {
                    history.entry(*k).or_default().push((RowKind::Insert, r.clone()));
                }
                w.write(&batch(&table, &rows)).await.unwrap();
            }
            Op::Retract(keys) => {
                // Only keys with a history are retracted, with values they once had (as a
                // changelog would); for aggregation a -U is followed by its +U.
                let mut rows = vec![];
                let mut kinds = vec![];
                if engine == Engine::DedupSequenceField {
                    // A tombstone dropped at the bottom level cannot outrank later versions by
                    // its sequence field any more (as in Paimon): the model covers upserts only.
                    continue;
                }
                for (k, update, seed) in keys {
                    // Sequence groups are retracted in -U/+U pairs: a bare -D merged with other
                    // retractions alone is not a changelog Paimon can merge step by step.
                    let update = update || engine == Engine::PartialUpdateGroups;
                    let Some(h) = history.get(&k).filter(|h| !h.is_empty()) else {
                        continue;
                    };
                    let old = h[seed as usize % h.len()].1.clone();
                    let kind = if update { RowKind::UpdateBefore } else { RowKind::Delete };
                    rows.push((k, old.clone()));
                    kinds.push(kind);
                    history.entry(k).or_default().push((kind, old));
                    if update {
                        let deleted =
                            history.get(&k).is_some_and(|h| h.iter().any(|(kind, _)| *kind == RowKind::Delete));
                        let new = if engine == Engine::PartialUpdateRemoveOnDelete && deleted {
                            full_row(seed.rotate_left(7))
                        } else {
                            row_of(seed.rotate_left(7))
                        };
                        rows.push((k, new.clone()));
                        kinds.push(RowKind::UpdateAfter);
                        history.entry(k).or_default().push((RowKind::UpdateAfter, new));
                    }
                }
                if !rows.is_empty() {
                    w.write_with_kinds(&batch(&table, &rows), Some(&kinds)).await.unwrap();
                }
            }
            Op::Commit => {
                let msgs = w.prepare_commit().await.unwrap();
                let out = table.new_commit(&uuid::Uuid::new_v4().to_string()).unwrap().commit(msgs).await.unwrap();
                committed_history = history.clone();
                if let Some(id) = out.snapshot_id() {
                    snapshots.push((id, expected(engine, &committed_history)));
                }
            }
            Op::Compact => {
                // The dedicated job commits beside the writer; the writer's own view goes stale
                // and is replaced, as a restarted job would be.
                let msgs = w.prepare_commit().await.unwrap();
                table.new_commit(&uuid::Uuid::new_v4().to_string()).unwrap().commit(msgs).await.unwrap();
                committed_history = history.clone();
                CompactJob::new(true).run(&table).await.unwrap();
                w = table.new_write().await.unwrap();
                let id = table.latest_snapshot().await.unwrap().map(|s| s.id);
                if let Some(id) = id {
                    snapshots.push((id, expected(engine, &committed_history)));
                }
            }
            Op::NewWriter => {
                w = table.new_write().await.unwrap();
                history = committed_history.clone();
            }
        }
    }
    let final_history = committed_history;
    for (id, want) in &snapshots {
        let got = read(&table, Some(*id)).await;
        if &got != want {
            let keys: std::collections::BTreeSet<&i64> = got.keys().chain(want.keys()).collect();
            let diff: Vec<String> = keys
                .into_iter()
                .filter(|k| got.get(k) != want.get(k))
                .map(|k| {
                    format!(
                        "key {k}: read {:?}, model {:?}, history {:?}",
                        got.get(k),
                        want.get(k),
                        final_history.get(k)
                    )
                })
                .collect();
            panic!("{engine:?} (spill {spill}): snapshot {id} differs:\n{}", diff.join("\n"));
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn deduplicate_with_sequence_field(ops in prop::collection::vec(op(), 1..30), spill in any::<bool>()) {
        runtime().block_on(run(Engine::DedupSequenceField, ops, spill));
    }

    #[test]
    fn first_row(ops in prop::collection::vec(op(), 1..30), spill in any::<bool>()) {
        runtime().block_on(run(Engine::FirstRow, ops, spill));
    }

    #[test]
    fn partial_update(ops in prop::collection::vec(op(), 1..30), spill in any::<bool>()) {
        runtime().block_on(run(Engine::PartialUpdate, ops, spill));
    }

    #[test]
    fn partial_update_remove_record_on_delete(ops in prop::collection::vec(op(), 1..30), spill in any::<bool>()) {
        runtime().block_on(run(Engine::PartialUpdateRemoveOnDelete, ops, spill));
    }

    #[test]
    fn partial_update_sequence_groups(ops in prop::collection::vec(op(), 1..30), spill in any::<bool>()) {
        runtime().block_on(run(Engine::PartialUpdateGroups, ops, spill));
    }

    #[test]
    fn aggregation(ops in prop::collection::vec(op(), 1..30), spill in any::<bool>()) {
        runtime().block_on(run(Engine::Aggregation, ops, spill));
    }
}

/// The aggregate functions on nested and binary columns, and integer/decimal arithmetic, with
/// retractions: collect (distinct and not), merge_map, nested_update with a nested key, rbm32,
/// TINYINT sum wrapping like Java's byte arithmetic, DECIMAL product and its retraction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_binary_and_arithmetic_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = TableDefinition::default();
    for (n, t) in [
        ("id", "BIGINT NOT NULL"),
        ("tags", "ARRAY<STRING>"),
        ("seen", "ARRAY<INT>"),
        ("m", "MAP<STRING, INT>"),
        ("items", "ARRAY<ROW<k INT, v STRING>>"),
        ("bm", "BYTES"),
        ("t", "TINYINT"),
        ("p", "DECIMAL(10, 2)"),
    ] {
        d = d.column(n, parse_type(t).unwrap());
    }
    for (k, v) in [
        ("merge-engine", "aggregation"),
        ("fields.tags.aggregate-function", "collect"),
        ("fields.tags.distinct", "true"),
        ("fields.seen.aggregate-function", "collect"),
        ("fields.m.aggregate-function", "merge_map"),
        ("fields.items.aggregate-function", "nested_update"),
        ("fields.items.nested-key", "k"),
        ("fields.bm.aggregate-function", "rbm32"),
        ("fields.bm.ignore-retract", "true"),
        ("fields.t.aggregate-function", "sum"),
        ("fields.p.aggregate-function", "product"),
    ] {
        d = d.option(k, v);
    }
    let table =
        Table::create(dir.path().to_str().unwrap(), d.primary_key(&["id"]).option("bucket", "1")).await.unwrap();
    let bitmap = |values: &[u32]| {
        let mut out = vec![];
        values.iter().copied().collect::<roaring::RoaringBitmap>().serialize_into(&mut out).unwrap();
        out
    };
    let rows = |json: &str, bitmaps: Vec<Vec<u8>>| {
        let values_schema = Arc::new(arrow_schema::Schema::new(
            table.arrow_schema().fields().iter().filter(|f| f.name() != "bm").cloned().collect::<Vec<_>>(),
        ));
        let b = arrow::json::ReaderBuilder::new(values_schema)
            .build(std::io::Cursor::new(json.to_string()))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mut cols = b.columns().to_vec();
        let bm = arrow_array::BinaryArray::from(bitmaps.iter().map(|v| Some(v.as_slice())).collect::<Vec<_>>());
        cols.insert(5, Arc::new(bm));
        RecordBatch::try_new(table.arrow_schema(), cols).unwrap()
    };
    let commit = |msgs| async { table.new_commit("t").unwrap().commit(msgs).await.unwrap() };
    // Three commits (three files) of one key, then a -U/+U pair: merged on read.
    let mut w = table.new_write().await.unwrap();
    w.write(&rows(
        r#"{"id":1,"tags":["a","b","a"],"seen":[1],"m":{"x":1},"items":[{"k":1,"v":"a"}],"t":100,"p":"2.00"}"#,
        vec![bitmap(&[1, 2])],
    ))
    .await
    .unwrap();
    commit(w.prepare_commit().await.unwrap()).await;
    w.write(&rows(
        r#"{"id":1,"tags":["b","c"],"seen":[1,2],"m":{"x":2,"y":3},"items":[{"k":1,"v":"b"},{"k":2,"v":"c"}],"t":100,"p":"1.50"}"#,
        vec![bitmap(&[3, 70000])],
    ))
    .await
    .unwrap();
    commit(w.prepare_commit().await.unwrap()).await;
    // A retraction only takes back what it meets in the same merge (collect, merge_map,
    // nested_update and product retract nothing from an empty accumulator, as in Paimon), so the
    // -U and +U go to files of their own and meet the accumulated value on read.
    let before = rows(
        r#"{"id":1,"tags":null,"seen":[1],"m":{"y":0},"items":[{"k":2,"v":"c"}],"t":50,"p":"1.50"}"#,
        vec![bitmap(&[1])],
    );
    w.write_with_kinds(&before, Some(&[RowKind::UpdateBefore])).await.unwrap();
    commit(w.prepare_commit().await.unwrap()).await;
    let after =
        rows(r#"{"id":1,"tags":["d"],"seen":null,"m":null,"items":null,"t":null,"p":null}"#, vec![bitmap(&[9])]);
    w.write_with_kinds(&after, Some(&[RowKind::UpdateAfter])).await.unwrap();
    commit(w.prepare_commit().await.unwrap()).await;

    let check = |b: &RecordBatch| {
        let mut json = arrow::json::ArrayWriter::new(Vec::new());
        json.write(&b.project(&[0, 1, 2, 3, 4, 6, 7]).unwrap()).unwrap();
        json.finish().unwrap();
        let got: serde_json::Value = serde_json::from_slice(&json.into_inner()).unwrap();
        assert_eq!(
            got,
            serde_json::json!([{
                "id": 1,
                "tags": ["a", "b", "c", "d"],
                "seen": [1, 2],
                "m": {"x": 2},
                "items": [{"k": 1, "v": "b"}],
                // 100 + 100 wraps to -56 in a TINYINT (Java byte arithmetic), minus 50.
                "t": -106,
                "p": 2.0
            }])
        );
        let bm = b.column(5).as_binary::<i32>().value(0);
        let got: Vec<u32> = roaring::RoaringBitmap::deserialize_from(bm).unwrap().iter().collect();
        assert_eq!(got, vec![1, 2, 3, 9, 70000]);
    };
    // Merge on read over three files, then the same after a full compaction into one file.
    check(&table.read_all(None, None).await.unwrap());
    CompactJob::new(true).run(&table).await.unwrap();
    check(&table.read_all(None, None).await.unwrap());
}

/// Retractions a table cannot take are refused when written, naming the row and what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_retractions_are_refused_at_write() {
    for (opts, expect) in [
        (vec![("merge-engine", "partial-update")], "partial-update.remove-record-on-delete"),
        (vec![("merge-engine", "first-row")], "first-row.ignore-delete"),
        (vec![("merge-engine", "aggregation"), ("fields.c.aggregate-function", "max")], "fields.c.ignore-retract"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut d = def(Engine::DedupSequenceField, false);
        d.options.remove("sequence.field");
        for (k, v) in &opts {
            d = d.option(k, v);
        }
        let table = Table::create(dir.path().to_str().unwrap(), d).await.unwrap();
        let mut w = table.new_write().await.unwrap();
        let b = batch(&table, &[(1, row_of(7)), (1, row_of(9))]);
        let e = w.write_with_kinds(&b, Some(&[RowKind::Insert, RowKind::Delete])).await.unwrap_err().to_string();
        assert!(e.contains("row 1 is -D") && e.contains(expect), "{opts:?}: {e}");
    }
}

fn made_ref(i: usize) -> serde_json::Value {
    serde_json::json!({ "make": i })
}

/// A compact HLL-mode image (datasketches-java layout) of the given registers: `tgt` 1 = HLL_6,
/// 2 = HLL_8; HIP accumulator 1000, KxQ registers and the zero count as the registers give.
fn hll_image(lg_k: u8, tgt: u8, values: &[u8]) -> Vec<u8> {
    let inv = |v: u8| 0.5f64.powi(v as i32);
    let kxq0: f64 = values.iter().filter(|v| **v < 32).map(|v| inv(*v)).sum();
    let kxq1: f64 = values.iter().filter(|v| **v >= 32).map(|v| inv(*v)).sum();
    let zeros = values.iter().filter(|v| **v == 0).count() as u32;
    let mut out = vec![10, 1, 7, lg_k, 0, 8, 0, 2 | tgt << 2];
    for x in [1000.0f64, kxq0, kxq1] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&zeros.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    if tgt == 2 {
        out.extend_from_slice(values);
    } else {
        let mut packed = vec![0u8; values.len() * 3 / 4 + 1];
        for (s, v) in values.iter().enumerate() {
            let bit = s * 6;
            let two = (*v as u16) << (bit % 8);
            packed[bit / 8] |= two as u8;
            packed[bit / 8 + 1] |= (two >> 8) as u8;
        }
        out.extend_from_slice(&packed);
    }
    out
}

/// Runs its closure when dropped.
struct Finally<F: FnMut()>(F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The values of rbm64, hll_sketch and theta_sketch, byte for byte against Java Paimon 0.9 (two
/// JVM runs): Java serialises value sets and unions pairs of them with Paimon's own
/// `Field*Agg.agg`; shoal reads every Java value, writes each rbm64 set as Java does, and its
/// unions of the same pairs are Java's bytes. Then Java reads shoal's values, aggregates them
/// further, and folds long chains (accumulators in the layouts unions leave): Java's bytes again.
#[test]
fn rbm64_hll_theta_values_match_java() {
    use serde_json::{json, Value};
    use shoal::merge::rbm64::{self, Bitmap64};
    use shoal::merge::sketches::{hll, hll_union, theta_union};
    let Some(o) = common::oracle::oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let range = |start: u64, n: u64, step: u64| (0..n).map(move |i| start + i * step);
    let mut make: Vec<Value> = Vec::new();
    let mut rbm_sets: Vec<Vec<u64>> = vec![
        vec![],
        vec![1, 5, 1 << 33, (1 << 33) + 7],
        vec![u64::MAX, 3, 1 << 63],
        range(1 << 40, 70_000, 1).collect(), // bitmap container -> one run
        range(5 << 40, 5000, 2).collect(),   // a bitmap container
        range(0, 4096, 3).chain(range(70_000, 3, 1)).collect(), // a full array container
        range(0, 10, 1 << 16).collect(),     // Node16
        range(0, 30, 1 << 16).chain(range(1 << 50, 5, 1 << 16)).collect(), // Node48 under a Node4
        range(7, 300, (1 << 16) + 1).collect(), // Node256, runs of one
        range(1 << 24, 40, 1 << 24).collect(), // Node48 one level up
    ];
    // Containers of every type under one key (7 << 16), ORed with each other below: each
    // combination of container types and Java's rule for the result's type.
    let overlap_first = rbm_sets.len();
    let key = 7u64 << 16;
    let blocks = |offset: u64| (0..1500u64).flat_map(move |k| (0..4).map(move |i| key + 16 * k + offset + i));
    rbm_sets.extend([
        range(key, 3000, 1).collect::<Vec<_>>(),             // a run
        vec![key + 1, key + 5000, key + 7000, key + 60_000], // an array
        range(key, 32_768, 2).collect(),                     // a bitmap
        range(key, 65_536, 1).collect(),                     // full: one run
        range(key, 3000, 3).collect(),                       // an array of 3000
        range(key + 1500, 3000, 3).collect(),                // overlapping it: union <= 4096
        range(key + 1, 3000, 3).collect(),                   // beside it: union > 4096
        blocks(0).collect(),                                 // 1500 runs
        blocks(8).collect(),                                 // 1500 more: 3000 runs
    ]);
    let overlap = overlap_first..rbm_sets.len();
    for s in &rbm_sets {
        // In ascending order: the bytes of a Java bitmap depend on the order values were added.
        let mut sorted = s.clone();
        sorted.sort_unstable();
        make.push(json!({"function": "rbm64", "values": sorted}));
    }
    let hll_cases: Vec<(u8, &str, u64, u64)> = vec![
        (12, "HLL_4", 0, 3),      // list mode
        (12, "HLL_4", 2, 200),    // set mode
        (12, "HLL_4", 1000, 300), // with the one above: a set that outgrows itself into registers
        (12, "HLL_4", 100, 1500), // HLL mode
        (12, "HLL_4", 0, 4000),
        (10, "HLL_8", 7, 1500),
        (14, "HLL_6", 9, 3000),
        (11, "HLL_4", 1, 40),
        (5, "HLL_4", 3, 300), // lgK < 8: a list becomes registers without a set
        (5, "HLL_4", 20, 6),
        (5, "HLL_4", 40, 5), // with the one above: two lists that fill one, into registers
    ];
    let hll_first = make.len();
    for (lg_k, t, start, n) in &hll_cases {
        make.push(json!({"function": "hll_sketch", "lg_k": lg_k, "hll_type": t, "values": range(*start, *n, 1).collect::<Vec<_>>()}));
    }
    let theta_cases: Vec<(u32, u64, u64)> = vec![
        (4096, 0, 1),
        (4096, 5, 3),
        (4096, 0, 3000),
        (4096, 1500, 3000),
        (1024, 0, 3000),
        (512, 3, 2000),
        (4096, 0, 0),
    ];
    let theta_first = make.len();
    for (k, start, n) in &theta_cases {
        make.push(json!({"function": "theta_sketch", "nominal_entries": k, "values": range(*start, *n, 1).collect::<Vec<_>>()}));
    }
    // Pairs: every case with the next, with itself, and with a null on either side.
    let mut pairs: Vec<(&str, usize, usize)> = Vec::new();
    for a in overlap.clone() {
        for b in overlap.clone().filter(|b| *b != a) {
            pairs.push(("rbm64", a, b));
        }
    }
    for (f, first, n) in [
        ("rbm64", 0, rbm_sets.len()),
        ("hll_sketch", hll_first, hll_cases.len()),
        ("theta_sketch", theta_first, theta_cases.len()),
    ] {
        for i in 0..n {
            pairs.push((f, first + i, first + (i + 1) % n));
            pairs.push((f, first + (i + 1) % n, first + i));
            pairs.push((f, first + i, first + i));
        }
    }
    let run = |spec: Value, name: &str| -> Value {
        let spec_path = dir.path().join(format!("{name}.json"));
        let out = dir.path().join(format!("{name}.out.json"));
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        let started = std::time::Instant::now();
        let _done = Finally(move || eprintln!("{name}: Java took {:?}", started.elapsed()));
        o.java(&["agg-goldens", "--spec", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        eprintln!("{name}: inside the JVM {}", v["seconds"]);
        v
    };
    // HLL images made here: registers whose HLL_4 form needs exceptions (values 15 or more above
    // the minimum), as HLL_8 and HLL_6, unioned with Java's sketches of other lgKs (down-sampling
    // either side, folding, coupon inserts into registers).
    let crafted8 = hll_image(8, 2, &(0..256u32).map(|s| (s * 13 % 37) as u8 + 1).collect::<Vec<_>>());
    let crafted6 =
        hll_image(9, 1, &(0..512u32).map(|s| if s % 5 == 0 { 0 } else { (s * 7 % 50) as u8 + 2 }).collect::<Vec<_>>());
    let (list12, hll12) = (made_ref(hll_first), made_ref(hll_first + 3));
    let crafted_pairs: Vec<(Value, Value)> = vec![
        (json!(to_hex(&crafted8)), list12.clone()),
        (list12, json!(to_hex(&crafted8))),
        (json!(to_hex(&crafted6)), hll12.clone()),
        (hll12, json!(to_hex(&crafted6))),
        (json!(to_hex(&crafted8)), json!(to_hex(&crafted6))),
    ];
    let agg: Vec<Value> = pairs
        .iter()
        .map(|(f, a, b)| json!({"function": f, "acc": {"make": a}, "input": {"make": b}}))
        .chain([
            json!({"function": "rbm64", "acc": null, "input": {"make": 1}}),
            json!({"function": "theta_sketch", "acc": {"make": theta_first}, "input": null}),
        ])
        .chain(crafted_pairs.iter().map(|(a, b)| json!({"function": "hll_sketch", "acc": a, "input": b})))
        .collect();
    let java = run(json!({"make": make, "agg": agg}), "round1");
    let made: Vec<Vec<u8>> = java["make"].as_array().unwrap().iter().map(|h| from_hex(h.as_str().unwrap())).collect();
    let java_unions: Vec<Option<Vec<u8>>> =
        java["agg"].as_array().unwrap().iter().map(|h| h.as_str().map(from_hex)).collect();
    assert_eq!(java_unions[pairs.len()].as_deref(), Some(made[1].as_slice()), "a null accumulator gives the input");
    assert_eq!(java_unions[pairs.len() + 1].as_deref(), Some(made[theta_first].as_slice()));
    let value_of = |v: &Value| match v {
        Value::String(h) => from_hex(h),
        _ => made[v["make"].as_u64().unwrap() as usize].clone(),
    };
    for (i, (a, b)) in crafted_pairs.iter().enumerate() {
        let java_union = java_unions[pairs.len() + 2 + i].as_ref().unwrap();
        assert_eq!(to_hex(&hll_union(&value_of(a), &value_of(b)).unwrap()), to_hex(java_union), "crafted HLL pair {i}");
        let exceptions = u32::from_le_bytes(java_union[36..40].try_into().unwrap());
        assert!(exceptions > 0, "crafted HLL pair {i}: an HLL_4 result with exceptions");
    }

    // shoal reads Java's rbm64 values and writes the same sets in the same bytes.
    for (i, set) in rbm_sets.iter().enumerate() {
        let mut sorted = set.clone();
        sorted.sort_unstable();
        let b = Bitmap64::decode(&made[i]).unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), sorted, "rbm64 case {i}");
        assert_eq!(to_hex(&b.encode()), to_hex(&made[i]), "rbm64 case {i}: shoal's bytes are Java's");
    }
    // shoal's unions of Java's values against Java's.
    let mut shoal_values: Vec<(&str, Vec<u8>)> = Vec::new();
    let (mut same_bytes, mut differing) = (0, Vec::new());
    for ((f, a, b), java_union) in pairs.iter().zip(&java_unions) {
        let java_union = java_union.as_ref().unwrap();
        let mine = match *f {
            "rbm64" => {
                let mut x = Bitmap64::decode(&made[*a]).unwrap();
                x.union_with(&Bitmap64::decode(&made[*b]).unwrap());
                assert_eq!(x, Bitmap64::decode(java_union).unwrap(), "rbm64 union of {a} and {b}");
                rbm64::union(&made[*a], &made[*b]).unwrap()
            }
            "hll_sketch" => hll_union(&made[*a], &made[*b]).unwrap(),
            _ => theta_union(&made[*a], &made[*b]).unwrap(),
        };
        if mine == *java_union {
            same_bytes += 1;
        } else {
            let at = java_union.iter().zip(&mine).position(|(x, y)| x != y).unwrap_or(mine.len().min(java_union.len()));
            let show = |v: &[u8]| to_hex(&v[at.saturating_sub(8)..(at + 24).min(v.len())]);
            differing.push(format!(
                "{f} {a}+{b}: {} and {} bytes, first difference at {at}: java ..{}.., shoal ..{}..",
                java_union.len(),
                mine.len(),
                show(java_union),
                show(&mine)
            ));
        }
        shoal_values.push((f, mine));
    }
    eprintln!("{same_bytes} of {} unions byte-identical to Java's", pairs.len());
    assert!(differing.is_empty(), "unions differ from Java's:\n{}", differing.join("\n"));

    // Java reads shoal's values (its unions; every third, which covers each function, as py4j
    // takes ~20 ms a value) and aggregates them with Java's values.
    let sample: Vec<(&str, Vec<u8>, usize)> =
        shoal_values.iter().zip(&pairs).step_by(3).map(|((f, v), (_, a, _))| (*f, v.clone(), *a)).collect();
    let read: Vec<Value> = sample.iter().map(|(f, v, _)| json!({"function": f, "hex": to_hex(v)})).collect();
    let agg: Vec<Value> =
        sample.iter().map(|(f, v, a)| json!({"function": f, "acc": to_hex(v), "input": to_hex(&made[*a])})).collect();
    // Folds (agg(agg(v0, v1), v2)...): accumulators in the layouts unions leave. Single values
    // added one at a time in a scrambled order grow ART nodes from Node4 to Node256 at two depths,
    // and the container arrays; then each function's values in order and reversed.
    let singles: Vec<Vec<u8>> = (0..130u64)
        .map(|i| {
            let k = i * 37 % 130;
            let v = if i % 2 == 0 { k << 16 | i } else { k << 40 | 1 << 16 };
            [v].into_iter().collect::<Bitmap64>().encode()
        })
        .collect();
    let mut folds: Vec<(&str, Vec<Vec<u8>>)> = vec![("rbm64", singles)];
    for (f, first, n) in [
        ("rbm64", 0, rbm_sets.len()),
        ("hll_sketch", hll_first, hll_cases.len()),
        ("theta_sketch", theta_first, theta_cases.len()),
    ] {
        let values: Vec<Vec<u8>> = made[first..first + n].to_vec();
        folds.push((f, values.clone()));
        folds.push((f, values.into_iter().rev().collect()));
    }
    let fold_spec: Vec<Value> = folds
        .iter()
        .map(|(f, vs)| json!({"function": f, "values": vs.iter().map(|v| to_hex(v)).collect::<Vec<_>>()}))
        .collect();
    let java = run(json!({"read": read, "agg": agg, "fold": fold_spec}), "round2");
    for (i, (f, vs)) in folds.iter().enumerate() {
        let mut acc = vs[0].clone();
        for v in &vs[1..] {
            acc = match *f {
                "rbm64" => rbm64::union(&acc, v).unwrap(),
                "hll_sketch" => hll_union(&acc, v).unwrap(),
                _ => theta_union(&acc, v).unwrap(),
            };
        }
        assert_eq!(java["fold"][i].as_str().unwrap(), to_hex(&acc), "fold {i} ({f})");
    }
    for (i, ((f, v, _), r)) in sample.iter().zip(java["read"].as_array().unwrap()).enumerate() {
        match *f {
            "rbm64" => {
                // Java holds what the bytes say (it writes them back unchanged), and its count and
                // extremes are shoal's.
                let b = Bitmap64::decode(v).unwrap();
                assert_eq!(r["reserialized"].as_str().unwrap(), to_hex(v), "value {i}");
                assert_eq!(r["cardinality"].as_u64().unwrap(), b.len(), "value {i}");
                assert_eq!(r["first"].as_u64(), b.iter().next(), "value {i}");
                assert_eq!(r["last"].as_u64(), b.iter().last(), "value {i}");
            }
            // A coupon hash set is laid out anew when read, so compare what the sketch holds.
            "hll_sketch" => assert_eq!(
                hll::contents(&from_hex(r["compact"].as_str().unwrap())).unwrap(),
                hll::contents(v).unwrap(),
                "value {i}"
            ),
            // Shoal's theta values are ordered compact sketches already: Java's copy is the same.
            _ => assert_eq!(r["bytes"].as_str().unwrap(), to_hex(v), "value {i}"),
        }
    }
    for (i, (f, v, a)) in sample.iter().enumerate() {
        let java_union = from_hex(java["agg"][i].as_str().unwrap());
        match *f {
            "rbm64" => assert_eq!(to_hex(&java_union), to_hex(&rbm64::union(v, &made[*a]).unwrap()), "agg {i}"),
            "hll_sketch" => assert_eq!(to_hex(&java_union), to_hex(&hll_union(v, &made[*a]).unwrap()), "agg {i}"),
            _ => assert_eq!(to_hex(&java_union), to_hex(&theta_union(v, &made[*a]).unwrap()), "agg {i}"),
        }
    }
}

/// A table whose columns aggregate with rbm64, hll_sketch and theta_sketch, written by shoal in
/// three commits with a full compaction between (so one merge is shoal's, written to a file, and
/// one happens on read), read by Java Paimon 0.9: Java's merged values are shoal's byte for byte,
/// and the bitmaps hold the union of what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbm64_hll_theta_table_read_by_java() {
    use serde_json::{json, Value};
    use shoal::merge::rbm64::Bitmap64;
    let Some(o) = common::oracle::oracle() else { return };
    let root = tempfile::tempdir().unwrap();
    let sets: Vec<Vec<u64>> =
        vec![vec![1, 2, 3], vec![3, 70_000, 1 << 40], (0..5000).map(|i| (1 << 33) + 2 * i).collect()];
    let mut make: Vec<Value> = sets.iter().map(|s| json!({"function": "rbm64", "values": s})).collect();
    for n in [3u64, 200, 1500] {
        make.push(json!({"function": "hll_sketch", "values": (n / 2..n / 2 + n).collect::<Vec<_>>()}));
    }
    for (start, n) in [(0u64, 1u64), (0, 3000), (1500, 3000)] {
        make.push(json!({"function": "theta_sketch", "values": (start..start + n).collect::<Vec<_>>()}));
    }
    let spec = root.path().join("values.json");
    let out = root.path().join("values.out.json");
    std::fs::write(&spec, json!({"make": make}).to_string()).unwrap();
    o.java(&["agg-goldens", "--spec", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let java: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let made: Vec<Vec<u8>> = java["make"].as_array().unwrap().iter().map(|h| from_hex(h.as_str().unwrap())).collect();
    let (r, h, t) =
        (|i: usize| Some(made[i].clone()), |i: usize| Some(made[3 + i].clone()), |i: usize| Some(made[6 + i].clone()));

    let dir = root.path().join("wh").join("db.db").join("sketches");
    let mut d = TableDefinition::default().column("id", parse_type("BIGINT NOT NULL").unwrap());
    for c in ["r", "h", "t"] {
        d = d.column(c, parse_type("BYTES").unwrap());
    }
    d = d
        .primary_key(&["id"])
        .option("bucket", "1")
        .option("merge-engine", "aggregation")
        .option("fields.r.aggregate-function", "rbm64")
        .option("fields.h.aggregate-function", "hll_sketch")
        .option("fields.t.aggregate-function", "theta_sketch");
    let table = Table::create(dir.to_str().unwrap(), d).await.unwrap();
    type Cell = Option<Vec<u8>>;
    type Row = (i64, Cell, Cell, Cell);
    let batch = |rows: Vec<Row>| {
        let col = |f: &dyn Fn(&Row) -> Cell| -> ArrayRef {
            Arc::new(arrow_array::BinaryArray::from(
                rows.iter().map(f).collect::<Vec<_>>().iter().map(|v| v.as_deref()).collect::<Vec<_>>(),
            ))
        };
        let ids: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
        RecordBatch::try_new(
            table.arrow_schema(),
            vec![ids, col(&|x| x.1.clone()), col(&|x| x.2.clone()), col(&|x| x.3.clone())],
        )
        .unwrap()
    };
    let commits = vec![
        vec![(1, r(0), h(0), t(0)), (2, r(1), None, t(1)), (3, r(2), h(2), None)],
        vec![(1, r(1), h(1), t(1)), (2, None, h(1), t(2))],
        vec![(1, r(2), h(2), t(2)), (3, r(0), h(0), t(0))],
    ];
    for (i, rows) in commits.into_iter().enumerate() {
        let mut w = table.new_write().await.unwrap();
        w.write(&batch(rows)).await.unwrap();
        table.new_commit("t").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
        if i == 1 {
            CompactJob::new(true).run(&table).await.unwrap();
        }
    }
    let shoal = table.read_all(None, None).await.unwrap();
    let mut java_rows: Vec<Value> = o.java_read(&dir, None).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    java_rows.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(java_rows.len(), 3);
    let expected_sets = [vec![0, 1, 2], vec![1], vec![2, 0]];
    for (row, java_row) in java_rows.iter().enumerate() {
        assert_eq!(java_row["id"].as_i64(), Some(row as i64 + 1));
        for (c, name) in [(0, "r"), (1, "h"), (2, "t")] {
            let col = shoal.column(c + 1).as_binary::<i32>();
            let mine = (!col.is_null(row)).then(|| to_hex(col.value(row)));
            assert_eq!(java_row[name].as_str(), mine.as_deref(), "row {row}, column {name}");
        }
        let mine = Bitmap64::decode(shoal.column(1).as_binary::<i32>().value(row)).unwrap();
        let javas = Bitmap64::decode(&from_hex(java_row["r"].as_str().unwrap())).unwrap();
        let expected: Bitmap64 = expected_sets[row].iter().flat_map(|i: &usize| sets[*i].iter().copied()).collect();
        assert_eq!(mine, expected, "row {row}");
        assert_eq!(javas, expected, "row {row}");
    }
}
