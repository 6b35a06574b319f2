//! `shoal._shoal`: the native half of the `shoal` Python package (pyo3). The Python half
//! (`python/shoal/__init__.py`) wraps these classes in the documented API; this module only
//! crosses the boundary:
//!
//! - Arrow goes both ways through the Arrow C stream interface (PyCapsules named
//!   `arrow_array_stream`, `arrow_schema`): the buffers Rust allocated are handed to pyarrow,
//!   polars or DuckDB as they are, and written data is read from any object with
//!   `__arrow_c_stream__` without a copy.
//! - Every call that reads, writes or plans runs detached from the interpreter (the GIL is
//!   released) on one shared tokio runtime; batches of a lazy stream are read on whichever
//!   thread asks for them.
//! - shoal's errors become `shoal.ShoalError` (or a subclass) carrying shoal's message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{Array, RecordBatch, RecordBatchIterator, RecordBatchReader, StringArray};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, Schema, SchemaRef};
use futures::stream::{BoxStream, StreamExt};
use pyo3::exceptions::{PyException, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyDict};
use pyo3::IntoPyObjectExt;

use shoal::error::{Error, ErrorKind};
use shoal::io::FileIO;
use shoal::maintenance::compact::{partition_filter, CompactJob};
use shoal::maintenance::operations::{CreateTag, DeleteTag, ExpireSnapshots, Rollback};
use shoal::maintenance::rollback::RollbackTarget;
use shoal::read::scan::TimeTravel;
use shoal::read::{StartingPosition, StreamOptions};
use shoal::table::{Table, TableDefinition};

// One class per shoal::ErrorKind under ShoalError, so that callers catch what they can act on
// (a conflict or a transient failure: retry; input: fix the call), with the table-level
// not-found and exists errors as subclasses of their kinds.
pyo3::create_exception!(shoal, ShoalError, PyException, "An error of shoal; the message is shoal's.");
pyo3::create_exception!(
    shoal,
    InvalidInputError,
    ShoalError,
    "The arguments or the data do not fit (bad column, type, option, predicate, ...): fix them."
);
pyo3::create_exception!(
    shoal,
    NotFoundError,
    ShoalError,
    "What was asked for does not exist: a table, snapshot, tag, branch or file."
);
pyo3::create_exception!(shoal, TableNotFoundError, NotFoundError, "No table at the location (no schema file).");
pyo3::create_exception!(shoal, AlreadyExistsError, ShoalError, "What was to be created exists already.");
pyo3::create_exception!(shoal, TableExistsError, AlreadyExistsError, "A table already exists at the location.");
pyo3::create_exception!(
    shoal,
    CommitConflictError,
    ShoalError,
    "Another writer or job got there first: run again on a fresh view of the table (nothing committed is lost)."
);
pyo3::create_exception!(
    shoal,
    TransientError,
    ShoalError,
    "Storage, a local disk or a source failed in a way that may pass: retry later."
);
pyo3::create_exception!(
    shoal,
    CorruptionError,
    ShoalError,
    "Stored data is damaged or does not match its metadata: retrying will not help."
);
pyo3::create_exception!(shoal, UnsupportedError, ShoalError, "Something shoal (or Paimon) does not do.");

const STREAM_CAPSULE: &std::ffi::CStr = c"arrow_array_stream";
const SCHEMA_CAPSULE: &std::ffi::CStr = c"arrow_schema";

/// shoal's error as a Python exception of its kind's class, with shoal's message.
fn py_err(e: Error) -> PyErr {
    let message = e.to_string();
    match (&e, e.kind()) {
        (Error::TableNotFound(_), _) => TableNotFoundError::new_err(message),
        (Error::TableExists(_), _) => TableExistsError::new_err(message),
        (_, ErrorKind::Input) => InvalidInputError::new_err(message),
        (_, ErrorKind::NotFound) => NotFoundError::new_err(message),
        (_, ErrorKind::AlreadyExists) => AlreadyExistsError::new_err(message),
        (_, ErrorKind::Conflict) => CommitConflictError::new_err(message),
        (_, ErrorKind::Transient) => TransientError::new_err(message),
        (_, ErrorKind::Corruption) => CorruptionError::new_err(message),
        (_, ErrorKind::Unsupported) => UnsupportedError::new_err(message),
        _ => ShoalError::new_err(message),
    }
}

fn arrow_err(context: &str, e: ArrowError) -> PyErr {
    // A shoal error that travelled through an Arrow stream keeps its class.
    match e {
        ArrowError::ExternalError(inner) => match inner.downcast::<Error>() {
            Ok(shoal_error) => py_err(*shoal_error),
            Err(other) => ShoalError::new_err(format!("{context}: {other}")),
        },
        e => ShoalError::new_err(format!("{context}: {e}")),
    }
}

