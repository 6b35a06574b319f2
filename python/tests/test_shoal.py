"""Tests of the shoal Python package: real tables on local disk and on an S3 server (moto, in
this process), and a table written by Java Paimon 0.9 (tools/oracle)."""

import datetime as dt
import decimal
import pathlib
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import shoal

D = decimal.Decimal


def rows_by(table: pa.Table, *keys: str) -> list:
    return sorted(table.to_pylist(), key=lambda r: tuple(r[k] for k in keys))


# ---------------------------------------------------------------------- pandas


def test_pandas_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    t = shoal.Table.create(
        tmp_path / "wh/db.db/orders",
        "id BIGINT NOT NULL, name STRING, fee DECIMAL(10, 2), qty INT, price DOUBLE, day DATE, ts TIMESTAMP(6)",
        primary_key=["id"],
        options={"bucket": 2},
    )
    df = pd.DataFrame(
        {
            "id": [3, 1, 2],
            "name": ["c", "a", None],
            "fee": [D("1.50"), D("20.00"), D("0.05")],
            "qty": [7, 8, 9],
            "price": [1.25, -3.5, 1e10],
            "day": [dt.date(2024, 1, 2), dt.date(1999, 12, 31), dt.date(2024, 2, 29)],
            "ts": pd.to_datetime(["2024-01-02 03:04:05.123456", "2000-01-01 00:00:00.000000", "2024-02-29 23:59:59.000001"]),
        }
    )
    assert t.write(df) == 1
    out = t.to_pandas().sort_values("id").reset_index(drop=True)
    expected = df.sort_values("id").reset_index(drop=True)
    assert list(out.columns) == list(expected.columns)
    assert out.to_dict("records") == expected.to_dict("records")

    # Upsert and delete by primary key, then travel back.
    change = pd.DataFrame({"id": [1, 2], "name": ["A", None], "fee": [D("21.00"), None], "qty": [1, None],
                           "price": [0.0, None], "day": [None, None], "ts": pd.to_datetime([None, None])})
    assert t.write(change, row_kinds=["+U", "-D"]) == 2
    now = t.to_pandas().sort_values("id")
    assert now["id"].tolist() == [1, 3]
    assert now["name"].tolist() == ["A", "c"]
    names = t.to_pandas(snapshot=1).sort_values("id")["name"].tolist()
    assert [None if pd.isna(n) else n for n in names] == ["a", None, "c"]


# ---------------------------------------------------------------------- Java Paimon's table


def test_reads_a_table_written_by_java_paimon(tmp_path, java_oracle):
    table_dir = tmp_path / "wh/db.db/java_orders"
    spec = {
        "fields": [
            {"name": "id", "type": "BIGINT NOT NULL"},
            {"name": "dt", "type": "STRING"},
            {"name": "amount", "type": "DECIMAL(20,2)"},
            {"name": "ts", "type": "TIMESTAMP(3)"},
            {"name": "note", "type": "STRING"},
        ],
        "primary_keys": ["dt", "id"],
        "partition_keys": ["dt"],
        "options": {"bucket": "2", "file.format": "parquet"},
        "commits": [
            {"rows": [{"id": i, "dt": "a" if i % 2 else "b", "amount": f"{i}.25", "ts": f"2024-01-0{1 + i % 9} 10:00:00.500",
                       "note": f"n{i}"} for i in range(1, 11)]},
            {"rows": [{"_row_kind": "-U", "id": 1, "dt": "a"},
                      {"_row_kind": "+U", "id": 1, "dt": "a", "amount": "100.00", "note": "updated"},
                      {"_row_kind": "-D", "id": 2, "dt": "b"}]},
            {"rows": [{"id": 11, "dt": "a", "amount": "0.01"}], "compact": True},
        ],
    }
    java_oracle(table_dir, spec)

    t = shoal.Table.open(str(table_dir))
    assert t.primary_keys == ["dt", "id"] and t.partition_keys == ["dt"]
    got = rows_by(t.to_arrow(), "id")
    assert [r["id"] for r in got] == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    one = got[0]
    assert (one["dt"], one["amount"], one["note"]) == ("a", D("100.00"), "updated")
    assert one["ts"] is None  # the +U row carried no ts
    three = got[1]
    assert (three["amount"], three["ts"], three["note"]) == (D("3.25"), dt.datetime(2024, 1, 4, 10, 0, 0, 500000), "n3")
    assert got[-1] == {"id": 11, "dt": "a", "amount": D("0.01"), "ts": None, "note": None}

    # Java's first snapshot, a projection and a predicate (pruned by partition).
    first = rows_by(t.to_arrow(snapshot=1, columns=["id", "note"]), "id")
    assert first == [{"id": i, "note": f"n{i}"} for i in range(1, 11)]
    filtered = rows_by(t.to_arrow(filter="dt = 'b' AND amount > 5", columns=["id"]), "id")
    assert filtered == [{"id": 6}, {"id": 8}, {"id": 10}]


