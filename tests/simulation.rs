//! Deterministic simulation of the commit protocol: several writers (two on one bucket with
//! disjoint keys, others on another bucket), one or two compactors and snapshot expiry run
//! against one table on the local filesystem, interleaved at the granularity of single
//! object-store calls by a seeded scheduler, with faults injected through
//! [`shoal::io::faults::FaultyStore`] (before the call reaches the store, or after it took effect).
//!
//! How the interleaving works: every actor has its own object store, a `Gate` in front of the
//! shared local store. Only the actor holding the baton may pass a gate; at each call the
//! scheduler (a pure function of the seed and the call: actor, operation, path with the random
//! parts of file names removed, and how often that call occurred) decides to hand the baton to
//! another actor first, or to fail the call. Calls are performed one at a time and read in full
//! inside the gate, so an actor resumes in the same state for the same seed.
//!
//! Checked after every step of every actor, against an in-memory model: the rows of the latest
//! snapshot equal the model (each writer's keys are its committed batches, plus its batch in
//! flight or in doubt); every snapshot seen as latest once still reads the same while it is
//! retained; a failed operation is restarted and completes; at the end orphan-file cleanup leaves
//! no unreferenced file and the table still reads as the model.
//!
//! `SHOAL_SIM_SEED=<n>` replays one seed; `SHOAL_SIM_SECONDS` bounds the run (default 40 s);
//! a failure names its seed and shows the last store calls; `SHOAL_SIM_TRACE=<file>` appends
//! every store call to a file (to diff two runs).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use shoal::io::faults::{FaultMode, FaultyStore};
use shoal::io::FileIO;
use shoal::maintenance::compact::CompactJob;
use shoal::maintenance::expire::ExpireConfig;
use shoal::maintenance::operations::{ExpireSnapshots, RemoveOrphanFiles};
use shoal::spec::{parse_type, RowKind};
use shoal::table::TableDefinition;
use shoal::{Error, Table};

// ---------------------------------------------------------------------------------------------
// Seeded decisions.

/// SplitMix64: a stable, tiny mixer (the decisions must not change with a dependency's version).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h = mix(seed);
    for b in s.bytes() {
        h = mix(h ^ b as u64);
    }
    h
}

/// A small sequential PRNG for the workload (batches, actor counts).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// File names carry UUIDs (random per run): the decisions see them without.
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut hex_run = String::new();
    for c in path.chars() {
        if c.is_ascii_hexdigit() || c == '-' {
            hex_run.push(c);
            continue;
        }
        out.push_str(if hex_run.len() >= 32 { "U" } else { &hex_run });
        hex_run.clear();
        out.push(c);
    }
    out.push_str(if hex_run.len() >= 32 { "U" } else { &hex_run });
    out
}

// ---------------------------------------------------------------------------------------------
// The scheduler and the gated store.

const PREEMPT_PER_MILLE: u64 = 120;
const FAULT_PER_MILLE: u64 = 25;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Route {
    Plain,
    Fail(FaultMode),
}

/// The baton's value once the simulation is aborted (see [`Sched::abort`]).
const ABORTED: usize = usize::MAX;

struct SchedState {
    alive: Vec<bool>,
    /// Faults may be injected into this actor's current operation (not into restarts).
    faults_on: Vec<bool>,
    /// A fault was injected into this actor's current operation.
    faulted: Vec<bool>,
    occurrences: HashMap<String, u64>,
    trace_hash: u64,
    trace_tail: Vec<String>,
    calls: u64,
    switches: u64,
    faults: u64,
    lost_races: u64,
}

struct Sched {
    seed: u64,
    /// Snapshot creates overwrite (to show that the checks catch lost commits).
    mutant: bool,
    baton: tokio::sync::watch::Sender<usize>,
    state: Mutex<SchedState>,
    /// One store call at a time.
    io_lock: tokio::sync::Mutex<()>,
}