fn invalid(message: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(message.into())
}

/// The runtime every call runs its futures on (created on first use).
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shoal")
        .build()
        .map_err(|e| ShoalError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    // Two threads may race to create it: the loser's runtime is dropped here, unused.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `f` with the GIL released, turning shoal's error into Python's.
fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> PyResult<T> + Send,
    T: Send,
{
    py.detach(f)
}

/// Runs a future to completion on the shared runtime, with the GIL released.
fn block_on<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: std::future::Future<Output = shoal::Result<T>> + Send,
    T: Send,
{
    detached(py, || runtime()?.block_on(fut).map_err(py_err))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ------------------------------------------------------------------ Arrow across the boundary

/// Batches of a shoal read, pulled from the async stream as the consumer asks for them. The
/// declared schema is what the consumer sees; a batch whose columns come in another (castable)
/// Arrow type is cast to it, so the C stream never hands out a batch that disagrees with it.
struct LazyBatches {
    schema: SchemaRef,
    stream: Option<BoxStream<'static, shoal::Result<RecordBatch>>>,
}

impl Iterator for LazyBatches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = self.stream.as_mut()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            self.stream = None;
            return Some(Err(ArrowError::ComputeError(
                "a shoal stream cannot be read from inside an async runtime".into(),
            )));
        }
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => {
                self.stream = None;
                return Some(Err(ArrowError::ComputeError(e.to_string())));
            }
        };
        match rt.block_on(stream.next()) {
            None => {
                self.stream = None;
                None
            }
            Some(Ok(batch)) => Some(conform(&self.schema, batch)),
            Some(Err(e)) => {
                self.stream = None;
                Some(Err(ArrowError::ExternalError(Box::new(e))))
            }
        }
    }
}

impl RecordBatchReader for LazyBatches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// `batch` under `schema`: as is when its column types are the schema's (no copy), else cast.
fn conform(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    if batch.num_columns() != schema.fields().len() {
        return Err(ArrowError::SchemaError(format!(
            "a batch of {} columns in a stream of {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { arrow_cast::cast(c, f.data_type()) })
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

/// An Arrow stream for Python: `__arrow_c_stream__` hands it, once, to pyarrow, polars, DuckDB
/// or anything else speaking the Arrow PyCapsule interface.
#[pyclass(name = "ArrowStream", module = "shoal._shoal", frozen)]
struct ArrowStream {
    schema: SchemaRef,
    reader: Mutex<Option<Box<dyn RecordBatchReader + Send>>>,
}

impl ArrowStream {
    fn new(reader: Box<dyn RecordBatchReader + Send>) -> ArrowStream {
        ArrowStream { schema: reader.schema(), reader: Mutex::new(Some(reader)) }
    }

    /// Batches already in memory.
    fn of_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> ArrowStream {
        let declared = schema.clone();
        let batches = batches.into_iter().map(move |b| conform(&declared, b));
        ArrowStream::new(Box::new(RecordBatchIterator::new(batches, schema)))
    }

    fn lazy(schema: SchemaRef, stream: BoxStream<'static, shoal::Result<RecordBatch>>) -> ArrowStream {
        ArrowStream::new(Box::new(LazyBatches { schema, stream: Some(stream) }))
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule interface: the stream, moved into a capsule (it can be taken once).
    /// `requested_schema` is ignored (the interface allows it): the stream has the table's types.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = lock(&self.reader)
            .take()
            .ok_or_else(|| ShoalError::new_err("this Arrow stream has already been consumed"))?;
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM_CAPSULE)
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }
}

fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema).map_err(|e| arrow_err("exporting the schema", e))?;
    PyCapsule::new_with_value(py, ffi, SCHEMA_CAPSULE)
}

/// An Arrow schema for Python (`pyarrow.schema(obj)` reads it through `__arrow_c_schema__`).
#[pyclass(name = "ArrowSchema", module = "shoal._shoal", frozen)]
struct ArrowSchema {
    schema: SchemaRef,
}

#[pymethods]
impl ArrowSchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }
}

/// Takes the stream of any object with `__arrow_c_stream__` (pyarrow tables and readers, polars
/// frames, ...): the C struct is moved out of the capsule, so the batches are read, without a
/// copy, from the producer's memory.
fn import_stream(data: &Bound<'_, PyAny>) -> PyResult<ArrowArrayStreamReader> {
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(invalid(format!(
            "cannot write a {}: pass a pyarrow Table, RecordBatch or RecordBatchReader, a pandas or polars \
             DataFrame, or an object with __arrow_c_stream__",
            data.get_type().name()?
        )));
    }
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
    // SAFETY: a capsule named arrow_array_stream holds an ArrowArrayStream (the interface's
    // contract); `from_raw` moves it out and leaves a released one for the capsule's destructor.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr().cast()) };
    ArrowArrayStreamReader::try_new(stream).map_err(|e| arrow_err("importing the data", e))
}