# ---------------------------------------------------------------------- threads and the GIL


def test_reads_from_two_threads_run_at_once_with_the_gil_released(s3_server):
    """Two threads read two tables on an S3 server that runs in this process. The server holds
    the first data-file request of each table until the other table's has arrived too: both
    reads are then in flight at the same time, and the server's (Python) threads could answer
    only because neither reading thread held the GIL while it waited. A binding holding the GIL
    during I/O would deadlock the server and fail here (after the barrier's timeout), however
    fast or slow the machine."""
    s3_server.create_bucket("gil")
    options = s3_server.storage_options()
    tables = {}
    for name in ("a", "b"):
        t = shoal.Table.create(f"s3://gil/wh/db.db/{name}", "k BIGINT, v STRING", storage_options=options)
        t.write(pa.table({"k": pa.array(range(2000), pa.int64()), "v": [f"{name}{i}" for i in range(2000)]}))
        tables[name] = shoal.Table.open(f"s3://gil/wh/db.db/{name}", storage_options=options)

    barrier = threading.Barrier(2, timeout=60)
    seen = set()
    lock = threading.Lock()

    def hold_first_data_read(environ):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or not path.endswith(".parquet") or "/db.db/" not in path:
            return
        name = path.split("/db.db/", 1)[1].split("/", 1)[0]
        with lock:
            first = name not in seen
            seen.add(name)
        if first:
            barrier.wait()

    results, errors = {}, []

    def read(name):
        try:
            results[name] = tables[name].to_arrow()
        except BaseException as e:  # reported below
            errors.append(e)

    s3_server.hook = hold_first_data_read
    try:
        threads = [threading.Thread(target=read, args=(name,)) for name in tables]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=180)
    finally:
        s3_server.hook = None
    assert not errors, errors
    assert seen == {"a", "b"} and not barrier.broken
    for name, got in results.items():
        assert got.num_rows == 2000
        assert sorted(got.column("v").to_pylist())[:2] == sorted(f"{name}{i}" for i in range(2000))[:2]


# ---------------------------------------------------------------------- no copy


def test_to_arrow_does_not_copy_column_buffers(tmp_path):
    """pyarrow counts the bytes its memory pool allocated; buffers imported through the Arrow C
    data interface stay in Rust's allocations, so reading a 16 MB table must not grow the count
    by anything near 16 MB. Copying them into pyarrow (concatenating, casting, taking, building
    arrays from Python) would, as the control at the end shows."""
    n = 1_000_000
    t = shoal.Table.create(tmp_path / "wh/db.db/big", "k BIGINT NOT NULL, v DOUBLE NOT NULL")
    t.write(pa.table({"k": pa.array(range(n), pa.int64()), "v": pc.multiply(pa.array(range(n), pa.float64()), 0.5)}))
    data_bytes = 16 * n
    t.to_arrow(columns=["k"])  # any lazy first-use allocations of pyarrow

    before = pa.total_allocated_bytes()
    got = t.to_arrow()
    grown = pa.total_allocated_bytes() - before
    assert got.num_rows == n and got.nbytes >= data_bytes
    assert pc.sum(got.column("k")).as_py() == n * (n - 1) // 2
    assert grown < data_bytes // 20, f"to_arrow allocated {grown} bytes in pyarrow for {data_bytes} bytes of data"

    # The control: a copy of one column into pyarrow's memory is seen.
    copied = pc.multiply(got.column("v"), 1.0)
    assert pa.total_allocated_bytes() - before >= 8 * n
    assert copied.length() == n


# ---------------------------------------------------------------------- streams and other readers


def test_batch_reader_streams_and_duckdb_polars_read_the_table(tmp_path):
    t = shoal.Table.create(tmp_path / "wh/db.db/s", "k BIGINT NOT NULL, v STRING", primary_key=["k"],
                           options={"bucket": "3"})
    for part in range(3):
        t.write(pa.table({"k": pa.array(range(part * 100, part * 100 + 100), pa.int64()),
                          "v": [str(i) for i in range(100)]}))
    reader = t.to_arrow_batch_reader(columns=["k"])
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.schema == pa.schema([pa.field("k", pa.int64(), nullable=False)])
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 300 and len(sizes) >= 3

    assert pa.table(t).num_rows == 300  # pyarrow through __arrow_c_stream__

    duckdb = pytest.importorskip("duckdb")
    tbl = t  # noqa: F841 - DuckDB finds the variable by name
    assert duckdb.sql("SELECT count(*), sum(k) FROM tbl").fetchall() == [(300, sum(range(300)))]

    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(t)
    assert frame.height == 300 and frame["k"].sum() == sum(range(300))
    assert t.to_polars(filter="k < 10").height == 10


