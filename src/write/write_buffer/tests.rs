use super::*;
use arrow_array::{Int32Array, StringArray};
use std::collections::BTreeMap;

use crate::spec::data_file::{key_value_arrow_schema, table_arrow_schema};
use crate::spec::{parse_type, TableSchema};

const I: i8 = RowKind::Insert as i8;
const UB: i8 = RowKind::UpdateBefore as i8;
const UA: i8 = RowKind::UpdateAfter as i8;
const D: i8 = RowKind::Delete as i8;

/// A table (k BIGINT primary key, v STRING) with `options`.
fn table(options: &[(&str, &str)]) -> TableSchema {
    table_of(&[("k", "BIGINT"), ("v", "STRING")], &["k"], options)
}

fn table_of(columns: &[(&str, &str)], keys: &[&str], options: &[(&str, &str)]) -> TableSchema {
    let mut opts: BTreeMap<String, String> = [("bucket".to_string(), "1".to_string())].into_iter().collect();
    opts.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TableSchema::create(
        columns.iter().map(|(n, t)| (n.to_string(), parse_type(t).unwrap())).collect(),
        vec![],
        keys.iter().map(|k| k.to_string()).collect(),
        opts,
        None,
    )
    .unwrap()
}

/// A batch of (k, v) rows in the table's row layout.
fn rows(schema: &TableSchema, keys: &[i64], values: &[Option<&str>]) -> RecordBatch {
    RecordBatch::try_new(
        table_arrow_schema(schema),
        vec![Arc::new(Int64Array::from(keys.to_vec())), Arc::new(StringArray::from(values.to_vec()))],
    )
    .unwrap()
}

/// One output row of a sorted run: (key, sequence number, kind, v).
type Row = (i64, i64, i8, Option<String>);

/// The rows of a key-value run (table (k, v)), emitted `chunk` rows at a time; also the sizes of
/// the emitted batches.
fn kv_rows(schema: &TableSchema, run: &SortedRun, chunk: usize) -> (Vec<Row>, Vec<usize>) {
    let mut out = vec![];
    let mut sizes = vec![];
    let kv = key_value_arrow_schema(schema);
    run.emit(&table_arrow_schema(schema), &kv, &[0], chunk, &mut |b| {
        sizes.push(b.num_rows());
        assert_eq!(b.schema(), kv);
        let k = b.column(0).as_primitive::<Int64Type>();
        let seq = b.column(1).as_primitive::<Int64Type>();
        let kind = b.column(2).as_primitive::<arrow_array::types::Int8Type>();
        let key_value = b.column(3).as_primitive::<Int64Type>();
        let v = b.column(4).as_string::<i32>();
        for i in 0..b.num_rows() {
            assert_eq!(k.value(i), key_value.value(i), "the key column and the value's key agree");
            out.push((k.value(i), seq.value(i), kind.value(i), v.is_valid(i).then(|| v.value(i).to_string())));
        }
        Ok(())
    })
    .unwrap();
    (out, sizes)
}

fn sorted(schema: &TableSchema, buffer: WriteBuffer) -> Result<Vec<Row>> {
    let merge = MergeFunction::from_schema(schema)?;
    let (run, changelog) = buffer.into_sorted_run(&table_arrow_schema(schema), &[0], &merge, false)?;
    assert!(changelog.is_none());
    Ok(kv_rows(schema, &run, 1000).0)
}

fn row(k: i64, seq: i64, kind: i8, v: &str) -> Row {
    (k, seq, kind, Some(v.to_string()))
}

#[test]
fn counts_rows_and_batches() {
    let s = table(&[]);
    let mut b = WriteBuffer::default();
    assert!(b.is_empty());
    b.push(7, rows(&s, &[1, 2, 3], &[Some("a"), Some("b"), Some("c")]), None, None, 0);
    b.push(3, rows(&s, &[4, 5], &[Some("d"), Some("e")]), Some(Arc::from(vec![1u32])), None, 3);
    b.push(7, rows(&s, &[1, 2, 3], &[Some("a"), Some("b"), Some("c")]), Some(Arc::from(vec![0u32, 2])), None, 4);
    // A part counts its selected rows, not its batch's.
    assert_eq!(b.rows(), 3 + 1 + 2);
    assert!(!b.is_empty());
    assert_eq!(b.batch_ids(), vec![3, 7]);
}

#[test]
fn sorts_by_key_across_parts() {
    let s = table(&[]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[30, 10, 20], &[Some("c"), Some("a"), Some("b")]), None, None, 100);
    b.push(1, rows(&s, &[5, 25], &[Some("x"), Some("y")]), None, None, 103);
    assert_eq!(
        sorted(&s, b).unwrap(),
        vec![
            row(5, 103, I, "x"),
            row(10, 101, I, "a"),
            row(20, 102, I, "b"),
            row(25, 104, I, "y"),
            row(30, 100, I, "c")
        ]
    );
}