fn import_schema(obj: &Bound<'_, PyAny>) -> PyResult<Schema> {
    let capsule = obj.call_method0("__arrow_c_schema__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(SCHEMA_CAPSULE))?;
    // SAFETY: a capsule named arrow_schema holds an ArrowSchema; it is only borrowed here.
    let ffi = unsafe { &*(ptr.as_ptr() as *const FFI_ArrowSchema) };
    Schema::try_from(ffi).map_err(|e| arrow_err("importing the schema", e))
}

// ------------------------------------------------------------------ opening tables

/// A FileIO for `location` with object-store options (the keys of object_store's
/// `AmazonS3Builder`, e.g. `aws_endpoint`, `aws_access_key_id`, `aws_region`,
/// `aws_allow_http`), on top of what `FileIO::from_uri` takes from the environment.
fn file_io(location: &str, storage_options: Option<HashMap<String, String>>) -> PyResult<FileIO> {
    let options = storage_options.unwrap_or_default();
    if options.is_empty() {
        return FileIO::from_uri(location).map_err(|e| py_err(e.into()));
    }
    if !(location.starts_with("s3://") || location.starts_with("s3a://")) {
        return Err(invalid(format!(
            "storage_options apply to s3:// locations (the stores shoal opens by URL besides local paths); \
             got {location:?}"
        )));
    }
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
    let url = url_parts(location)?;
    let mut builder =
        AmazonS3Builder::from_env().with_bucket_name(&url.0).with_conditional_put(S3ConditionalPut::ETagMatch);
    let env_endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
    if let Some(endpoint) = &env_endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    let mut allow_http_given = false;
    for (k, v) in &options {
        let key: AmazonS3ConfigKey =
            k.parse().map_err(|e| invalid(format!("storage option {k:?} is not an S3 option: {e}")))?;
        allow_http_given |= matches!(key, AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp));
        if key == AmazonS3ConfigKey::Endpoint && v.starts_with("http://") && !allow_http_given {
            builder = builder.with_allow_http(true);
        }
        builder = builder.with_config(key, v);
    }
    let store = builder.build().map_err(|e| invalid(format!("invalid table location {location:?}: {e}")))?;
    Ok(FileIO::new(Arc::new(store), object_store::path::Path::from(url.1.as_str()), location))
}

/// (bucket, path) of an `s3://bucket/path` URL.
fn url_parts(location: &str) -> PyResult<(String, String)> {
    let rest = location.strip_prefix("s3://").or_else(|| location.strip_prefix("s3a://")).unwrap_or(location);
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(format!("invalid table location {location:?}: no bucket in the URL")));
    }
    Ok((bucket.to_string(), path.trim_matches('/').to_string()))
}

fn duration(what: &str, s: &str) -> PyResult<Duration> {
    shoal::spec::options::parse_duration(s)
        .ok_or_else(|| invalid(format!("{what} {s:?} is not a duration (e.g. 90s, 500ms, 30min, 1h, 7d)")))
}

fn time_millis(what: &str, s: &str) -> PyResult<i64> {
    TimeTravel::parse_time(s).ok_or_else(|| {
        invalid(format!(
            "{what} {s:?} is not a time; expected epoch millis, 2024-01-02T03:04:05Z, 2024-01-02 03:04:05 (UTC) \
             or 2024-01-02"
        ))
    })
}

/// An open table (`shoal.Table` wraps it).
#[pyclass(name = "RawTable", module = "shoal._shoal", frozen)]
struct RawTable {
    table: Table,
}

/// What a read asks for: a time travel, columns, a predicate.
struct ReadSpec {
    travel: Option<TimeTravel>,
    columns: Option<Vec<String>>,
    filter: Option<String>,
}

impl ReadSpec {
    fn new(
        snapshot: Option<i64>,
        tag: Option<String>,
        as_of_millis: Option<i64>,
        as_of: Option<String>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
    ) -> PyResult<ReadSpec> {
        let as_of = match (as_of_millis, as_of) {
            (Some(ms), _) => Some(ms),
            (None, Some(s)) => Some(time_millis("as_of", &s)?),
            (None, None) => None,
        };
        let travel = match (snapshot, tag, as_of) {
            (None, None, None) => None,
            (Some(id), None, None) => Some(TimeTravel::Snapshot(id)),
            (None, Some(name), None) => Some(TimeTravel::Tag(name)),
            (None, None, Some(ms)) => Some(TimeTravel::Timestamp(ms)),
            _ => return Err(invalid("give at most one of snapshot, tag and as_of")),
        };
        Ok(ReadSpec { travel, columns, filter })
    }