def test_write_takes_polars_readers_and_dicts_in_any_column_order(tmp_path):
    pl = pytest.importorskip("polars")
    t = shoal.Table.create(tmp_path / "wh/db.db/w", pa.schema([("k", pa.int64()), ("v", pa.string())]))
    assert t.write(pl.DataFrame({"v": ["x", "y"], "k": [1, 2]})) == 1
    schema = pa.schema([("k", pa.int64()), ("v", pa.string())])
    batches = (pa.record_batch([pa.array([i], pa.int64()), pa.array([f"r{i}"])], schema=schema) for i in range(3, 6))
    assert t.write(pa.RecordBatchReader.from_batches(schema, batches)) == 2
    assert t.write({"k": [9], "v": ["z"]}) == 3
    assert sorted(t.to_arrow().column("k").to_pylist()) == [1, 2, 3, 4, 5, 9]


def test_exactly_once_with_an_identifier(tmp_path):
    t = shoal.Table.create(tmp_path / "wh/db.db/e", "k BIGINT NOT NULL, v STRING", primary_key=["k"],
                           options={"bucket": "1"})
    batch = pa.table({"k": [1], "v": ["a"]})
    assert t.write(batch, commit_user="job-1", commit_identifier=7) == 1
    assert t.write(batch, commit_user="job-1", commit_identifier=7) is None  # a retry: nothing new
    assert t.write(pa.table({"k": [2], "v": ["b"]}), commit_user="job-1", commit_identifier=8) == 2
    assert t.version() == 2
    assert [s["commit_identifier"] for s in t.snapshots()] == [7, 8]


def test_overwrite_replaces_a_partition(tmp_path):
    t = shoal.Table.create(tmp_path / "wh/db.db/p", "dt STRING, k BIGINT", partition_by=["dt"])
    t.write({"dt": ["a", "a", "b"], "k": [1, 2, 3]})
    t.write({"dt": ["a"], "k": [10]}, mode="overwrite", partition={"dt": "a"})
    assert rows_by(t.to_arrow(), "dt", "k") == [{"dt": "a", "k": 10}, {"dt": "b", "k": 3}]
    assert t.snapshots()[-1]["commit_kind"] == "OVERWRITE"


# ---------------------------------------------------------------------- time travel


def test_as_of_takes_datetimes_and_iso_strings_utc_unless_zoned(tmp_path):
    t = shoal.Table.create(tmp_path / "wh/db.db/tt", "k BIGINT NOT NULL", primary_key=["k"], options={"bucket": "1"})
    t.write({"k": [1]})
    first = t.snapshots()[0]["commit_time"]
    # the next commit is at a later millisecond
    while dt.datetime.now(dt.timezone.utc) <= first + dt.timedelta(milliseconds=2):
        pass
    t.write({"k": [2]})
    one = [{"k": 1}]
    assert t.to_arrow(as_of=first).to_pylist() == one
    assert t.to_arrow(as_of=first.replace(tzinfo=None)).to_pylist() == one  # naive: UTC
    assert t.to_arrow(as_of=first.strftime("%Y-%m-%d %H:%M:%S.%f")).to_pylist() == one  # no zone: UTC
    zoned = first.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert t.to_arrow(as_of=zoned.isoformat()).to_pylist() == one  # +02:00: the same instant
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert t.to_arrow(as_of=(first - epoch) // dt.timedelta(milliseconds=1)).to_pylist() == one  # epoch millis
    assert len(t.to_arrow(as_of=dt.datetime.now(dt.timezone.utc))) == 2
    with pytest.raises(shoal.ShoalError):
        t.to_arrow(as_of=dt.datetime(2000, 1, 1))  # before the first snapshot


# ---------------------------------------------------------------------- maintenance


def test_compact_tag_expire_and_rollback(tmp_path):
    t = shoal.Table.create(tmp_path / "wh/db.db/m", "k BIGINT NOT NULL, v STRING", primary_key=["k"],
                           options={"bucket": "1"})
    for i in range(3):
        t.write({"k": [i, 100], "v": [f"v{i}", f"latest{i}"]})
    report = t.compact(full=True)
    assert report["snapshot_id"] == 4 and report["files_before"] == 3 and report["files_after"] == 1
    assert t.create_tag("two", snapshot=2) == 2
    assert t.tags() == {"two": 2}
    expired = t.expire_snapshots(retain_max=1)
    assert expired["snapshots_expired"] == 3 and expired["earliest_snapshot"] == 4
    assert rows_by(t.to_arrow(tag="two"), "k") == [{"k": 0, "v": "v0"}, {"k": 1, "v": "v1"}, {"k": 100, "v": "latest1"}]
    rolled = t.rollback("two")
    assert rolled["snapshot_id"] == 2 and t.version() == 2
    assert rows_by(t.to_arrow(), "k") == [{"k": 0, "v": "v0"}, {"k": 1, "v": "v1"}, {"k": 100, "v": "latest1"}]
    t.delete_tag("two")
    assert t.tags() == {}


def test_tail_iterates_changes_with_row_kinds_and_resumes_a_consumer(tmp_path):
    t = shoal.Table.create(tmp_path / "wh/db.db/c", "k BIGINT NOT NULL, v STRING", primary_key=["k"],
                           options={"bucket": "1"})
    t.write({"k": [1, 2], "v": ["a", "b"]})
    t.write({"k": [1], "v": [None]}, row_kinds=["-D"])

    def changes(reader):
        out = []
        for batch in reader:
            assert batch.schema.names == ["_ROW_KIND", "k", "v"]
            out.extend(zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()))
        return out

    reader = t.tail(from_="earliest", consumer_id="dash", follow=False)
    assert changes(reader) == [("+I", 1), ("+I", 2), ("-D", 1)]
    t.write({"k": [3], "v": ["c"]})
    assert changes(t.tail(from_="earliest", consumer_id="dash", follow=False)) == [("+I", 3)]  # resumed
    assert changes(t.tail(from_="full", follow=False)) == [("+I", 2), ("+I", 3)]