#[test]
fn deduplicate_keeps_the_newest_version_of_a_key() {
    let s = table(&[]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[1, 2, 1, 1], &[Some("a1"), Some("b1"), Some("a2"), Some("a3")]), None, None, 0);
    // A later batch: key 2's newest version, and key 1's newest overall.
    b.push(1, rows(&s, &[2, 1], &[Some("b2"), Some("a4")]), None, None, 4);
    assert_eq!(sorted(&s, b).unwrap(), vec![row(1, 5, I, "a4"), row(2, 4, I, "b2")]);
}

#[test]
fn selected_rows_and_their_kinds_stay_aligned() {
    let s = table(&[]);
    let batch = rows(&s, &[1, 2, 3, 4], &[Some("a"), Some("b"), Some("c"), Some("d")]);
    let mut b = WriteBuffer::default();
    // Rows 3 and 1 of the batch (in that order), as -D and +U.
    b.push(0, batch, Some(Arc::from(vec![3u32, 1])), Some(vec![D, UA]), 10);
    assert_eq!(sorted(&s, b).unwrap(), vec![row(2, 11, UA, "b"), row(4, 10, D, "d")]);
}

#[test]
fn deduplicate_keeps_a_newest_retraction_in_the_run() {
    // A sorted run is a level-0 file: the retraction must reach it to retract older files' rows.
    let s = table(&[]);
    let mut b = WriteBuffer::default();
    b.push(
        0,
        rows(&s, &[1, 1, 2, 2], &[Some("a"), Some("a"), Some("b"), Some("c")]),
        None,
        Some(vec![I, D, UB, UA]),
        0,
    );
    assert_eq!(sorted(&s, b).unwrap(), vec![row(1, 1, D, "a"), row(2, 3, UA, "c")]);
}

#[test]
fn deduplicate_with_ignore_delete_keeps_the_newest_non_retraction() {
    let s = table(&[("ignore-delete", "true")]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[1, 1, 1, 2], &[Some("a"), Some("b"), Some("b"), Some("z")]), None, Some(vec![I, UA, D, D]), 0);
    // Key 2 has a lone -D: a single version is that version, whatever the engine.
    assert_eq!(sorted(&s, b).unwrap(), vec![row(1, 1, UA, "b"), row(2, 3, D, "z")]);
}

#[test]
fn first_row_keeps_the_oldest_version() {
    let s = table(&[("merge-engine", "first-row")]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[1, 2, 1], &[Some("a1"), Some("b1"), Some("a2")]), None, None, 0);
    b.push(1, rows(&s, &[2, 1], &[Some("b2"), Some("a3")]), None, None, 3);
    assert_eq!(sorted(&s, b).unwrap(), vec![row(1, 0, I, "a1"), row(2, 1, I, "b1")]);
}

#[test]
fn first_row_refuses_retractions_unless_ignored() {
    let s = table(&[("merge-engine", "first-row")]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[1, 1], &[Some("a"), Some("a")]), None, Some(vec![I, D]), 0);
    let err = sorted(&s, b).unwrap_err();
    assert!(err.to_string().contains("first-row"), "{err}");

    let s = table(&[("merge-engine", "first-row"), ("first-row.ignore-delete", "true")]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[1, 1, 1], &[Some("x"), Some("a"), Some("b")]), None, Some(vec![D, I, I]), 0);
    assert_eq!(sorted(&s, b).unwrap(), vec![row(1, 1, I, "a")]);
}

#[test]
fn sequence_field_orders_versions_before_the_sequence_number() {
    // deduplicate with `sequence.field`: the version with the largest ts wins, even if older.
    let s = table_of(&[("k", "BIGINT"), ("ts", "BIGINT"), ("v", "STRING")], &["k"], &[("sequence.field", "ts")]);
    let batch = RecordBatch::try_new(
        table_arrow_schema(&s),
        vec![
            Arc::new(Int64Array::from(vec![1, 1, 1, 2, 2])),
            Arc::new(Int64Array::from(vec![Some(5), Some(9), Some(7), Some(1), Some(1)])),
            Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"])),
        ],
    )
    .unwrap();
    let mut b = WriteBuffer::default();
    b.push(0, batch, None, None, 0);
    let merge = MergeFunction::from_schema(&s).unwrap();
    assert!(!merge.picks_by_kind());
    let (run, _) = b.into_sorted_run(&table_arrow_schema(&s), &[0], &merge, false).unwrap();
    let mut got = vec![];
    run.emit(&table_arrow_schema(&s), &key_value_arrow_schema(&s), &[0], 10, &mut |b| {
        let seq = b.column(1).as_primitive::<Int64Type>();
        let v = b.column(5).as_string::<i32>();
        got.extend((0..b.num_rows()).map(|i| (seq.value(i), v.value(i).to_string())));
        Ok(())
    })
    .unwrap();
    // Key 1: ts 9 (sequence number 1); key 2: equal ts, so the newer sequence number.
    assert_eq!(got, vec![(1, "b".to_string()), (4, "e".to_string())]);
}