    /// The table to read (travelled), the column projection and the schema of the rows.
    async fn prepare(&self, table: &Table) -> shoal::Result<(Table, Option<Vec<usize>>, SchemaRef)> {
        let t = match &self.travel {
            Some(tt) => table.travel(tt).await?,
            None => table.clone(),
        };
        let projection = match &self.columns {
            Some(c) => Some(t.projection_of(&c.iter().map(String::as_str).collect::<Vec<_>>())?),
            None => None,
        };
        let schema = match &projection {
            Some(p) => Arc::new(t.arrow_schema().project(p).map_err(Error::arrow("projecting"))?),
            None => t.arrow_schema(),
        };
        Ok((t, projection, schema))
    }

    /// The schema of the rows and the rows as a stream: splits read in parallel, their batches
    /// interleaved (or DataFusion's stream when filtered).
    async fn open(&self, table: &Table) -> shoal::Result<(SchemaRef, BoxStream<'static, shoal::Result<RecordBatch>>)> {
        let (t, projection, schema) = self.prepare(table).await?;
        if let Some(predicate) = &self.filter {
            return shoal::datafusion::filtered_stream(&t, projection.as_deref(), predicate, None).await;
        }
        Ok((schema, t.scan_stream(None, projection).await?))
    }

    /// Every batch, split by split in plan order (as `Table::read_all`, without concatenating
    /// them); a filtered read in DataFusion's order.
    async fn collect(&self, table: &Table) -> shoal::Result<(SchemaRef, Vec<RecordBatch>)> {
        let (t, projection, schema) = self.prepare(table).await?;
        if let Some(predicate) = &self.filter {
            let (schema, stream) =
                shoal::datafusion::filtered_stream(&t, projection.as_deref(), predicate, None).await?;
            let batches = stream.collect::<Vec<_>>().await.into_iter().collect::<shoal::Result<Vec<_>>>()?;
            return Ok((schema, batches));
        }
        let splits = t.new_scan().plan().await?.splits;
        let reader = t.new_read(projection)?;
        let parallelism = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let numbered = shoal::read::read_splits_numbered(reader, splits, parallelism);
        Ok((schema, shoal::read::collect_in_split_order(numbered).await?))
    }
}

fn dict<'py>(py: Python<'py>, items: Vec<(&str, Py<PyAny>)>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in items {
        d.set_item(k, v)?;
    }
    Ok(d)
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> PyResult<Py<PyAny>> {
    v.into_py_any(py)
}

#[pymethods]
impl RawTable {
    #[staticmethod]
    #[pyo3(signature = (location, storage_options = None, branch = None))]
    fn open(
        py: Python<'_>,
        location: &str,
        storage_options: Option<HashMap<String, String>>,
        branch: Option<String>,
    ) -> PyResult<RawTable> {
        let io = file_io(location, storage_options)?;
        let io = match &branch {
            Some(b) => io.on_branch(b),
            None => io,
        };
        let table = block_on(py, Table::open_with_io(io))?;
        Ok(RawTable { table })
    }