impl Sched {
    fn new(seed: u64, actors: usize, mutant: bool) -> Arc<Sched> {
        let first = (mix(seed ^ 0xBA70) % actors as u64) as usize;
        Arc::new(Sched {
            seed,
            mutant,
            baton: tokio::sync::watch::channel(first).0,
            state: Mutex::new(SchedState {
                alive: vec![true; actors],
                faults_on: vec![false; actors],
                faulted: vec![false; actors],
                occurrences: HashMap::new(),
                trace_hash: 0,
                trace_tail: vec![],
                calls: 0,
                switches: 0,
                faults: 0,
                lost_races: 0,
            }),
            io_lock: tokio::sync::Mutex::new(()),
        })
    }

    async fn wait_turn(&self, me: usize) {
        let mut rx = self.baton.subscribe();
        let _ = rx.wait_for(|c| *c == me || *c == ABORTED).await;
    }

    /// A check failed and the simulation unwinds: every waiting store call is let through to fail,
    /// so a reader on a blocking thread in the middle of a call does not wait for the baton
    /// forever while the runtime that would hand it over shuts down (waiting for that thread).
    fn abort(&self) {
        self.baton.send_replace(ABORTED);
    }

    fn aborted(&self) -> bool {
        *self.baton.borrow() == ABORTED
    }

    /// Hands the baton to another live actor chosen by `h` (keeps it if none).
    fn hand_off(&self, st: &mut SchedState, me: usize, h: u64) -> bool {
        if self.aborted() {
            return false;
        }
        let others: Vec<usize> = (0..st.alive.len()).filter(|&a| a != me && st.alive[a]).collect();
        if others.is_empty() {
            return false;
        }
        let next = others[(h % others.len() as u64) as usize];
        st.switches += 1;
        self.baton.send_replace(next);
        true
    }

    /// Waits for `me`'s turn at a store call; may first let others run; decides the route.
    async fn enter(&self, me: usize, op: &str, path: &str, faultable: bool) -> Route {
        let key = format!("{me}:{op}:{}", normalize(path));
        loop {
            self.wait_turn(me).await;
            if self.aborted() {
                return Route::Fail(FaultMode::Before);
            }
            let mut st = self.state.lock().unwrap();
            let n = st.occurrences.entry(key.clone()).or_insert(0);
            *n += 1;
            let h = hash_str(self.seed, &format!("{key}#{n}"));
            if h % 1000 < PREEMPT_PER_MILLE && self.hand_off(&mut st, me, h >> 20) {
                continue;
            }
            st.calls += 1;
            st.trace_hash = mix(st.trace_hash ^ hash_str(0, &key));
            if st.trace_tail.len() >= 40 {
                st.trace_tail.remove(0);
            }
            st.trace_tail.push(key.clone());
            if let Ok(f) = std::env::var("SHOAL_SIM_TRACE") {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(f).unwrap();
                writeln!(f, "{key}").unwrap();
            }
            let fh = mix(h);
            if faultable && st.faults_on[me] && !st.faulted[me] && fh % 1000 < FAULT_PER_MILLE {
                st.faulted[me] = true;
                st.faults += 1;
                let mode = if (fh >> 32) & 1 == 0 { FaultMode::Before } else { FaultMode::After };
                st.trace_tail.push(format!("  ^ fault {mode:?}"));
                return Route::Fail(mode);
            }
            return Route::Plain;
        }
    }

    /// Between operations: maybe let another actor run.
    fn maybe_yield(&self, me: usize, step: u64) {
        let mut st = self.state.lock().unwrap();
        let h = hash_str(self.seed, &format!("{me}:step:{step}"));
        if h.is_multiple_of(2) {
            self.hand_off(&mut st, me, h >> 8);
        }
    }

    fn finish(&self, me: usize) {
        let mut st = self.state.lock().unwrap();
        st.alive[me] = false;
        let h = hash_str(self.seed, &format!("{me}:done"));
        self.hand_off(&mut st, me, h);
    }

    fn begin_op(&self, me: usize, faults: bool) {
        let mut st = self.state.lock().unwrap();
        st.faults_on[me] = faults;
        st.faulted[me] = false;
    }

    fn faulted(&self, me: usize) -> bool {
        self.state.lock().unwrap().faulted[me]
    }
}

#[derive(Clone)]
struct Gate(Arc<GateInner>);

