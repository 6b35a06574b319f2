"""shoal: Apache Paimon tables from Python, with Arrow in and out.

shoal is a Rust-native table store that reads and writes the Apache Paimon table format (the
tables Flink, Spark, Java Paimon and pypaimon read and write). This package opens tables on local
disk or S3 and hands their rows to pyarrow, pandas, polars and DuckDB through the Arrow C data
interface: the column buffers shoal read are not copied on the way. Reads, writes and
maintenance run in Rust with the GIL released.

    >>> import shoal
    >>> t = shoal.Table.create("/tmp/wh/db.db/orders",
    ...                        "id BIGINT NOT NULL, name STRING, fee DECIMAL(10, 2)",
    ...                        primary_key=["id"], options={"bucket": "2"})
    >>> t.write(pandas_frame)                      # one commit: returns the snapshot id
    >>> t.to_pandas(filter="fee > 10")             # merged rows, as `shoal read --where`
    >>> t.to_arrow(snapshot=1)                     # time travel (also tag=, as_of=)
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import pyarrow as pa

from . import _shoal
from ._shoal import (
    AlreadyExistsError,
    CommitConflictError,
    CorruptionError,
    InvalidInputError,
    NotFoundError,
    ShoalError,
    TableExistsError,
    TableNotFoundError,
    TransientError,
    UnsupportedError,
    __version__,
)

__all__ = [
    "Table",
    "TailReader",
    "sql",
    "ShoalError",
    "InvalidInputError",
    "NotFoundError",
    "TableNotFoundError",
    "AlreadyExistsError",
    "TableExistsError",
    "CommitConflictError",
    "TransientError",
    "CorruptionError",
    "UnsupportedError",
    "__version__",
]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ROW_KIND_COLUMN = "__shoal_row_kind__"

TimeLike = Union[_dt.datetime, _dt.date, str, int]
DurationLike = Union[_dt.timedelta, str]


def _epoch_millis(value: TimeLike, what: str) -> "tuple[Optional[int], Optional[str]]":
    """A point in time as (epoch millis, None), or (None, text) for shoal to parse.

    A datetime without a time zone is UTC; a date is its midnight UTC; a string is parsed as
    ISO 8601 (UTC unless it carries an offset), else handed to shoal (epoch millis as text)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a datetime, a date, an ISO string or epoch millis")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return (value - _EPOCH) // _dt.timedelta(milliseconds=1), None
    if isinstance(value, _dt.date):
        return _epoch_millis(_dt.datetime(value.year, value.month, value.day), what)
    if isinstance(value, int):
        return value, None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return _epoch_millis(_dt.datetime.fromisoformat(text), what)
        except ValueError:
            return None, value
    raise InvalidInputError(f"{what} must be a datetime, a date, an ISO string or epoch millis, not {type(value).__name__}")


def _duration(value: Optional[DurationLike], what: str) -> Optional[str]:
    """A duration as shoal spells it: a timedelta becomes milliseconds, a string ("1h", "7d",
    "500ms") is passed on."""
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        return f"{value // _dt.timedelta(milliseconds=1)}ms"
    if isinstance(value, str):
        return value
    raise InvalidInputError(f"{what} must be a timedelta or a string like '1h', not {type(value).__name__}")


def _arrow_input(data: Any) -> Any:
    """What `write` takes, as an object with `__arrow_c_stream__` (pyarrow keeps the buffers of
    a pandas frame's numeric columns; polars hands its own)."""
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, (pa.Table, pa.RecordBatchReader)):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if isinstance(data, Mapping):
        return pa.table(dict(data))
    raise InvalidInputError(
        f"cannot write a {type(data).__name__}: pass a pyarrow Table, RecordBatch or RecordBatchReader, "
        "a pandas or polars DataFrame, or an object with __arrow_c_stream__"
    )