    #[staticmethod]
    #[pyo3(signature = (location, columns = None, arrow_schema = None, primary_key = None, partition_by = None,
                        options = None, comment = None, storage_options = None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        location: &str,
        columns: Option<String>,
        arrow_schema: Option<Bound<'_, PyAny>>,
        primary_key: Option<Vec<String>>,
        partition_by: Option<Vec<String>>,
        options: Option<HashMap<String, String>>,
        comment: Option<String>,
        storage_options: Option<HashMap<String, String>>,
    ) -> PyResult<RawTable> {
        let columns = match (columns, arrow_schema) {
            (Some(sql), None) => TableDefinition::parse_columns(&sql).map_err(py_err)?,
            (None, Some(s)) => {
                let schema = import_schema(&s)?;
                schema
                    .fields()
                    .iter()
                    .map(|f| {
                        shoal::spec::DataType::from_arrow(f.data_type(), f.is_nullable())
                            .map(|t| (f.name().clone(), t))
                            .map_err(|e| invalid(format!("column {:?}: {e}", f.name())))
                    })
                    .collect::<PyResult<Vec<_>>>()?
            }
            _ => return Err(invalid("give the columns as SQL text or as an Arrow schema")),
        };
        let def = TableDefinition {
            columns,
            primary_keys: primary_key.unwrap_or_default(),
            partition_keys: partition_by.unwrap_or_default(),
            options: options.unwrap_or_default().into_iter().collect::<BTreeMap<_, _>>(),
            comment,
        };
        let io = file_io(location, storage_options)?;
        let table = block_on(py, Table::create_with_io(io, def))?;
        Ok(RawTable { table })
    }

    #[getter]
    fn location(&self) -> String {
        self.table.location().to_string()
    }

    #[getter]
    fn branch(&self) -> String {
        self.table.branch().to_string()
    }

    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema { schema: self.table.arrow_schema() }
    }

    #[getter]
    fn schema_id(&self) -> i64 {
        self.table.schema().id
    }

    #[getter]
    fn primary_keys(&self) -> Vec<String> {
        self.table.schema().primary_keys.clone()
    }

    #[getter]
    fn partition_keys(&self) -> Vec<String> {
        self.table.schema().partition_keys.clone()
    }

    #[getter]
    fn options(&self) -> BTreeMap<String, String> {
        self.table.schema().options.clone().into_iter().collect()
    }

    /// The table as its latest schema says now (after another writer altered it).
    fn reload(&self, py: Python<'_>) -> PyResult<RawTable> {
        let table = block_on(py, Table::open_with_io(self.table.io().clone()))?;
        Ok(RawTable { table })
    }

    fn latest_snapshot_id(&self, py: Python<'_>) -> PyResult<Option<i64>> {
        block_on(py, self.table.snapshots().latest_id())
    }

    /// (snapshot id, commit kind, epoch millis, commit user, commit identifier, total rows) of
    /// every retained snapshot, oldest first.
    #[allow(clippy::type_complexity)]
    fn snapshots(&self, py: Python<'_>) -> PyResult<Vec<(i64, String, i64, String, i64, Option<i64>)>> {
        let snapshots = block_on(py, async {
            let sm = self.table.snapshots();
            let mut out = vec![];
            for id in sm.snapshot_ids().await? {
                out.push(sm.snapshot(id).await?);
            }
            Ok(out)
        })?;
        Ok(snapshots
            .into_iter()
            .map(|s| {
                (
                    s.id,
                    format!("{:?}", s.commit_kind).to_uppercase(),
                    s.time_millis,
                    s.commit_user,
                    s.commit_identifier,
                    s.total_record_count,
                )
            })
            .collect())
    }

    fn tags(&self, py: Python<'_>) -> PyResult<Vec<(String, i64)>> {
        let tags = block_on(py, self.table.tags())?;
        Ok(tags.into_iter().map(|t| (t.name, t.snapshot.id)).collect())
    }

    /// A lazy stream of the rows (batches are read as the consumer pulls them).
    #[pyo3(signature = (snapshot = None, tag = None, as_of_millis = None, as_of = None, columns = None, filter = None))]
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        py: Python<'_>,
        snapshot: Option<i64>,
        tag: Option<String>,
        as_of_millis: Option<i64>,
        as_of: Option<String>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
    ) -> PyResult<ArrowStream> {
        let spec = ReadSpec::new(snapshot, tag, as_of_millis, as_of, columns, filter)?;
        let (schema, stream) = block_on(py, spec.open(&self.table))?;
        Ok(ArrowStream::lazy(schema, stream))
    }

    /// The rows read completely (with the GIL released), handed over as a stream of the batches.
    #[pyo3(signature = (snapshot = None, tag = None, as_of_millis = None, as_of = None, columns = None, filter = None))]
    #[allow(clippy::too_many_arguments)]
    fn read(
        &self,
        py: Python<'_>,
        snapshot: Option<i64>,
        tag: Option<String>,
        as_of_millis: Option<i64>,
        as_of: Option<String>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
    ) -> PyResult<ArrowStream> {
        let spec = ReadSpec::new(snapshot, tag, as_of_millis, as_of, columns, filter)?;
        let (schema, batches) = block_on(py, spec.collect(&self.table))?;
        Ok(ArrowStream::of_batches(schema, batches))
    }

    /// Writes the data (an object with `__arrow_c_stream__`) and commits it as one snapshot;
    /// returns the snapshot id (None: nothing to commit, or `commit_identifier` was already
    /// committed by `commit_user`).
    #[pyo3(signature = (data, row_kind_column = None, commit_user = None, commit_identifier = None,
                        overwrite = false, partition = None))]
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        row_kind_column: Option<String>,
        commit_user: Option<String>,
        commit_identifier: Option<i64>,
        overwrite: bool,
        partition: Option<HashMap<String, String>>,
    ) -> PyResult<Option<i64>> {
        if commit_identifier.is_some() && commit_user.is_none() {
            return Err(invalid(
                "commit_identifier needs a commit_user: exactly-once is per (commit user, identifier)",
            ));
        }
        if overwrite && (row_kind_column.is_some() || commit_identifier.is_some()) {
            return Err(invalid(
                "an overwrite writes its rows as inserts in one batch commit: no row kinds or commit identifier",
            ));
        }
        if partition.is_some() && !overwrite {
            return Err(invalid("partition names the partition an overwrite replaces: pass overwrite=True"));
        }
        let reader = import_stream(data)?;
        let table = &self.table;
        detached(py, move || {
            write_detached(table, reader, row_kind_column, commit_user, commit_identifier, overwrite, partition)
        })
    }

    #[pyo3(signature = (full = false, partition = None))]
    fn compact<'py>(
        &self,
        py: Python<'py>,
        full: bool,
        partition: Option<HashMap<String, String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut job = CompactJob::new(full);
        let pairs: Vec<(String, String)> = partition.unwrap_or_default().into_iter().collect();
        job.partition_filter = partition_filter(&self.table, &pairs).map_err(py_err)?;
        let r = block_on(py, job.run(&self.table))?;
        dict(
            py,
            vec![
                ("snapshot_id", obj(py, r.outcome.snapshot_id())?),
                ("buckets_compacted", obj(py, r.buckets_compacted)?),
                ("files_before", obj(py, r.files_before)?),
                ("files_after", obj(py, r.files_after)?),
                ("rows_read", obj(py, r.rows_read)?),
                ("bytes_read", obj(py, r.bytes_read)?),
                ("bytes_written", obj(py, r.bytes_written)?),
                ("buckets_dropped", obj(py, r.dropped.len())?),
            ],
        )
    }

    #[pyo3(signature = (retain_max = None, retain_min = None, older_than = None, max_deletes = None))]
    fn expire_snapshots<'py>(
        &self,
        py: Python<'py>,
        retain_max: Option<i64>,
        retain_min: Option<i64>,
        older_than: Option<String>,
        max_deletes: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let time_retained = older_than.map(|s| duration("older_than", &s)).transpose()?;
        let expire = ExpireSnapshots::new(&self.table)
            .retain_max(retain_max)
            .retain_min(retain_min)
            .older_than(time_retained)
            .max_deletes(max_deletes);
        let r = block_on(py, expire.execute())?;
        dict(
            py,
            vec![
                ("snapshots_expired", obj(py, r.snapshots_expired)?),
                ("data_files_deleted", obj(py, r.data_files_deleted)?),
                ("manifests_deleted", obj(py, r.manifests_deleted)?),
                ("earliest_snapshot", obj(py, r.earliest)?),
                ("changelogs_written", obj(py, r.changelogs_written)?),
            ],
        )
    }

    /// Tags a snapshot (the latest when None); returns the tagged snapshot's id.
    #[pyo3(signature = (name, snapshot = None, time_retained = None))]
    fn create_tag(
        &self,
        py: Python<'_>,
        name: &str,
        snapshot: Option<i64>,
        time_retained: Option<String>,
    ) -> PyResult<i64> {
        let retained = time_retained.map(|s| duration("time_retained", &s)).transpose()?;
        let tag = block_on(py, CreateTag::new(&self.table, name).snapshot(snapshot).time_retained(retained).execute())?;
        Ok(tag.snapshot.id)
    }

    fn delete_tag(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        block_on(py, DeleteTag::new(&self.table, name).execute()).map(|_| ())
    }

    #[pyo3(signature = (snapshot = None, tag = None))]
    fn rollback<'py>(
        &self,
        py: Python<'py>,
        snapshot: Option<i64>,
        tag: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let target = match (snapshot, tag) {
            (Some(id), None) => RollbackTarget::Snapshot(id),
            (None, Some(name)) => RollbackTarget::Tag(name),
            _ => return Err(invalid("roll back to a snapshot id or a tag name (one of them)")),
        };
        let r = block_on(py, Rollback::new(&self.table, &target).execute())?;
        dict(
            py,
            vec![
                ("snapshot_id", obj(py, r.snapshot_id)?),
                ("snapshots_deleted", obj(py, r.snapshots_deleted)?),
                ("tags_deleted", obj(py, r.tags_deleted)?),
                ("data_files_deleted", obj(py, r.data_files_deleted)?),
                ("manifests_deleted", obj(py, r.manifests_deleted)?),
            ],
        )
    }

    /// A reader of the table's changes: `start` is full | latest | earliest, or given by
    /// `start_snapshot` / `start_millis`; None takes the table's `scan.mode`.
    #[pyo3(signature = (start = None, start_snapshot = None, start_millis = None, consumer_id = None,
                        interval = None, follow = true))]
    #[allow(clippy::too_many_arguments)]
    fn tail(
        &self,
        py: Python<'_>,
        start: Option<String>,
        start_snapshot: Option<i64>,
        start_millis: Option<i64>,
        consumer_id: Option<String>,
        interval: Option<String>,
        follow: bool,
    ) -> PyResult<TailReader> {
        let mut options = StreamOptions::from_table(&self.table).map_err(py_err)?;
        let position = match (start.as_deref().map(str::trim), start_snapshot, start_millis) {
            (None, None, None) => None,
            (Some("full" | "latest-full"), None, None) => Some(StartingPosition::LatestFull),
            (Some("latest"), None, None) => Some(StartingPosition::Latest),
            (Some("earliest"), None, None) => Some(StartingPosition::FromSnapshot(1)),
            (Some(s), None, None) => Some(StartingPosition::FromTimestamp(time_millis("from_", s)?)),
            (None, Some(id), None) => Some(StartingPosition::FromSnapshot(id)),
            (None, None, Some(ms)) => Some(StartingPosition::FromTimestamp(ms)),
            _ => return Err(invalid("give one starting position")),
        };
        if let Some(p) = position {
            options.start = p;
        }
        if let Some(id) = consumer_id {
            options.consumer_id = Some(id);
        }
        if let Some(i) = interval {
            options.discovery_interval = duration("interval", &i)?;
        }
        let reader = block_on(py, self.table.stream_read_with(options))?;
        let schema = reader.schema().clone();
        Ok(TailReader {
            schema,
            follow,
            state: Mutex::new(TailState { reader, pending: VecDeque::new(), snapshot_id: None, done: false }),
        })
    }
}