struct GateInner {
    me: usize,
    sched: Arc<Sched>,
    inner: Arc<dyn ObjectStore>,
    before: Arc<FaultyStore>,
    after: Arc<FaultyStore>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({})", self.0.me)
    }
}
impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({})", self.0.me)
    }
}

impl Gate {
    /// Runs `call` on the store the route picks, with one call in flight at a time.
    async fn run<T, F, Fut>(&self, op: &str, path: &Path, faultable: bool, call: F) -> object_store::Result<T>
    where
        F: FnOnce(Arc<dyn ObjectStore>) -> Fut + Send,
        Fut: std::future::Future<Output = object_store::Result<T>> + Send,
        T: Send,
    {
        let route = self.0.sched.enter(self.0.me, op, path.as_ref(), faultable).await;
        let _one = self.0.sched.io_lock.lock().await;
        // The call completes before this future yields again: it runs on a thread outside the
        // runtime (where the local store does its file IO inline) while this single-threaded
        // runtime waits, so the calls of one actor's parallel branches happen in their polling
        // order, never in the order in which threads happen to finish.
        let store: Arc<dyn ObjectStore> = match route {
            Route::Plain => self.0.inner.clone(),
            Route::Fail(mode) => {
                let f = if mode == FaultMode::Before { &self.0.before } else { &self.0.after };
                f.fail_call(1);
                f.clone()
            }
        };
        let r = std::thread::scope(|s| s.spawn(|| futures::executor::block_on(call(store))).join())
            .unwrap_or_else(|_| panic!("store call {op} {path} panicked"));
        self.0.before.fail_call(0);
        self.0.after.fail_call(0);
        r
    }
}