#[test]
fn partial_update_computes_a_row_from_the_versions() {
    let s =
        table_of(&[("k", "BIGINT"), ("a", "STRING"), ("b", "STRING")], &["k"], &[("merge-engine", "partial-update")]);
    let batch = |keys: Vec<i64>, a: Vec<Option<&str>>, b: Vec<Option<&str>>| {
        RecordBatch::try_new(
            table_arrow_schema(&s),
            vec![Arc::new(Int64Array::from(keys)), Arc::new(StringArray::from(a)), Arc::new(StringArray::from(b))],
        )
        .unwrap()
    };
    let mut buf = WriteBuffer::default();
    buf.push(0, batch(vec![1, 2], vec![Some("a1"), Some("solo")], vec![None, None]), None, None, 10);
    buf.push(1, batch(vec![1, 1], vec![None, Some("a2")], vec![Some("b1"), None]), None, None, 12);
    let merge = MergeFunction::from_schema(&s).unwrap();
    let (run, _) = buf.into_sorted_run(&table_arrow_schema(&s), &[0], &merge, false).unwrap();
    let mut got = vec![];
    run.emit(&table_arrow_schema(&s), &key_value_arrow_schema(&s), &[0], 10, &mut |b| {
        let (k, seq, kind) = (
            b.column(0).as_primitive::<Int64Type>(),
            b.column(1).as_primitive::<Int64Type>(),
            b.column(2).as_primitive::<arrow_array::types::Int8Type>(),
        );
        let (a, bb) = (b.column(4).as_string::<i32>(), b.column(5).as_string::<i32>());
        for i in 0..b.num_rows() {
            let s = |c: &arrow_array::StringArray| c.is_valid(i).then(|| c.value(i).to_string());
            got.push((k.value(i), seq.value(i), kind.value(i), s(a), s(bb)));
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        got,
        vec![
            // Non-null columns overwrite in sequence order; the row takes the newest sequence number.
            (1, 13, I, Some("a2".to_string()), Some("b1".to_string())),
            (2, 11, I, Some("solo".to_string()), None),
        ]
    );
}

#[test]
fn changelog_run_holds_every_row_by_key_then_sequence() {
    let s = table(&[]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[2, 1, 2], &[Some("b1"), Some("a1"), Some("b2")]), None, Some(vec![I, I, UB]), 0);
    b.push(1, rows(&s, &[2, 1], &[Some("b3"), Some("a2")]), None, Some(vec![UA, D]), 3);
    let merge = MergeFunction::from_schema(&s).unwrap();
    let (run, changelog) = b.into_sorted_run(&table_arrow_schema(&s), &[0], &merge, true).unwrap();
    assert_eq!(kv_rows(&s, &run, 100).0, vec![row(1, 4, D, "a2"), row(2, 3, UA, "b3")]);
    let changelog = changelog.expect("asked for");
    assert_eq!(
        kv_rows(&s, &changelog, 100).0,
        vec![row(1, 1, I, "a1"), row(1, 4, D, "a2"), row(2, 0, I, "b1"), row(2, 2, UB, "b2"), row(2, 3, UA, "b3")]
    );
}

#[test]
fn composite_and_string_keys_sort_by_each_column_in_order() {
    // Two key columns (a STRING and an INT): the row-format path, stable for equal keys.
    let s = table_of(&[("p", "STRING"), ("q", "INT"), ("v", "STRING")], &["p", "q"], &[]);
    let batch = RecordBatch::try_new(
        table_arrow_schema(&s),
        vec![
            Arc::new(StringArray::from(vec!["b", "a", "b", "a", "a"])),
            Arc::new(Int32Array::from(vec![1, 2, 0, 2, 10])),
            Arc::new(StringArray::from(vec!["v0", "v1", "v2", "v3", "v4"])),
        ],
    )
    .unwrap();
    let mut b = WriteBuffer::default();
    b.push(0, batch, None, None, 0);
    let merge = MergeFunction::from_schema(&s).unwrap();
    let (run, changelog) = b.into_sorted_run(&table_arrow_schema(&s), &[0, 1], &merge, true).unwrap();
    let collect = |run: &SortedRun| {
        let mut got = vec![];
        run.emit(&table_arrow_schema(&s), &key_value_arrow_schema(&s), &[0, 1], 2, &mut |b| {
            let (p, q, seq) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<Int32Type>(),
                b.column(2).as_primitive::<Int64Type>(),
            );
            let v = b.column(6).as_string::<i32>();
            got.extend(
                (0..b.num_rows()).map(|i| (p.value(i).to_string(), q.value(i), seq.value(i), v.value(i).to_string())),
            );
            Ok(())
        })
        .unwrap();
        got
    };
    let t = |p: &str, q: i32, seq: i64, v: &str| (p.to_string(), q, seq, v.to_string());
    assert_eq!(collect(&run), vec![t("a", 2, 3, "v3"), t("a", 10, 4, "v4"), t("b", 0, 2, "v2"), t("b", 1, 0, "v0")]);
    assert_eq!(
        collect(&changelog.unwrap()),
        vec![t("a", 2, 1, "v1"), t("a", 2, 3, "v3"), t("a", 10, 4, "v4"), t("b", 0, 2, "v2"), t("b", 1, 0, "v0")]
    );
}