/// Writes and commits (see [`RawTable::write`]), off the interpreter: the batches are pulled
/// from the producer here, outside the runtime (a producer that is itself a shoal stream runs
/// its own reads on the runtime), and each is written on the runtime.
fn write_detached(
    table: &Table,
    reader: ArrowArrayStreamReader,
    row_kind_column: Option<String>,
    commit_user: Option<String>,
    commit_identifier: Option<i64>,
    overwrite: bool,
    partition: Option<HashMap<String, String>>,
) -> PyResult<Option<i64>> {
    let rt = runtime()?;
    let target = table.arrow_schema();
    let names: Vec<&str> = target.fields().iter().map(|f| f.name().as_str()).collect();
    let input = reader.schema();
    // The input's columns in the table's order (by name), when it has all of them; otherwise
    // the writer's own check says what is missing or extra.
    let order: Option<Vec<usize>> = names.iter().map(|n| input.index_of(n).ok()).collect();
    let kind_index = match &row_kind_column {
        Some(k) => {
            Some(input.index_of(k).map_err(|_| invalid(format!("the row kind column {k:?} is not in the data")))?)
        }
        None => None,
    };
    let value_columns: Vec<usize> = match order {
        Some(o) if o.len() + usize::from(kind_index.is_some()) == input.fields().len() => o,
        _ => (0..input.fields().len()).filter(|i| Some(*i) != kind_index).collect(),
    };

    let user = commit_user.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if overwrite {
        let pairs: Vec<(String, String)> = partition.unwrap_or_default().into_iter().collect();
        let mut o =
            rt.block_on(table.new_overwrite().partition(pairs).commit_user(user.clone()).start()).map_err(py_err)?;
        for batch in reader {
            let batch = batch.map_err(|e| arrow_err("reading the data", e))?;
            let values = batch.project(&value_columns).map_err(|e| arrow_err("reading the data", e))?;
            rt.block_on(o.writer().write(&values)).map_err(py_err)?;
        }
        let outcome = rt.block_on(o.commit()).map_err(py_err)?;
        return Ok(outcome.snapshot_id());
    }

    let commit = table.new_commit(&user).map_err(py_err)?;
    if let Some(id) = commit_identifier {
        if rt.block_on(commit.is_committed(id)).map_err(py_err)? {
            return Ok(None);
        }
    }
    let mut w = rt.block_on(table.new_write()).map_err(py_err)?;
    let mut rows = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| arrow_err("reading the data", e))?;
        let values = batch.project(&value_columns).map_err(|e| arrow_err("reading the data", e))?;
        let kinds = match (kind_index, &row_kind_column) {
            (Some(i), Some(name)) => {
                let strings = arrow_cast::cast(batch.column(i), &arrow_schema::DataType::Utf8)
                    .map_err(|e| arrow_err("reading the row kinds", e))?;
                let strings = strings
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| invalid(format!("the row kind column {name:?} is not text")))?;
                Some(shoal::ingest::row_kinds_from_strings(strings, name, rows).map_err(py_err)?)
            }
            _ => None,
        };
        rt.block_on(w.write_with_kinds(&values, kinds.as_deref())).map_err(py_err)?;
        rows += batch.num_rows();
    }
    let messages = rt.block_on(w.prepare_commit()).map_err(py_err)?;
    let outcome = rt.block_on(commit.commit_with_watermark(commit_identifier, None, messages)).map_err(py_err)?;
    rt.block_on(commit.settle(&mut w, commit_identifier)).map_err(py_err)?;
    Ok(outcome.snapshot_id())
}