#[async_trait]
impl ObjectStore for Gate {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let mut opts = opts;
        if self.0.sched.mutant && location.as_ref().contains("snapshot/snapshot-") {
            // The mutant: a store that lets a second create of a snapshot overwrite the first.
            opts.mode = object_store::PutMode::Overwrite;
        }
        let create = opts.mode == object_store::PutMode::Create;
        let r = self.run("put", location, true, |s| async move { s.put_opts(location, payload, opts).await }).await;
        if create
            && location.as_ref().contains("snapshot/snapshot-")
            && matches!(r, Err(object_store::Error::AlreadyExists { .. }))
        {
            // Another commit took this snapshot id first: this one retries on top of it.
            self.0.sched.state.lock().unwrap().lost_races += 1;
        }
        r
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.run("multipart", location, true, |s| async move { s.put_multipart_opts(location, opts).await }).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let head = options.head;
        self.run("get", location, true, |s| async move {
            let r = s.get_opts(location, options).await?;
            if head {
                return Ok(r);
            }
            // Read the body inside the gate, so the caller resumes with everything in hand.
            let (meta, range, attributes) = (r.meta.clone(), r.range.clone(), r.attributes.clone());
            let body = r.bytes().await?;
            Ok(GetResult {
                payload: GetResultPayload::Stream(stream::once(async move { Ok(body) }).boxed()),
                meta,
                range,
                attributes,
            })
        })
        .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.run("get ranges", location, true, |s| async move { s.get_ranges(location, ranges).await }).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let me = self.clone();
        locations
            .then(move |loc| {
                let me = me.clone();
                async move {
                    let loc = loc?;
                    let l2 = loc.clone();
                    me.run("delete", &loc, true, |s| async move {
                        s.delete_stream(stream::iter([Ok(l2.clone())]).boxed()).next().await.unwrap_or(Ok(l2))
                    })
                    .await
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let me = self.clone();
        let prefix = prefix.cloned();
        stream::once(async move {
            let p = prefix.clone().unwrap_or_default();
            let items: Vec<_> = me
                .run("list", &p, false, |s| async move { Ok(s.list(prefix.as_ref()).collect::<Vec<_>>().await) })
                .await
                .unwrap_or_else(|e| vec![Err(e)]);
            stream::iter(items)
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let p = prefix.cloned().unwrap_or_default();
        self.run("list dir", &p, false, |s| async move { s.list_with_delimiter(prefix).await }).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.run("copy", to, true, |s| async move { s.copy_opts(from, to, options).await }).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.run("rename", to, true, |s| async move { s.rename_opts(from, to, options).await }).await
    }
}

// ---------------------------------------------------------------------------------------------
// The table, the workload and the model.

const BUCKETS: i32 = 2;

fn def() -> TableDefinition {
    TableDefinition::default()
        .column("k", parse_type("BIGINT NOT NULL").unwrap())
        .column("v", parse_type("STRING").unwrap())
        .primary_key(&["k"])
        .option("bucket", &BUCKETS.to_string())
        .option("write-only", "true")
}

type Rows = BTreeMap<i64, String>;
/// One batch: key -> Some(value) upserts, None deletes.
type Batch = BTreeMap<i64, Option<String>>;

fn apply(rows: &mut Rows, batch: &Batch) {
    for (k, v) in batch {
        match v {
            Some(v) => rows.insert(*k, v.clone()),
            None => rows.remove(k),
        };
    }
}

async fn read_rows(t: &Table, snapshot: Option<i64>) -> shoal::Result<Rows> {
    let b = t.read_all(snapshot, None).await?;
    let ks = b.column(0).as_primitive::<Int64Type>();
    let vs = b.column(1).as_string::<i32>();
    Ok((0..b.num_rows()).map(|i| (ks.value(i), vs.value(i).to_string())).collect())
}

enum Role {
    Writer { keys: Vec<i64> },
    Compactor,
    Expirer { config: ExpireConfig },
}

struct Actor {
    role: Role,
    ops: u64,
}

/// What the checks know: per writer, its committed rows and the batch in flight (or in doubt
/// after a failure, until a restart settles it); the rows each snapshot read when it was latest.
struct Model {
    committed: Vec<Rows>,
    pending: Vec<Option<Batch>>,
    owner: HashMap<i64, usize>,
    seen: BTreeMap<i64, Rows>,
}

#[derive(Default, Debug)]
struct Stats {
    interleavings: u64,
    steps: u64,
    calls: u64,
    switches: u64,
    faults: u64,
    failed_ops: u64,
    restarts: u64,
    commit_conflicts: u64,
    lost_races: u64,
    expiry_races: u64,
    orphans_removed: u64,
}

struct Sim {
    seed: u64,
    dir: std::path::PathBuf,
    sched: Arc<Sched>,
    model: Mutex<Model>,
    stats: Mutex<Stats>,
    plain: FileIO,
}

fn is_race_with_expiry(e: &Error) -> bool {
    // A reader of an old snapshot whose files a concurrent expiry removed (as in Paimon, the
    // work is redone on the newer snapshot).
    matches!(e, Error::Io(shoal::io::IoError::NotFound { .. }) | Error::SnapshotNotFound(_))
        || e.to_string().contains("not found")
}

impl Sim {
    fn io_for(&self, me: usize) -> FileIO {
        let local: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&self.dir).unwrap());
        let gate = Gate(Arc::new(GateInner {
            me,
            sched: self.sched.clone(),
            inner: local.clone(),
            before: Arc::new(FaultyStore::new(local.clone(), FaultMode::Before)),
            after: Arc::new(FaultyStore::new(local, FaultMode::After)),
        }));
        FileIO::new(Arc::new(gate), Path::from(""), self.dir.to_str().unwrap())
    }

    fn fail(&self, msg: String) -> ! {
        self.sched.abort();
        let tail = self.sched.state.lock().unwrap().trace_tail.join("\n  ");
        panic!(
            "seed {}: {msg}\nlast store calls:\n  {tail}\nreplay: SHOAL_SIM_SEED={} cargo test --test simulation",
            self.seed, self.seed
        )
    }

    /// The checks after a step: the latest snapshot reads as the model allows.
    async fn check_latest(&self, who: &str) {
        let t = Table::open_with_io(self.plain.clone())
            .await
            .unwrap_or_else(|e| self.fail(format!("after {who}: open: {e}")));
        let latest = t.snapshots().latest_id().await.unwrap_or_else(|e| self.fail(format!("after {who}: latest: {e}")));
        let rows = read_rows(&t, None)
            .await
            .unwrap_or_else(|e| self.fail(format!("after {who}: the table does not read: {e}")));
        let mut model = self.model.lock().unwrap();
        let mut per_writer: Vec<Rows> = vec![Rows::new(); model.committed.len()];
        for (k, v) in &rows {
            match model.owner.get(k) {
                Some(&w) => {
                    per_writer[w].insert(*k, v.clone());
                }
                None => self.fail(format!("after {who}: key {k} was never written")),
            }
        }
        for (w, got) in per_writer.iter().enumerate() {
            if *got == model.committed[w] {
                continue;
            }
            if let Some(p) = &model.pending[w] {
                let mut with = model.committed[w].clone();
                apply(&mut with, p);
                if *got == with {
                    continue;
                }
            }
            self.fail(format!(
                "after {who}: writer {w}'s rows differ from the model\n  table: {got:?}\n  model: {:?}\n  pending: {:?}",
                model.committed[w], model.pending[w]
            ));
        }
        if let Some(id) = latest {
            if let Some(prev) = model.seen.get(&id) {
                if *prev != rows {
                    self.fail(format!("after {who}: snapshot {id} reads differently than when it was committed"));
                }
            }
            model.seen.insert(id, rows);
        }
    }

    /// Every retained snapshot still reads what it read when it was the latest.
    async fn check_retained(&self, who: &str) {
        let t = Table::open_with_io(self.plain.clone()).await.unwrap();
        let ids = t.snapshots().snapshot_ids().await.unwrap();
        let seen: Vec<(i64, Rows)> = {
            let m = self.model.lock().unwrap();
            ids.iter().filter_map(|id| m.seen.get(id).map(|r| (*id, r.clone()))).collect()
        };
        for (id, want) in seen {
            match read_rows(&t, Some(id)).await {
                Ok(got) if got == want => {}
                Ok(_) => self.fail(format!("after {who}: retained snapshot {id} reads different rows")),
                Err(e) => self.fail(format!("after {who}: retained snapshot {id} does not read: {e}")),
            }
        }
    }

    async fn writer_op(&self, me: usize, io: &FileIO, batch_no: u64, batch: &Batch) -> shoal::Result<()> {
        let t = Table::open_with_io(io.clone()).await?;
        let rows: Vec<(i64, String)> = batch.iter().map(|(k, v)| (*k, v.clone().unwrap_or_default())).collect();
        let kinds: Vec<RowKind> =
            batch.values().map(|v| if v.is_some() { RowKind::Insert } else { RowKind::Delete }).collect();
        let mut w = t.new_write().await?;
        w.write_with_kinds(&common::kv_batch(&t, &rows), Some(&kinds)).await?;
        let msgs = w.prepare_commit().await?;
        t.new_commit(&format!("writer-{me}"))?.commit_with_identifier(batch_no as i64, msgs).await?;
        Ok(())
    }

    async fn run_actor(&self, me: usize, actor: Actor) {
        let io = self.io_for(me);
        let mut rng = Rng(mix(self.seed ^ ((me as u64 + 1) * 0x1234_5678)));
        for step in 0..actor.ops {
            self.sched.wait_turn(me).await;
            self.sched.begin_op(me, true);
            match &actor.role {
                Role::Writer { keys } => {
                    let mut batch = Batch::new();
                    for k in keys {
                        if rng.chance(500) {
                            let v = if rng.chance(150) { None } else { Some(format!("w{me}s{step}k{k}")) };
                            batch.insert(*k, v);
                        }
                    }
                    if batch.is_empty() {
                        batch.insert(keys[0], Some(format!("w{me}s{step}")));
                    }
                    self.model.lock().unwrap().pending[me] = Some(batch.clone());
                    let mut result = self.writer_op(me, &io, step, &batch).await;
                    let mut attempt = 0;
                    while let Err(e) = result {
                        self.note_failure(me, "writer", &e);
                        // Restart: a new writer commits the same batch under the same identifier
                        // (a no-op if the failed attempt landed after all).
                        attempt += 1;
                        if attempt > 8 {
                            self.fail(format!(
                                "writer {me}: batch {step} did not commit after {attempt} restarts: {e}"
                            ));
                        }
                        self.stats.lock().unwrap().restarts += 1;
                        self.sched.begin_op(me, false);
                        result = self.writer_op(me, &io, step, &batch).await;
                    }
                    let mut m = self.model.lock().unwrap();
                    m.pending[me] = None;
                    apply(&mut m.committed[me], &batch);
                }
                Role::Compactor => {
                    let full = rng.chance(500);
                    let mut attempt = 0;
                    loop {
                        let r = async {
                            let t = Table::open_with_io(io.clone()).await?;
                            CompactJob::new(full).run(&t).await
                        }
                        .await;
                        match r {
                            Ok(_) => break,
                            Err(Error::CommitConflict(m)) if !m.contains("gave up") => {
                                // Another compactor won: Paimon gives this one up (no retry).
                                self.stats.lock().unwrap().commit_conflicts += 1;
                                break;
                            }
                            Err(e) => {
                                self.note_failure(me, "compactor", &e);
                                attempt += 1;
                                if attempt > 8 {
                                    self.fail(format!(
                                        "compactor {me}: did not complete after {attempt} restarts: {e}"
                                    ));
                                }
                                self.stats.lock().unwrap().restarts += 1;
                                self.sched.begin_op(me, false);
                            }
                        }
                    }
                }
                Role::Expirer { config } => {
                    // Every snapshot so far is older than 'now' (time-retained is zero), whatever
                    // the clock's resolution: the expiry's choice depends on the schedule only.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    let mut attempt = 0;
                    loop {
                        let r = async {
                            let t = Table::open_with_io(io.clone()).await?;
                            ExpireSnapshots::new(&t).with_config(config).execute().await
                        }
                        .await;
                        match r {
                            Ok(_) => break,
                            Err(e) => {
                                self.note_failure(me, "expiry", &e);
                                attempt += 1;
                                if attempt > 8 {
                                    self.fail(format!("expiry: did not complete after {attempt} restarts: {e}"));
                                }
                                self.stats.lock().unwrap().restarts += 1;
                                self.sched.begin_op(me, false);
                            }
                        }
                    }
                    // A completed expiry leaves only retained snapshots: all must read as before.
                    self.check_retained(&format!("expiry by actor {me}")).await;
                }
            }
            self.stats.lock().unwrap().steps += 1;
            self.check_latest(&format!("step {step} of actor {me}")).await;
            self.sched.maybe_yield(me, step);
        }
        self.sched.wait_turn(me).await;
        self.sched.finish(me);
    }

    /// A failed operation is allowed only for an injected fault or a race with expiry.
    fn note_failure(&self, me: usize, what: &str, e: &Error) {
        let mut s = self.stats.lock().unwrap();
        s.failed_ops += 1;
        if self.sched.faulted(me) {
            return;
        }
        if is_race_with_expiry(e) {
            s.expiry_races += 1;
            return;
        }
        if matches!(e, Error::CommitConflict(m) if m.contains("gave up")) {
            s.commit_conflicts += 1;
            return;
        }
        drop(s);
        self.fail(format!("{what} {me} failed without an injected fault: {e}"));
    }
}

async fn simulate(seed: u64, mutant: bool) -> (Stats, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let plain = FileIO::from_uri(dir.to_str().unwrap()).unwrap();
    Table::create_with_io(plain.clone(), def()).await.unwrap();

    let mut rng = Rng(mix(seed));
    // Writers: bucket 0 has two writers with disjoint keys, bucket 1 one or two.
    let writers = 3 + rng.below(2) as usize;
    let compactors = 1 + rng.below(2) as usize;
    let mut by_bucket: Vec<Vec<i64>> = vec![vec![]; BUCKETS as usize];
    for k in 0..1000i64 {
        let b = shoal::spec::bucket_of(shoal::spec::binary_row::hash_single_long(k), BUCKETS) as usize;
        by_bucket[b].push(k);
    }
    let mut actors = vec![];
    let mut owner = HashMap::new();
    for w in 0..writers {
        let bucket = if w < 2 { 0 } else { 1 };
        let same = if bucket == 0 { 2 } else { writers - 2 };
        let slot = if bucket == 0 { w } else { w - 2 };
        let keys: Vec<i64> = by_bucket[bucket].iter().copied().skip(slot).step_by(same).take(10).collect();
        for k in &keys {
            owner.insert(*k, w);
        }
        actors.push(Actor { role: Role::Writer { keys }, ops: 3 + rng.below(3) });
    }
    for _ in 0..compactors {
        actors.push(Actor { role: Role::Compactor, ops: 1 + rng.below(3) });
    }
    let retain_min = 1 + rng.below(2) as i64;
    actors.push(Actor {
        role: Role::Expirer {
            config: ExpireConfig {
                retain_min,
                retain_max: retain_min + rng.below(3) as i64,
                time_retained: Duration::ZERO,
                max_deletes: 1000,
            },
        },
        ops: 2 + rng.below(2),
    });
    let sim = Sim {
        seed,
        dir: dir.clone(),
        sched: Sched::new(seed, actors.len(), mutant),
        model: Mutex::new(Model {
            committed: vec![Rows::new(); writers],
            pending: vec![None; writers],
            owner,
            seen: BTreeMap::new(),
        }),
        stats: Mutex::new(Stats::default()),
        plain: plain.clone(),
    };
    // Whatever panics (a failed check or an unexpected error), waiting store calls are let go.
    struct AbortOnPanic(Arc<Sched>);
    impl Drop for AbortOnPanic {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.abort();
            }
        }
    }
    let _abort_on_panic = AbortOnPanic(sim.sched.clone());
    futures::future::join_all(actors.into_iter().enumerate().map(|(me, a)| sim.run_actor(me, a))).await;