#[test]
fn int_keys_sort_numerically() {
    // A single INT key takes the integer path: -1 sorts before 0, 10 after 9.
    let s = table_of(&[("k", "INT"), ("v", "STRING")], &["k"], &[]);
    let batch = RecordBatch::try_new(
        table_arrow_schema(&s),
        vec![Arc::new(Int32Array::from(vec![10, -1, 9, 0])), Arc::new(StringArray::from(vec!["a", "b", "c", "d"]))],
    )
    .unwrap();
    let mut b = WriteBuffer::default();
    b.push(0, batch, None, None, 0);
    let merge = MergeFunction::from_schema(&s).unwrap();
    let (run, _) = b.into_sorted_run(&table_arrow_schema(&s), &[0], &merge, false).unwrap();
    let mut keys = vec![];
    run.emit(&table_arrow_schema(&s), &key_value_arrow_schema(&s), &[0], 10, &mut |b| {
        keys.extend(b.column(0).as_primitive::<Int32Type>().values().iter().copied());
        Ok(())
    })
    .unwrap();
    assert_eq!(keys, vec![-1, 0, 9, 10]);
}

#[test]
fn emit_hands_rows_in_chunks() {
    let s = table(&[]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[5, 4, 3], &[Some("e"), Some("d"), Some("c")]), None, None, 0);
    b.push(1, rows(&s, &[2, 1], &[Some("b"), Some("a")]), None, None, 3);
    let merge = MergeFunction::from_schema(&s).unwrap();
    let (run, _) = b.into_sorted_run(&table_arrow_schema(&s), &[0], &merge, false).unwrap();
    assert_eq!(run.num_rows(), 5);
    let (got, sizes) = kv_rows(&s, &run, 2);
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    // A chunk of 0 is taken as 1.
    assert_eq!(kv_rows(&s, &run, 0).1, vec![1; 5]);
}

#[test]
fn an_empty_buffer_makes_an_empty_run() {
    let s = table(&[]);
    assert_eq!(sorted(&s, WriteBuffer::default()).unwrap(), vec![]);
    let (run, first) = WriteBuffer::default().into_append_run();
    assert_eq!((run.num_rows(), first), (0, 0));
}

#[test]
fn append_run_keeps_arrival_order() {
    let s = table_of(&[("k", "BIGINT"), ("v", "STRING")], &[], &[("bucket", "-1")]);
    let mut b = WriteBuffer::default();
    b.push(0, rows(&s, &[3, 1, 2], &[Some("c"), Some("a"), Some("b")]), None, None, 40);
    b.push(1, rows(&s, &[9, 8], &[Some("i"), Some("h")]), Some(Arc::from(vec![1u32])), None, 43);
    b.push(0, rows(&s, &[3, 1, 2], &[Some("c"), Some("a"), Some("b")]), Some(Arc::from(vec![2u32, 0])), None, 44);
    let (run, first) = b.into_append_run();
    assert_eq!(first, 40);
    let mut keys = vec![];
    run.emit(&table_arrow_schema(&s), &table_arrow_schema(&s), &[], 4, &mut |b| {
        assert_eq!(b.num_columns(), 2, "the table's columns, no key-value columns");
        keys.extend(b.column(0).as_primitive::<Int64Type>().values().iter().copied());
        Ok(())
    })
    .unwrap();
    assert_eq!(keys, vec![3, 1, 2, 8, 2, 3]);
}