struct TailState {
    reader: shoal::read::ChangeReader,
    pending: VecDeque<shoal::read::ChangeBatch>,
    snapshot_id: Option<i64>,
    done: bool,
}

/// The changes of a table as they are committed: an iterator of Arrow streams of one batch each,
/// `_ROW_KIND` (+I, -U, +U, -D) first (`shoal.Table.tail` wraps it).
#[pyclass(name = "TailReader", module = "shoal._shoal", frozen)]
struct TailReader {
    schema: SchemaRef,
    follow: bool,
    state: Mutex<TailState>,
}

#[pymethods]
impl TailReader {
    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema { schema: self.schema.clone() }
    }

    /// The snapshot of the last batch handed out.
    #[getter]
    fn snapshot_id(&self) -> Option<i64> {
        lock(&self.state).snapshot_id
    }

    /// Records the consumer's progress now (what has been handed out completely); returns the
    /// next snapshot to read.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<Option<i64>> {
        let state = &self.state;
        detached(py, || runtime()?.block_on(lock(state).reader.checkpoint()).map_err(py_err))
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next batch; waits for new snapshots (with the GIL released, and Ctrl-C honoured)
    /// when following, else stops once caught up (recording the consumer's progress).
    fn __next__(&self, py: Python<'_>) -> PyResult<ArrowStream> {
        loop {
            let state = &self.state;
            let found = detached(py, || {
                let mut s = lock(state);
                if s.done {
                    return Ok(None);
                }
                if let Some(b) = s.pending.pop_front() {
                    return Ok(Some(b));
                }
                let rt = runtime()?;
                let batches = rt.block_on(s.reader.read_available()).map_err(py_err)?;
                s.pending.extend(batches);
                Ok(s.pending.pop_front())
            })?;
            if let Some(b) = found {
                lock(&self.state).snapshot_id = Some(b.snapshot_id);
                return Ok(ArrowStream::of_batches(self.schema.clone(), vec![b.batch]));
            }
            if lock(&self.state).done {
                return Err(PyStopIteration::new_err(()));
            }
            if !self.follow {
                self.checkpoint(py)?;
                lock(&self.state).done = true;
                return Err(PyStopIteration::new_err(()));
            }
            let wait = lock(&self.state).reader.discovery_interval();
            let until = Instant::now() + wait;
            while Instant::now() < until {
                let step = (until - Instant::now()).min(Duration::from_millis(100));
                py.detach(|| std::thread::sleep(step));
                py.check_signals()?;
            }
        }
    }
}

