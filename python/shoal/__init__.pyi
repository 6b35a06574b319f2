# Type hints of the shoal package (the implementation is shoal/__init__.py over the Rust
# extension shoal._shoal).
import datetime
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import pyarrow as pa

from ._shoal import (
    AlreadyExistsError as AlreadyExistsError,
    CommitConflictError as CommitConflictError,
    CorruptionError as CorruptionError,
    InvalidInputError as InvalidInputError,
    NotFoundError as NotFoundError,
    ShoalError as ShoalError,
    TableExistsError as TableExistsError,
    TableNotFoundError as TableNotFoundError,
    TransientError as TransientError,
    UnsupportedError as UnsupportedError,
    __version__ as __version__,
)

TimeLike = Union[datetime.datetime, datetime.date, str, int]
DurationLike = Union[datetime.timedelta, str]

class Table:
    @classmethod
    def open(
        cls,
        url: str,
        *,
        storage_options: Optional[Mapping[str, str]] = ...,
        branch: Optional[str] = ...,
    ) -> Table: ...
    @classmethod
    def create(
        cls,
        url: str,
        schema: Union[str, pa.Schema, Any],
        *,
        primary_key: Optional[Sequence[str]] = ...,
        partition_by: Optional[Sequence[str]] = ...,
        options: Optional[Mapping[str, Any]] = ...,
        comment: Optional[str] = ...,
        storage_options: Optional[Mapping[str, str]] = ...,
    ) -> Table: ...
    def reload(self) -> Table: ...
    @property
    def location(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def schema(self) -> pa.Schema: ...
    @property
    def primary_keys(self) -> List[str]: ...
    @property
    def partition_keys(self) -> List[str]: ...
    @property
    def options(self) -> Dict[str, str]: ...
    def version(self) -> Optional[int]: ...
    def snapshots(self) -> List[Dict[str, Any]]: ...
    def tags(self) -> Dict[str, int]: ...
    def to_arrow(
        self,
        *,
        snapshot: Optional[int] = ...,
        tag: Optional[str] = ...,
        as_of: Optional[TimeLike] = ...,
        columns: Optional[Sequence[str]] = ...,
        filter: Optional[str] = ...,
    ) -> pa.Table: ...
    def to_arrow_batch_reader(
        self,
        *,
        snapshot: Optional[int] = ...,
        tag: Optional[str] = ...,
        as_of: Optional[TimeLike] = ...,
        columns: Optional[Sequence[str]] = ...,
        filter: Optional[str] = ...,
    ) -> pa.RecordBatchReader: ...
    def to_pandas(
        self,
        *,
        snapshot: Optional[int] = ...,
        tag: Optional[str] = ...,
        as_of: Optional[TimeLike] = ...,
        columns: Optional[Sequence[str]] = ...,
        filter: Optional[str] = ...,
        **to_pandas_kwargs: Any,
    ) -> Any: ...
    def to_polars(
        self,
        *,
        snapshot: Optional[int] = ...,
        tag: Optional[str] = ...,
        as_of: Optional[TimeLike] = ...,
        columns: Optional[Sequence[str]] = ...,
        filter: Optional[str] = ...,
    ) -> Any: ...
    def __arrow_c_stream__(self, requested_schema: Any = ...) -> Any: ...
    def write(
        self,
        data: Any,
        *,
        row_kinds: Union[None, str, Sequence[str], pa.Array, pa.ChunkedArray] = ...,
        commit_user: Optional[str] = ...,
        commit_identifier: Optional[int] = ...,
        mode: str = ...,
        partition: Optional[Mapping[str, Any]] = ...,
    ) -> Optional[int]: ...
    def compact(self, *, full: bool = ..., partition: Optional[Mapping[str, Any]] = ...) -> Dict[str, Any]: ...
    def expire_snapshots(
        self,
        *,
        retain_max: Optional[int] = ...,
        retain_min: Optional[int] = ...,
        older_than: Optional[DurationLike] = ...,
        max_deletes: Optional[int] = ...,
    ) -> Dict[str, Any]: ...
    def create_tag(
        self, name: str, *, snapshot: Optional[int] = ..., time_retained: Optional[DurationLike] = ...
    ) -> int: ...
    def delete_tag(self, name: str) -> None: ...
    def rollback(self, to: Union[int, str]) -> Dict[str, Any]: ...
    def tail(
        self,
        *,
        from_: Union[None, str, int, datetime.datetime, datetime.date] = ...,
        consumer_id: Optional[str] = ...,
        interval: Optional[DurationLike] = ...,
        follow: bool = ...,
    ) -> TailReader: ...

class TailReader:
    @property
    def schema(self) -> pa.Schema: ...
    @property
    def snapshot_id(self) -> Optional[int]: ...
    def checkpoint(self) -> Optional[int]: ...
    def __iter__(self) -> Iterator[pa.RecordBatch]: ...
    def __next__(self) -> pa.RecordBatch: ...

def sql(warehouse: str, query: str) -> pa.Table: ...