class Table:
    """A Paimon table: open it with `Table.open`, make one with `Table.create`.

    A handle keeps the table's schema as it was when opened (`reload()` takes a newer one); every
    read plans on the latest snapshot unless told otherwise. Handles may be shared by threads."""

    def __init__(self, raw: "_shoal.RawTable") -> None:
        self._raw = raw

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        url: str,
        *,
        storage_options: Optional[Mapping[str, str]] = None,
        branch: Optional[str] = None,
    ) -> "Table":
        """Opens the table at `url`: a local path, `file://`, `s3://bucket/path` (or `s3a://`),
        or `memory://` (in-process).

        `storage_options` configures S3 with the keys of the `object_store` crate's S3 builder
        (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, `aws_region`,
        `aws_endpoint`, `aws_allow_http`, ...), on top of the standard `AWS_*` environment
        variables. `branch` opens one of the table's branches (default main).

        Raises `TableNotFoundError` when there is no table there."""
        options = dict(storage_options) if storage_options else None
        return cls(_shoal.RawTable.open(str(url), options, branch))

    @classmethod
    def create(
        cls,
        url: str,
        schema: Any,
        *,
        primary_key: Optional[Sequence[str]] = None,
        partition_by: Optional[Sequence[str]] = None,
        options: Optional[Mapping[str, Any]] = None,
        comment: Optional[str] = None,
        storage_options: Optional[Mapping[str, str]] = None,
    ) -> "Table":
        """Creates a table at `url` and returns it; fails with `TableExistsError` if one is there.

        `schema` is either Paimon's SQL spelling, `"id BIGINT NOT NULL, name STRING, fee
        DECIMAL(20, 2)"`, or a `pyarrow.Schema` (or anything with `__arrow_c_schema__`).
        `primary_key` columns become NOT NULL; `options` are Paimon table options (`bucket`,
        `merge-engine`, `changelog-producer`, `snapshot.num-retained.max`, ...; values are turned
        into strings). Without a `bucket` option a primary-key table has dynamic buckets."""
        if options is not None:
            options = {str(k): _option_text(v) for k, v in options.items()}
        sql_columns = schema if isinstance(schema, str) else None
        arrow_schema = None if isinstance(schema, str) else schema
        if arrow_schema is not None and not hasattr(arrow_schema, "__arrow_c_schema__"):
            raise InvalidInputError("schema must be SQL column text or a pyarrow.Schema")
        raw = _shoal.RawTable.create(
            str(url),
            sql_columns,
            arrow_schema,
            list(primary_key) if primary_key else None,
            list(partition_by) if partition_by else None,
            options,
            comment,
            dict(storage_options) if storage_options else None,
        )
        return cls(raw)

    def reload(self) -> "Table":
        """The same table with its latest schema (after an `ALTER TABLE` by anyone)."""
        return Table(self._raw.reload())

    # ------------------------------------------------------------------ metadata

    @property
    def location(self) -> str:
        return self._raw.location

    @property
    def branch(self) -> str:
        return self._raw.branch

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the table's rows."""
        return pa.schema(self._raw.schema)

    @property
    def primary_keys(self) -> List[str]:
        return list(self._raw.primary_keys)

    @property
    def partition_keys(self) -> List[str]:
        return list(self._raw.partition_keys)

    @property
    def options(self) -> Dict[str, str]:
        """The table's Paimon options."""
        return dict(self._raw.options)

    def version(self) -> Optional[int]:
        """The latest snapshot id (None before the first commit)."""
        return self._raw.latest_snapshot_id()

    def snapshots(self) -> List[Dict[str, Any]]:
        """The retained snapshots, oldest first: id, commit kind, commit time (UTC), user,
        identifier and total record count (rows in the files, retractions included, as Paimon
        counts them)."""
        out = []
        for sid, kind, millis, user, ident, rows in self._raw.snapshots():
            out.append(
                {
                    "snapshot_id": sid,
                    "commit_kind": kind,
                    "commit_time": _EPOCH + _dt.timedelta(milliseconds=millis),
                    "commit_user": user,
                    "commit_identifier": ident,
                    "total_record_count": rows,
                }
            )
        return out

    def tags(self) -> Dict[str, int]:
        """Tag name -> the snapshot it keeps."""
        return dict(self._raw.tags())

    def __repr__(self) -> str:
        branch = "" if self.branch == "main" else f", branch={self.branch!r}"
        return f"shoal.Table({self.location!r}{branch})"

    # ------------------------------------------------------------------ reading

    def _read_args(self, snapshot, tag, as_of, columns, filter) -> Dict[str, Any]:
        millis, text = (None, None) if as_of is None else _epoch_millis(as_of, "as_of")
        if isinstance(columns, str):
            columns = [columns]
        return {
            "snapshot": snapshot,
            "tag": tag,
            "as_of_millis": millis,
            "as_of": text,
            "columns": list(columns) if columns is not None else None,
            "filter": filter,
        }

    def to_arrow(
        self,
        *,
        snapshot: Optional[int] = None,
        tag: Optional[str] = None,
        as_of: Optional[TimeLike] = None,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
    ) -> pa.Table:
        """The table's rows (merged by primary key) as a `pyarrow.Table`.

        At most one of `snapshot` (an id), `tag` (a name) and `as_of` (the latest snapshot
        committed at or before a time: a datetime, UTC when naive, an ISO string, UTC unless it
        has an offset, or epoch millis) travels in time; the rows then have the schema that
        snapshot was written with. `columns` projects; `filter` is a SQL predicate, as `shoal
        read --where` takes it (`"fee > 100 AND name LIKE 'a%'"`), evaluated by DataFusion so
        partition filters prune and file statistics skip files.

        The batches are read in Rust with the GIL released, split by split in plan order, and
        handed to pyarrow through the Arrow C stream interface without copying their buffers."""
        raw = self._raw.read(**self._read_args(snapshot, tag, as_of, columns, filter))
        return pa.RecordBatchReader.from_stream(raw).read_all()

    def to_arrow_batch_reader(
        self,
        *,
        snapshot: Optional[int] = None,
        tag: Optional[str] = None,
        as_of: Optional[TimeLike] = None,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
    ) -> pa.RecordBatchReader:
        """The rows as a `pyarrow.RecordBatchReader` that reads batches as they are asked for,
        for tables larger than memory (arguments as in `to_arrow`). Splits are read in parallel
        and their batches interleave. The snapshot is planned now; reading follows."""
        raw = self._raw.scan(**self._read_args(snapshot, tag, as_of, columns, filter))
        return pa.RecordBatchReader.from_stream(raw)

    def to_pandas(
        self,
        *,
        snapshot: Optional[int] = None,
        tag: Optional[str] = None,
        as_of: Optional[TimeLike] = None,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        **to_pandas_kwargs: Any,
    ):
        """The rows as a pandas DataFrame (`to_arrow(...).to_pandas(**to_pandas_kwargs)`)."""
        return self.to_arrow(snapshot=snapshot, tag=tag, as_of=as_of, columns=columns, filter=filter).to_pandas(
            **to_pandas_kwargs
        )

    def to_polars(
        self,
        *,
        snapshot: Optional[int] = None,
        tag: Optional[str] = None,
        as_of: Optional[TimeLike] = None,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
    ):
        """The rows as a polars DataFrame (needs polars installed)."""
        try:
            import polars as pl
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("Table.to_polars needs polars: pip install polars") from e
        return pl.from_arrow(self.to_arrow(snapshot=snapshot, tag=tag, as_of=as_of, columns=columns, filter=filter))

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule interface: the latest snapshot's rows as a lazy stream, so that
        `duckdb.sql("SELECT ... FROM t")`, `polars.DataFrame(t)` or `pyarrow.table(t)` read the
        table directly."""
        return self._raw.scan().__arrow_c_stream__(requested_schema)

    # ------------------------------------------------------------------ writing

    def write(
        self,
        data: Any,
        *,
        row_kinds: Union[None, str, Sequence[str], pa.Array, pa.ChunkedArray] = None,
        commit_user: Optional[str] = None,
        commit_identifier: Optional[int] = None,
        mode: str = "append",
        partition: Optional[Mapping[str, Any]] = None,
    ) -> Optional[int]:
        """Writes rows and commits them as one snapshot; returns its id (None when there was
        nothing to commit, or when `commit_identifier` was already committed).

        `data`: a pyarrow Table, RecordBatch or RecordBatchReader (streamed: any size), a pandas
        or polars DataFrame, or any object with `__arrow_c_stream__`. Its columns are matched to
        the table's by name; types are cast when that is safe.

        `row_kinds`: each row's kind, `+I` (insert, the default), `-U`, `+U` or `-D` (delete by
        primary key), either as the name of a column of `data` (not written) or as a sequence
        with one kind per row.

        Exactly once: with `commit_user` and `commit_identifier` (an increasing number, e.g. a
        batch or checkpoint id), a retry of a write that was already committed commits nothing
        and returns None, as Paimon's streaming commits do.

        `mode="overwrite"` replaces rows instead (INSERT OVERWRITE): the `partition` given
        (e.g. `{"dt": "2024-01-01"}`), else the partitions the rows are in, or the whole table
        (unpartitioned, or `dynamic-partition-overwrite = false`)."""
        if mode not in ("append", "overwrite"):
            raise InvalidInputError(f"mode must be 'append' or 'overwrite', not {mode!r}")
        data = _arrow_input(data)
        kind_column = None
        if isinstance(row_kinds, str):
            kind_column = row_kinds
        elif row_kinds is not None:
            table = data if isinstance(data, pa.Table) else pa.table(data)
            kinds = row_kinds if isinstance(row_kinds, (pa.Array, pa.ChunkedArray)) else pa.array(list(row_kinds), pa.string())
            if len(kinds) != table.num_rows:
                raise InvalidInputError(f"{len(kinds)} row kinds for {table.num_rows} rows")
            data = table.append_column(_ROW_KIND_COLUMN, kinds)
            kind_column = _ROW_KIND_COLUMN
        parts = {str(k): _option_text(v) for k, v in partition.items()} if partition else None
        return self._raw.write(data, kind_column, commit_user, commit_identifier, mode == "overwrite", parts)

    # ------------------------------------------------------------------ maintenance

    def compact(self, *, full: bool = False, partition: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Compacts the table's buckets (what universal compaction picks, or everything into
        the last level with `full=True`), optionally only in one partition; safe beside running
        writers. Returns what was done (`snapshot_id` None: nothing to compact)."""
        parts = {str(k): _option_text(v) for k, v in partition.items()} if partition else None
        return self._raw.compact(full, parts)

    def expire_snapshots(
        self,
        *,
        retain_max: Optional[int] = None,
        retain_min: Optional[int] = None,
        older_than: Optional[DurationLike] = None,
        max_deletes: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Expires old snapshots and deletes the files only they referenced. Arguments left out
        take the table's options (`snapshot.num-retained.min/max`, `snapshot.time-retained`);
        `older_than` is a timedelta or a string like "1h"."""
        return self._raw.expire_snapshots(retain_max, retain_min, _duration(older_than, "older_than"), max_deletes)

    def create_tag(
        self,
        name: str,
        *,
        snapshot: Optional[int] = None,
        time_retained: Optional[DurationLike] = None,
    ) -> int:
        """Tags a snapshot (the latest by default), keeping its files alive; with
        `time_retained` the tag is deleted once that has passed. Returns the snapshot id."""
        return self._raw.create_tag(name, snapshot, _duration(time_retained, "time_retained"))

    def delete_tag(self, name: str) -> None:
        """Deletes a tag (and the files only it kept)."""
        self._raw.delete_tag(name)

    def rollback(self, to: Union[int, str]) -> Dict[str, Any]:
        """Rolls the table back to a snapshot id (an int) or a tag (a str): later snapshots and
        tags and their files are deleted."""
        if isinstance(to, bool) or not isinstance(to, (int, str)):
            raise InvalidInputError("rollback takes a snapshot id (int) or a tag name (str)")
        if isinstance(to, int):
            return self._raw.rollback(to, None)
        return self._raw.rollback(None, to)

    # ------------------------------------------------------------------ following changes

    def tail(
        self,
        *,
        from_: Union[None, str, int, _dt.datetime, _dt.date] = None,
        consumer_id: Optional[str] = None,
        interval: Optional[DurationLike] = None,
        follow: bool = True,
    ) -> "TailReader":
        """Follows the table's changes as they are committed, as `shoal tail` does: an iterator
        of `pyarrow.RecordBatch`es whose first column `_ROW_KIND` holds each row's kind (`+I`,
        `-U`, `+U`, `-D`), followed by the table's columns.

        `from_`: "full" (the default unless the table's `scan.mode` says otherwise: the latest
        snapshot in full, then its changes), "latest" (only new changes), "earliest" (the
        changes of every retained snapshot), a snapshot id (int), or a time (datetime, ISO
        string: the changes committed since). With `consumer_id` the progress is recorded in the
        table (snapshot expiry keeps what the consumer still needs) and a later tail with the
        same id resumes there. `interval`: how often to look for new snapshots. With
        `follow=False` the iterator stops once it has caught up; otherwise it waits (the GIL
        released; Ctrl-C interrupts it)."""
        start = start_snapshot = start_millis = None
        if isinstance(from_, bool):
            raise InvalidInputError("from_ must be 'full', 'latest', 'earliest', a snapshot id or a time")
        if isinstance(from_, str) and from_.strip().isdigit() and len(from_.strip()) < 13:
            from_ = int(from_)  # a snapshot id, as `shoal tail --from 42` reads it
        if isinstance(from_, int):
            start_snapshot = from_
        elif isinstance(from_, str) and from_.strip() in ("full", "latest-full", "latest", "earliest"):
            start = from_.strip()
        elif from_ is not None:
            start_millis, start = _epoch_millis(from_, "from_")
        raw = self._raw.tail(start, start_snapshot, start_millis, consumer_id, _duration(interval, "interval"), follow)
        return TailReader(raw)


class TailReader:
    """An iterator of a table's changes (see `Table.tail`)."""

    def __init__(self, raw: "_shoal.TailReader") -> None:
        self._raw = raw

    @property
    def schema(self) -> pa.Schema:
        """`_ROW_KIND` then the table's columns."""
        return pa.schema(self._raw.schema)

    @property
    def snapshot_id(self) -> Optional[int]:
        """The snapshot of the last batch handed out."""
        return self._raw.snapshot_id

    def checkpoint(self) -> Optional[int]:
        """Records the consumer's progress now; returns the next snapshot to read."""
        return self._raw.checkpoint()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        stream = next(self._raw)
        return pa.RecordBatchReader.from_stream(stream).read_next_batch()


def sql(warehouse: str, query: str) -> pa.Table:
    """Runs SQL over a warehouse (tables named `db.table`, Paimon's filesystem catalog layout
    `<warehouse>/<db>.db/<table>`) through DataFusion, as `shoal sql` does: queries, INSERT,
    UPDATE, DELETE, MERGE INTO, `CALL sys.compact(...)`, `VERSION AS OF`. Statements are
    separated by ';'; returns the last one's rows as a `pyarrow.Table`. S3 warehouses take
    their settings from the `AWS_*` environment variables."""
    return pa.RecordBatchReader.from_stream(_shoal.sql(str(warehouse), query)).read_all()


def _option_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