/// Runs SQL statements over a warehouse (tables named `db.table`) through DataFusion, as
/// `shoal sql` does; returns the last statement's rows.
#[pyfunction]
fn sql(py: Python<'_>, warehouse: &str, query: &str) -> PyResult<ArrowStream> {
    let (schema, batches) = block_on(py, async {
        let ctx = shoal::datafusion::context_for_warehouse(warehouse).await?;
        let mut results = shoal::datafusion::sql_results(&ctx, query)
            .await
            .map_err(|e| shoal::datafusion::statement_error("SQL", &e))?;
        Ok(results.pop().unwrap_or_else(|| (Arc::new(Schema::empty()), vec![])))
    })?;
    Ok(ArrowStream::of_batches(schema, batches))
}

/// The native half of the `shoal` package (see `shoal/__init__.py`).
#[pymodule]
fn _shoal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<RawTable>()?;
    m.add_class::<ArrowStream>()?;
    m.add_class::<ArrowSchema>()?;
    m.add_class::<TailReader>()?;
    m.add_function(wrap_pyfunction!(sql, m)?)?;
    m.add("ShoalError", py.get_type::<ShoalError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("TableNotFoundError", py.get_type::<TableNotFoundError>())?;
    m.add("AlreadyExistsError", py.get_type::<AlreadyExistsError>())?;
    m.add("TableExistsError", py.get_type::<TableExistsError>())?;
    m.add("CommitConflictError", py.get_type::<CommitConflictError>())?;
    m.add("TransientError", py.get_type::<TransientError>())?;
    m.add("CorruptionError", py.get_type::<CorruptionError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