    // The end: orphan cleanup removes what failed operations left, and nothing it should not.
    let t = Table::open_with_io(plain.clone()).await.unwrap();
    let report = RemoveOrphanFiles::new(&t)
        .older_than(Duration::ZERO)
        .execute()
        .await
        .unwrap_or_else(|e| sim.fail(format!("orphan cleanup failed: {e}")));
    sim.check_latest("orphan cleanup").await;
    sim.check_retained("orphan cleanup").await;
    let again = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap();
    if !again.orphans.is_empty() {
        sim.fail(format!("orphans left after cleanup: {:?}", again.orphans));
    }
    let expected = {
        let model = sim.model.lock().unwrap();
        let mut expected = Rows::new();
        for rows in &model.committed {
            expected.extend(rows.clone());
        }
        expected
    };
    let got = read_rows(&t, None).await.unwrap();
    if got != expected {
        sim.fail(format!("final rows differ from the model\n  table: {got:?}\n  model: {expected:?}"));
    }
    let mut stats = std::mem::take(&mut *sim.stats.lock().unwrap());
    let st = sim.sched.state.lock().unwrap();
    stats.interleavings = 1;
    stats.calls = st.calls;
    stats.switches = st.switches;
    stats.faults = st.faults;
    stats.lost_races = st.lost_races;
    stats.orphans_removed = report.deleted as u64;
    // The schedule's fingerprint, for the determinism check.
    (stats, st.trace_hash)
}