def test_tail_follows_new_commits(tmp_path):
    """Following: `next()` waits (the GIL released) until another thread commits."""
    t = shoal.Table.create(tmp_path / "wh/db.db/f", "k BIGINT NOT NULL", primary_key=["k"], options={"bucket": "1"})
    t.write({"k": [1]})
    reader = t.tail(from_="full", interval="50ms")
    assert next(reader).column(1).to_pylist() == [1]
    writer = threading.Thread(target=t.write, args=({"k": [2]},))
    writer.start()
    batch = next(reader)  # returns once the writer's snapshot is there
    writer.join()
    assert (batch.column(0).to_pylist(), batch.column(1).to_pylist(), reader.snapshot_id) == (["+I"], [2], 2)


# ---------------------------------------------------------------------- SQL and errors


def test_sql_over_a_warehouse(tmp_path):
    wh = tmp_path / "wh"
    t = shoal.Table.create(wh / "db.db/t", "k BIGINT NOT NULL, v STRING", primary_key=["k"], options={"bucket": "1"})
    t.write({"k": [1, 2], "v": ["a", "b"]})
    shoal.sql(str(wh), "INSERT INTO db.t VALUES (3, 'c')")
    got = shoal.sql(str(wh), "SELECT count(*) AS n, max(v) AS top FROM db.t")
    assert got.to_pylist() == [{"n": 3, "top": "c"}]


def test_errors_are_python_exceptions_with_shoals_messages(tmp_path):
    with pytest.raises(shoal.TableNotFoundError, match="no table at"):
        shoal.Table.open(str(tmp_path / "nothing"))
    assert issubclass(shoal.TableNotFoundError, shoal.NotFoundError)
    assert issubclass(shoal.NotFoundError, shoal.ShoalError)
    t = shoal.Table.create(tmp_path / "wh/db.db/x", "k BIGINT NOT NULL, v STRING", primary_key=["k"],
                           options={"bucket": "1"})
    with pytest.raises(shoal.TableExistsError, match="already exists"):
        shoal.Table.create(tmp_path / "wh/db.db/x", "k BIGINT NOT NULL")
    with pytest.raises(shoal.InvalidInputError, match='unknown column "nope"'):
        t.to_arrow(columns=["nope"])
    with pytest.raises(shoal.InvalidInputError, match="filter"):
        t.to_arrow(filter="nope > 1")
    with pytest.raises(shoal.InvalidInputError, match="do not match the table's columns"):
        t.write({"k": [1], "w": ["a"]})
    with pytest.raises(shoal.InvalidInputError, match="expected \\+I, -U, \\+U or -D"):
        t.write({"k": [1], "v": ["a"]}, row_kinds=["X"])
    with pytest.raises(shoal.InvalidInputError, match="NOT NULL|null"):
        t.write({"k": pa.array([None], pa.int64()), "v": ["a"]})
    with pytest.raises(shoal.InvalidInputError, match="not an S3 option"):
        shoal.Table.open("s3://bucket/t", storage_options={"colour": "blue"})
    with pytest.raises(shoal.NotFoundError, match="tag \"nope\" does not exist"):
        t.to_arrow(tag="nope")
    assert t.version() is None


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    """The first Python block of the README's "Python" section, as a user would paste it."""
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("\n## Python\n"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("```", start)]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Python)", "exec"), {})
    out = capsys.readouterr().out
    assert "[{'n': 3}]" in out  # ann, bob (updated), dee; cy deleted; the retried write not twice