/// Pins the calling thread (and the threads it starts) to one CPU, so that shoal's internal
/// parallelism (`available_parallelism`, e.g. buckets compacted at once) is 1: parallel branches
/// of one actor would otherwise reach the store in an order that depends on thread timing.
fn pin_to_one_cpu() {
    extern "C" {
        fn sched_getaffinity(pid: i32, size: usize, mask: *mut u8) -> i32;
        fn sched_setaffinity(pid: i32, size: usize, mask: *const u8) -> i32;
    }
    let mut mask = [0u8; 128];
    // SAFETY: the mask is a cpu_set_t-sized buffer; pid 0 is the calling thread.
    unsafe {
        if sched_getaffinity(0, mask.len(), mask.as_mut_ptr()) != 0 {
            return;
        }
        let Some(byte) = mask.iter().position(|b| *b != 0) else { return };
        let bit = mask[byte].trailing_zeros();
        let mut one = [0u8; 128];
        one[byte] = 1 << bit;
        assert_eq!(sched_setaffinity(0, one.len(), one.as_ptr()), 0, "sched_setaffinity");
    }
    assert_eq!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), 1);
}

fn run_seed(seed: u64) -> (Stats, u64) {
    run_seed_with(seed, false)
}

fn run_seed_with(seed: u64, mutant: bool) -> (Stats, u64) {
    pin_to_one_cpu();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(simulate(seed, mutant))
}

/// The checks can fail: on a store where a second create of a snapshot overwrites the first
/// (so two commits can both take snapshot N, one erasing the other), the simulation finds a
/// lost commit within a few seeds.
#[test]
fn the_checks_catch_a_store_that_loses_commits() {
    for seed in 1..=30u64 {
        let caught = std::panic::catch_unwind(|| run_seed_with(seed, true));
        if let Err(e) = caught {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            eprintln!("mutant caught at seed {seed}: {}", msg.lines().next().unwrap_or(""));
            assert!(msg.contains("differ") || msg.contains("reads"), "caught for another reason: {msg}");
            return;
        }
    }
    panic!("30 seeds on a store that overwrites snapshots, and no lost commit was noticed");
}

const REGRESSION_SEEDS: [u64; 1] = [76];

#[test]
fn seeded_interleavings_of_writers_compactors_and_expiry_with_faults() {
    if let Ok(s) = std::env::var("SHOAL_SIM_SEED") {
        let seed: u64 = s.parse().expect("SHOAL_SIM_SEED is a number");
        let (stats, trace) = run_seed(seed);
        eprintln!("seed {seed}: {stats:?}, schedule fingerprint {trace:016x}");
        return;
    }
    // Seeds that once found a bug run first, whatever the time budget reaches on this machine:
    // 76 had a writer stall between reading snapshot 1 and creating snapshot-2 while others
    // committed 2..4 and expiry removed 1 and 2, so its snapshot-2 was created below the latest.
    for seed in REGRESSION_SEEDS {
        run_seed(seed);
    }
    let budget =
        Duration::from_secs(std::env::var("SHOAL_SIM_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40));
    let started = Instant::now();
    let mut total = Stats::default();
    let mut seed = 1u64;
    while started.elapsed() < budget || seed <= 5 {
        let (s, _) = run_seed(seed);
        total.interleavings += 1;
        total.steps += s.steps;
        total.calls += s.calls;
        total.switches += s.switches;
        total.faults += s.faults;
        total.failed_ops += s.failed_ops;
        total.restarts += s.restarts;
        total.commit_conflicts += s.commit_conflicts;
        total.lost_races += s.lost_races;
        total.expiry_races += s.expiry_races;
        total.orphans_removed += s.orphans_removed;
        seed += 1;
    }
    eprintln!(
        "simulation: {} seeded interleavings (seeds 1..={}) in {:.1?}: {} steps, {} store calls, {} context switches, \
         {} faults injected and survived ({} failed operations, {} restarts), {} commits that lost the race for a \
         snapshot id and retried, {} commit conflicts surfaced, {} races with expiry, {} orphan files removed",
        total.interleavings,
        seed - 1,
        started.elapsed(),
        total.steps,
        total.calls,
        total.switches,
        total.faults,
        total.failed_ops,
        total.restarts,
        total.lost_races,
        total.commit_conflicts,
        total.expiry_races,
        total.orphans_removed
    );
    assert!(total.faults >= 10, "only {} faults were injected", total.faults);
    assert!(total.switches >= 50, "only {} context switches", total.switches);
    assert!(total.lost_races >= 1, "no commit ever lost the race for a snapshot id: the interleaving is too coarse");
}

/// The same seed gives the same schedule (the sequence of store calls of every actor).
#[test]
fn a_seed_replays_the_same_schedule() {
    for seed in [7u64, 8] {
        let (a, ta) = run_seed(seed);
        let (b, tb) = run_seed(seed);
        assert_eq!(
            (ta, a.calls, a.faults, a.switches),
            (tb, b.calls, b.faults, b.switches),
            "seed {seed} did not replay"
        );
    }
}
