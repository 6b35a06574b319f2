//! The `shoal` command line (the binary's, not the library's): parses arguments, calls the
//! library and prints. Every subcommand has `--help` with an example; errors go to stderr with
//! context and a non-zero exit code.

mod demo;
mod inspect;
mod io_formats;
mod parse;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use futures::StreamExt;

use shoal::error::{Error, Result};
use shoal::ingest::FileFormat;
use shoal::maintenance::rollback::RollbackTarget;
use shoal::read::scan::TimeTravel;
use shoal::maintenance::expire::RetentionOverrides;
use shoal::read::StartingPosition;
use shoal::spec::{ColumnPosition, DataType, SchemaChange};
use shoal::table::{Table, TableDefinition};

#[derive(Parser, Debug)]
#[command(name = "shoal", version, about = "A Rust-native table store that speaks the Apache Paimon table format")]
pub struct Cli {
    /// Local directory for scratch files (lookup indexes, spills); each process works in a
    /// directory of its own below it, removed when it exits (or by the next run after a crash)
    #[arg(long, global = true, env = "SHOAL_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where a table is: a directory path or URL, or `db.table` with `--warehouse`.
#[derive(clap::Args, Debug, Clone)]
pub struct TableArg {
    /// Table directory or URL (file://, s3://), or db.table together with --warehouse
    pub table: String,
    /// Warehouse root holding <db>.db/<table> directories (Paimon's filesystem catalog layout)
    #[arg(long, env = "SHOAL_WAREHOUSE")]
    pub warehouse: Option<String>,
}

impl TableArg {
    pub fn location(&self) -> Result<String> {
        resolve_table(&self.table, self.warehouse.as_deref())
    }
}

/// `db.table` + warehouse -> `<warehouse>/db.db/table`; anything else is a location as is.
pub fn resolve_table(table: &str, warehouse: Option<&str>) -> Result<String> {
    match warehouse {
        Some(w) if !table.contains('/') => {
            let (db, name) = table.split_once('.').ok_or_else(|| {
                Error::InvalidInput(format!("with --warehouse, name the table as db.table (got {table:?})"))
            })?;
            Ok(format!("{}/{db}.db/{name}", w.trim_end_matches('/')))
        }
        _ => Ok(table.to_string()),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InputFormat {
    Parquet,
    Csv,
    Jsonl,
}

impl From<InputFormat> for FileFormat {
    fn from(f: InputFormat) -> FileFormat {
        match f {
            InputFormat::Parquet => FileFormat::Parquet,
            InputFormat::Csv => FileFormat::Csv,
            InputFormat::Jsonl => FileFormat::Jsonl,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Jsonl,
    Parquet,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a demo on a local warehouse: create a table, write, upsert, delete, read, print.
    #[command(after_help = "Example:\n  shoal demo --warehouse /tmp/shoal-demo")]
    Demo {
        /// Warehouse directory (created if missing)
        #[arg(long, default_value = "warehouse")]
        warehouse: String,
    },
    /// Create a table.
    #[command(after_help = "Example:\n  shoal create /tmp/wh/db.db/orders --schema \"id BIGINT NOT NULL, name STRING, fee DECIMAL(20, 2)\" --primary-key id --bucket 4")]
    Create {
        #[command(flatten)]
        table: TableArg,
        /// Columns as "name TYPE, name TYPE NOT NULL, ..." with Paimon's type names
        #[arg(long, value_parser = parse::column_defs)]
        schema: parse::ColumnDefs,
        /// Primary-key columns, comma-separated
        #[arg(long, value_parser = parse::columns)]
        primary_key: Option<parse::Columns>,
        /// Partition columns, comma-separated
        #[arg(long, value_parser = parse::columns)]
        partition: Option<parse::Columns>,
        /// Number of buckets (Paimon's `bucket` option)
        #[arg(long)]
        bucket: Option<i32>,
        /// Any Paimon table option, as key=value (repeatable)
        #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse::key_value)]
        options: Vec<(String, String)>,
        /// Table comment
        #[arg(long)]
        comment: Option<String>,
    },
    /// Write files into a table and commit them as one snapshot.
    #[command(after_help = "Example:\n  shoal write /tmp/wh/db.db/orders changes.csv --format csv --row-kind-column op")]
    Write {
        #[command(flatten)]
        table: TableArg,
        /// Input files
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Input format (default: from the file extension)
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// A column holding each row's kind: +I, -U, +U or -D (not written to the table)
        #[arg(long)]
        row_kind_column: Option<String>,
        /// Commit user (default: a fresh one)
        #[arg(long)]
        commit_user: Option<String>,
        /// The data's watermark, recorded in the snapshot (Paimon's `watermark`; drives
        /// tag.automatic-creation = watermark): epoch millis or a timestamp like 2024-01-02 03:04:05 (UTC)
        #[arg(long, value_parser = parse::timestamp_millis)]
        watermark: Option<i64>,
    },
    /// Read a table (merged), optionally at a snapshot, projected, filtered and limited.
    #[command(
        after_help = "Examples:\n  shoal read /tmp/wh/db.db/orders --columns id,fee --limit 10 --format csv\n  shoal read orders.orders --warehouse /tmp/wh --where \"order_state = 'PAID' AND order_fee > 100\""
    )]
    Read {
        #[command(flatten)]
        table: TableArg,
        /// Snapshot id to read (time travel); default: the latest
        #[arg(long, conflicts_with_all = ["tag", "as_of"])]
        snapshot: Option<i64>,
        /// Read the snapshot a tag keeps
        #[arg(long, conflicts_with = "as_of")]
        tag: Option<String>,
        /// Read the latest snapshot committed at or before this time: epoch millis or an ISO
        /// timestamp (2024-01-02T03:04:05Z, 2024-01-02 03:04:05 in UTC, 2024-01-02)
        #[arg(long, value_parser = parse::timestamp_millis)]
        as_of: Option<i64>,
        /// Columns to output, comma-separated
        #[arg(long, value_parser = parse::columns)]
        columns: Option<parse::Columns>,
        /// Only rows matching this SQL predicate (evaluated by DataFusion; partition filters prune)
        #[arg(long = "where", value_name = "PREDICATE")]
        filter: Option<String>,
        /// Stop after this many rows
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// Write to this file instead of stdout
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Compact a table's buckets (the dedicated compaction job; safe beside running writers).
    #[command(after_help = "Example:\n  shoal compact /tmp/wh/db.db/orders --full --partition dt=2024-01-01")]
    Compact {
        #[command(flatten)]
        table: TableArg,
        /// Merge every bucket completely into the last level (default: what universal compaction picks)
        #[arg(long)]
        full: bool,
        /// Only these partitions, as key=value (repeatable)
        #[arg(long = "partition", value_name = "KEY=VALUE", value_parser = parse::key_value)]
        partitions: Vec<(String, String)>,
    },
    /// Run SQL over a warehouse with DataFusion (tables as db.table): queries, INSERT, UPDATE,
    /// DELETE, CALL sys.compact(...), VERSION AS OF. Without a query, an interactive prompt
    /// (statements end with ';').
    #[command(
        after_help = "Examples:\n  shoal sql \"SELECT order_state, count(*) FROM orders.orders GROUP BY order_state\" --warehouse /tmp/wh\n  shoal sql \"DELETE FROM orders.orders WHERE order_id = 7\" --warehouse /tmp/wh\n  shoal sql --warehouse /tmp/wh      (interactive; end statements with ';')"
    )]
    Sql {
        /// SQL statements separated by ';'; omit for an interactive prompt
        query: Option<String>,
        /// Warehouse root holding <db>.db/<table> directories
        #[arg(long, env = "SHOAL_WAREHOUSE", default_value = "warehouse")]
        warehouse: String,
    },
    /// Show the LSM shape of each bucket: sorted runs by level, file counts and sizes, key
    /// ranges and overlaps; optionally as an SVG picture.
    #[command(after_help = "Example:\n  shoal inspect /tmp/wh/db.db/orders --svg orders-lsm.svg")]
    Inspect {
        #[command(flatten)]
        table: TableArg,
        /// Snapshot to inspect; default: the latest
        #[arg(long)]
        snapshot: Option<i64>,
        /// Also draw the trees into this SVG file
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Create, delete, list or expire tags (named snapshots kept from expiry).
    ///
    /// Example: shoal tag create /tmp/wh/db.db/orders q3-report --snapshot 42 --time-retained 7d
    Tag {
        #[command(subcommand)]
        action: TagAction,
    },
    /// List, reset, delete or expire streaming consumers (the progress of readers).
    ///
    /// A consumer (consumer/consumer-<id>) holds the next snapshot a reader such as
    /// `shoal tail --consumer-id` reads; snapshot expiry keeps it and later ones. With the table
    /// option consumer.expiration-time, consumers not updated for that long are deleted after
    /// commits (live readers renew theirs).
    ///
    /// Example: shoal consumer reset /tmp/wh/db.db/orders dashboard --next-snapshot 42
    Consumer {
        #[command(subcommand)]
        action: ConsumerAction,
    },
    /// Expire old snapshots and delete the files only they referenced.
    ///
    /// Flags left out take the table's options (snapshot.num-retained.min/max,
    /// snapshot.time-retained); --max-deletes defaults to no limit.
    ///
    /// Example: shoal expire-snapshots /tmp/wh/db.db/orders --retain-max 5 --older-than 1h
    ExpireSnapshots {
        #[command(flatten)]
        table: TableArg,
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Expire long-lived changelogs (changelog/changelog-<id>) of a table whose changelog
    /// outlives its snapshots, and delete the files only they read.
    ///
    /// Flags left out take the table's options (changelog.num-retained.min/max,
    /// changelog.time-retained, defaulting to the snapshot ones); --max-deletes defaults to no limit.
    /// Consumers still hold what they need.
    ///
    /// Example: shoal expire-changelogs /tmp/wh/db.db/orders --retain-max 100 --older-than 1d
    ExpireChangelogs {
        #[command(flatten)]
        table: TableArg,
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Roll the table back to a snapshot or tag: later snapshots and tags and their files go.
    ///
    /// Example: shoal rollback /tmp/wh/db.db/orders --to 12     (or --to my-tag)
    Rollback {
        #[command(flatten)]
        table: TableArg,
        /// A snapshot id or a tag name
        #[arg(long, value_parser = parse::rollback_target)]
        to: RollbackTarget,
    },
    /// Delete files in the table directory that no snapshot or tag references.
    ///
    /// Example: shoal remove-orphan-files /tmp/wh/db.db/orders --older-than 1d --dry-run
    RemoveOrphanFiles {
        #[command(flatten)]
        table: TableArg,
        /// Only files older than this (Paimon's default: 1 day)
        #[arg(long, default_value = "1 d", value_parser = parse::spelled_duration)]
        older_than: parse::SpelledDuration,
        /// List the orphans without deleting them
        #[arg(long)]
        dry_run: bool,
    },
    /// Change the schema or options (writes the next schema-N file).
    ///
    /// Example: shoal alter /tmp/wh/db.db/orders add-column "note STRING" --after id
    Alter {
        #[command(flatten)]
        table: TableArg,
        #[command(subcommand)]
        change: AlterAction,
    },
    /// List snapshots.
    #[command(after_help = "Example:\n  shoal snapshots /tmp/wh/db.db/orders")]
    Snapshots {
        #[command(flatten)]
        table: TableArg,
    },
    /// Print the table's schema (the latest schema file).
    #[command(after_help = "Example:\n  shoal schema /tmp/wh/db.db/orders")]
    Schema {
        #[command(flatten)]
        table: TableArg,
    },
    /// Follow a table: print its changes as they are committed, with the row kind (+I, -U, +U,
    /// -D) in the first column, until interrupted.
    ///
    /// --from: full (default: the latest snapshot in full, then its changes), latest (only new
    /// changes), earliest (the changes of every retained snapshot), a snapshot id (its changes
    /// and later), or a time (YYYY-MM-DD[ HH:MM:SS] UTC, or epoch millis: the changes committed
    /// since). With --consumer-id the reader records its progress in consumer/consumer-<ID>
    /// (snapshot expiry keeps what it still needs) and resumes there when restarted.
    ///
    /// Example: shoal tail /tmp/wh/db.db/orders --from latest --consumer-id dashboard --format jsonl
    Tail {
        #[command(flatten)]
        table: TableArg,
        /// full | latest | earliest | SNAPSHOT_ID | TIME (default: the table's scan.mode, else full)
        #[arg(long, value_parser = parse::starting_position)]
        from: Option<StartingPosition>,
        /// Record and resume progress under this consumer id
        #[arg(long)]
        consumer_id: Option<String>,
        /// How often to look for new snapshots, e.g. 1s, 500ms (default: continuous.discovery-interval, 10 s)
        #[arg(long, value_parser = parse::duration)]
        interval: Option<Duration>,
        /// Exit once every committed snapshot has been printed, instead of waiting for more
        #[arg(long)]
        exit_when_caught_up: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: TailFormat,
    },
    /// List the live data files by partition, bucket and level.
    #[command(after_help = "Example:\n  shoal files /tmp/wh/db.db/orders --snapshot 3")]
    Files {
        #[command(flatten)]
        table: TableArg,
        #[arg(long)]
        snapshot: Option<i64>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TailFormat {
    Table,
    Csv,
    Jsonl,
}

#[derive(Subcommand, Debug)]
pub enum TagAction {
    /// Tag the latest snapshot, or --snapshot N.
    ///
    /// Example: shoal tag create /tmp/wh/db.db/orders weekly --snapshot 42 --time-retained 7d
    Create {
        #[command(flatten)]
        table: TableArg,
        name: String,
        #[arg(long)]
        snapshot: Option<i64>,
        /// Delete the tag once this long has passed since now (e.g. 12h, 7d); default: the
        /// table's tag.default-time-retained, else kept until deleted
        #[arg(long, value_parser = parse::duration)]
        time_retained: Option<Duration>,
    },
    /// Create the tags the table's tag.automatic-creation options call for (over the snapshots
    /// not yet considered), then expire tags whose retention has passed: what runs after every
    /// commit, for tables written with write-only = true.
    ///
    /// Example: shoal tag create-auto /tmp/wh/db.db/orders
    CreateAuto {
        #[command(flatten)]
        table: TableArg,
    },
    /// Delete the tags whose retention time (tagCreateTime + tagTimeRetained) has passed.
    ///
    /// Example: shoal tag expire /tmp/wh/db.db/orders
    Expire {
        #[command(flatten)]
        table: TableArg,
    },
    /// Delete a tag (and the files only it kept, if its snapshot has expired).
    ///
    /// Example: shoal tag delete /tmp/wh/db.db/orders q3-report
    Delete {
        #[command(flatten)]
        table: TableArg,
        name: String,
    },
    /// List tags.
    ///
    /// Example: shoal tag list /tmp/wh/db.db/orders
    List {
        #[command(flatten)]
        table: TableArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConsumerAction {
    /// List consumers with their next snapshot and last update.
    ///
    /// Example: shoal consumer list /tmp/wh/db.db/orders
    List {
        #[command(flatten)]
        table: TableArg,
    },
    /// Create or move a consumer to --next-snapshot N (a reader with this consumer id resumes
    /// there).
    ///
    /// Example: shoal consumer reset /tmp/wh/db.db/orders dashboard --next-snapshot 42
    Reset {
        #[command(flatten)]
        table: TableArg,
        id: String,
        /// The snapshot the consumer reads next (1 or more)
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        next_snapshot: i64,
    },
    /// Delete a consumer (expiry no longer waits for it).
    ///
    /// Example: shoal consumer delete /tmp/wh/db.db/orders dashboard
    Delete {
        #[command(flatten)]
        table: TableArg,
        id: String,
    },
    /// Delete consumers not updated for --older-than (default: the table's
    /// consumer.expiration-time), as after every commit.
    ///
    /// Example: shoal consumer expire /tmp/wh/db.db/orders --older-than 7d
    Expire {
        #[command(flatten)]
        table: TableArg,
        #[arg(long, value_parser = parse::duration)]
        older_than: Option<Duration>,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum AlterAction {
    /// Add a nullable column: "name TYPE" (at the end, or --first / --after COLUMN)
    AddColumn {
        #[arg(value_parser = parse::column_def)]
        column: (String, DataType),
        #[arg(long, conflicts_with = "after")]
        first: bool,
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Drop a column (not a key column)
    DropColumn { name: String },
    /// Rename a column (not a key column)
    RenameColumn { from: String, to: String },
    /// Widen a column's type, e.g. INT to BIGINT
    AlterColumn {
        name: String,
        #[arg(value_parser = parse::data_type)]
        data_type: DataType,
    },
    /// Set a table option: key=value
    SetOption {
        #[arg(value_parser = parse::key_value)]
        option: (String, String),
    },
    /// Remove a table option
    RemoveOption { key: String },
}

impl AlterAction {
    fn to_change(&self) -> SchemaChange {
        match self.clone() {
            AlterAction::AddColumn { column: (name, data_type), first, after, comment } => {
                let position = match (first, after) {
                    (true, _) => ColumnPosition::First,
                    (false, Some(a)) => ColumnPosition::After(a),
                    (false, None) => ColumnPosition::Last,
                };
                SchemaChange::AddColumn { name, data_type, position, comment }
            }
            AlterAction::DropColumn { name } => SchemaChange::DropColumn(name),
            AlterAction::RenameColumn { from, to } => SchemaChange::RenameColumn { from, to },
            AlterAction::AlterColumn { name, data_type } => SchemaChange::UpdateColumnType { name, data_type },
            AlterAction::SetOption { option: (key, value) } => SchemaChange::SetOption { key, value },
            AlterAction::RemoveOption { key } => SchemaChange::RemoveOption(key.trim().to_string()),
        }
    }
}

/// The retention flags of `expire-snapshots` and `expire-changelogs`; flags left out take the
/// table's options.
#[derive(clap::Args, Debug, Clone)]
pub struct RetentionArgs {
    /// Keep at most this many snapshots (expire-changelogs: snapshots and changelogs together)
    #[arg(long)]
    pub retain_max: Option<i64>,
    /// Keep at least this many snapshots (expire-changelogs: snapshots and changelogs together)
    #[arg(long)]
    pub retain_min: Option<i64>,
    /// Keep everything younger than this (e.g. 1h, 30min, 7d)
    #[arg(long, value_parser = parse::duration)]
    pub older_than: Option<Duration>,
    /// Expire at most this many in this run (default: no limit)
    #[arg(long)]
    pub max_deletes: Option<i64>,
}

impl RetentionArgs {
    pub fn overrides(&self) -> RetentionOverrides {
        RetentionOverrides {
            retain_max: self.retain_max,
            retain_min: self.retain_min,
            time_retained: self.older_than,
            max_deletes: self.max_deletes,
        }
    }
}

/// A duration the way the duration options spell it: `7 d`, `2 h`, `90 s`, `250 ms`.
fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("min", 60_000), ("s", 1000)] {
        if ms >= size && ms % size == 0 {
            return format!("{} {unit}", ms / size);
        }
    }
    format!("{ms} ms")
}

fn format_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()).unwrap_or_default()
}

pub async fn run(cli: Cli) -> Result<()> {
    if let Some(dir) = &cli.temp_dir {
        shoal::io::temp::set_base(dir);
    }
    let result = run_command(cli.command).await;
    shoal::io::temp::remove_process_dir();
    result
}

async fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Demo { warehouse } => demo::run(&warehouse).await,
        Command::Create { table, schema, primary_key, partition, bucket, options, comment } => {
            let mut def = TableDefinition { columns: schema.0, comment, ..Default::default() };
            def.primary_keys = primary_key.unwrap_or_default().0;
            def.partition_keys = partition.unwrap_or_default().0;
            let mut opts: BTreeMap<String, String> = options.into_iter().collect();
            if let Some(b) = bucket {
                opts.insert("bucket".into(), b.to_string());
            }
            def.options = opts;
            let t = Table::create(&table.location()?, def).await?;
            println!("created {} (schema 0, {} columns)", t.location(), t.schema().fields.len());
            Ok(())
        }
        Command::Write { table, files, format, row_kind_column, commit_user, watermark } => {
            let t = Table::open(&table.location()?).await?;
            let mut w = t.new_write().await?;
            let mut rows = 0usize;
            for f in &files {
                let fmt = match format {
                    Some(f) => f.into(),
                    None => FileFormat::from_extension(f).ok_or_else(|| {
                        Error::InvalidInput(format!("{}: cannot tell the format from the extension; pass --format", f.display()))
                    })?,
                };
                let pb = io_formats::progress(f);
                let written = shoal::ingest::write_file(&t, &mut w, f, fmt, row_kind_column.as_deref(), |n| pb.set_position(n as u64)).await;
                pb.finish_and_clear();
                rows += written?;
            }
            let user = commit_user.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let commit = t.new_commit(&user)?;
            let outcome = commit.commit_with_watermark(None, watermark, w.prepare_commit().await?).await?;
            let dropped = w.settle_commit(&commit, None).await?;
            if dropped > 0 {
                eprintln!("the rows are committed; {dropped} compactions were dropped (others compacted their buckets first)");
            }
            let peak = shoal::memory::peak_rss_bytes().map(|b| format!("; peak memory {} MiB", b >> 20)).unwrap_or_default();
            match outcome.snapshot_id() {
                Some(id) => println!("wrote {rows} rows, committed snapshot {id}{peak}"),
                None => println!("wrote {rows} rows, nothing to commit{peak}"),
            }
            Ok(())
        }
        Command::Read { table, snapshot, tag, as_of, columns, filter, limit, format, output } => {
            let mut t = Table::open(&table.location()?).await?;
            let travel = match (snapshot, tag, as_of) {
                (Some(id), _, _) => Some(TimeTravel::Snapshot(id)),
                (_, Some(name), _) => Some(TimeTravel::Tag(name)),
                (_, _, Some(at)) => Some(TimeTravel::Timestamp(at)),
                _ => None,
            };
            if let Some(tt) = travel {
                t = t.travel(&tt).await?;
            }
            let projection = match &columns {
                Some(c) => Some(t.projection_of(&c.0.iter().map(String::as_str).collect::<Vec<_>>())?),
                None => None,
            };
            let schema = match &projection {
                Some(p) => std::sync::Arc::new(t.arrow_schema().project(p).map_err(Error::arrow("projecting"))?),
                None => t.arrow_schema(),
            };
            let mut stream = match &filter {
                Some(predicate) => filtered_stream(&t, projection.as_deref(), predicate, limit).await?,
                None => t.scan_stream(None, projection).await?,
            };
            let mut sink = io_formats::OutputSink::new(format, output.as_deref(), schema)?;
            let mut remaining = limit.unwrap_or(usize::MAX);
            while let Some(b) = stream.next().await {
                if remaining == 0 {
                    break;
                }
                let b = b?;
                let b = if b.num_rows() > remaining { b.slice(0, remaining) } else { b };
                remaining -= b.num_rows();
                sink.write(&b)?;
            }
            sink.finish()
        }
        Command::Compact { table, full, partitions } => {
            let t = Table::open(&table.location()?).await?;
            let mut job = shoal::maintenance::compact::CompactJob::new(full);
            job.partition_filter = shoal::maintenance::compact::partition_filter(&t, &partitions)?;
            let pb = indicatif::ProgressBar::new(0);
            pb.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} buckets ({elapsed})").expect("static template"),
            );
            job.progress = Some(pb.clone());
            let started = std::time::Instant::now();
            let r = job.run(&t).await?;
            pb.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            match r.outcome.snapshot_id() {
                Some(id) => println!(
                    "compacted {} buckets: {} files ({:.1} MB, {} rows) -> {} files ({:.1} MB written) in {secs:.2}s \
                     ({:.1} MB/s, {:.0} rows/s read), snapshot {id}",
                    r.buckets_compacted,
                    r.files_before,
                    r.bytes_read as f64 / 1e6,
                    r.rows_read,
                    r.files_after,
                    r.bytes_written as f64 / 1e6,
                    r.bytes_read as f64 / 1e6 / secs.max(1e-9),
                    r.rows_read as f64 / secs.max(1e-9)
                ),
                None => println!("nothing to compact"),
            }
            for d in &r.dropped {
                eprintln!("bucket {} left for a later run: {}", d.bucket, d.reason);
            }
            Ok(())
        }
        Command::Sql { query, warehouse } => {
            let ctx = shoal::datafusion::context_for_warehouse(&warehouse).await?;
            match query {
                Some(q) => run_sql(&ctx, &q).await,
                None => sql_prompt(&ctx).await,
            }
        }
        Command::Inspect { table, snapshot, svg } => {
            let t = Table::open(&table.location()?).await?;
            let mut scan = t.new_scan();
            if let Some(s) = snapshot {
                scan = scan.with_snapshot(s);
            }
            let plan = scan.plan().await?;
            let shapes = shoal::lsm::shape::bucket_shapes(t.schema(), &plan.splits)?;
            match &plan.snapshot {
                Some(s) => println!("{} at snapshot {}", t.location(), s.id),
                None => println!("{} has no snapshot yet", t.location()),
            }
            print!("{}", inspect::render_text(&shapes));
            if let Some(path) = svg {
                std::fs::write(&path, inspect::render_svg(t.location(), &shapes))
                    .map_err(|e| Error::InvalidInput(format!("cannot write {}: {e}", path.display())))?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Command::Tail { table, from, consumer_id, interval, exit_when_caught_up, format } => {
            let t = Table::open(&table.location()?).await?;
            let mut options = shoal::read::StreamOptions::from_table(&t)?;
            if let Some(start) = from {
                options.start = start;
            }
            if let Some(id) = consumer_id {
                options.consumer_id = Some(id);
            }
            if let Some(i) = interval {
                options.discovery_interval = i;
            }
            let mut reader = t.stream_read_with(options).await?;
            let mut out = io_formats::TailSink::new(format);
            loop {
                let batches = reader.read_available().await?;
                for b in &batches {
                    out.write(&b.batch)?;
                }
                if batches.is_empty() {
                    if exit_when_caught_up {
                        reader.checkpoint().await?;
                        return Ok(());
                    }
                    tokio::time::sleep(reader.discovery_interval()).await;
                }
            }
        }
        Command::Tag { action } => match action {
            TagAction::Create { table, name, snapshot, time_retained } => {
                let t = Table::open(&table.location()?).await?;
                let tag = match time_retained {
                    Some(d) => t.create_tag_with_retention(&name, snapshot, d).await?,
                    None => t.create_tag(&name, snapshot).await?,
                };
                match tag.time_retained {
                    Some(d) => println!("tag {name:?} on snapshot {}, kept for {}", tag.snapshot.id, format_duration(d)),
                    None => println!("tag {name:?} on snapshot {}", tag.snapshot.id),
                }
                Ok(())
            }
            TagAction::CreateAuto { table } => {
                let t = Table::open(&table.location()?).await?;
                let mode = t.schema().core_options().tag_creation_mode()?;
                let r = t.run_tag_maintenance().await?;
                if mode == shoal::spec::options::TagCreationMode::None {
                    println!("tag.automatic-creation is none: no tags to create");
                }
                for (name, id) in &r.auto.created {
                    println!("created tag {name:?} on snapshot {id}");
                }
                for name in r.auto.deleted.tags_deleted.iter().chain(&r.expired.tags_deleted) {
                    println!("deleted tag {name:?}");
                }
                println!(
                    "{} tags created, {} deleted ({} data files, {} manifest files only they kept)",
                    r.auto.created.len(),
                    r.auto.deleted.tags_deleted.len() + r.expired.tags_deleted.len(),
                    r.auto.deleted.data_files_deleted + r.expired.data_files_deleted,
                    r.auto.deleted.manifests_deleted + r.expired.manifests_deleted
                );
                Ok(())
            }
            TagAction::Expire { table } => {
                let t = Table::open(&table.location()?).await?;
                let r = t.expire_tags().await?;
                for name in &r.tags_deleted {
                    println!("deleted tag {name:?}");
                }
                println!(
                    "{} tags past their retention deleted ({} data files, {} manifest files only they kept)",
                    r.tags_deleted.len(),
                    r.data_files_deleted,
                    r.manifests_deleted
                );
                Ok(())
            }
            TagAction::Delete { table, name } => {
                let t = Table::open(&table.location()?).await?;
                let r = t.delete_tag(&name).await?;
                println!(
                    "deleted tag {name:?} ({} data files, {} manifest files only it kept)",
                    r.data_files_deleted, r.manifests_deleted
                );
                Ok(())
            }
            TagAction::List { table } => {
                let t = Table::open(&table.location()?).await?;
                println!(
                    "{:<24}  {:>8}  {:>7}  {:>12}  {:<23}  {:<23}  {:<9}",
                    "tag", "snapshot", "schema", "total rows", "snapshot time (UTC)", "created (local)", "retained"
                );
                for tag in t.tags().await? {
                    let s = &tag.snapshot;
                    println!(
                        "{:<24}  {:>8}  {:>7}  {:>12}  {:<23}  {:<23}  {:<9}",
                        tag.name,
                        s.id,
                        s.schema_id,
                        s.total_record_count.map(|v| v.to_string()).unwrap_or_default(),
                        format_millis(s.time_millis),
                        tag.create_time.map(|c| c.format("%Y-%m-%d %H:%M:%S%.3f").to_string()).unwrap_or_default(),
                        tag.time_retained.map(format_duration).unwrap_or_default()
                    );
                }
                Ok(())
            }
        },
        Command::Consumer { action } => match action {
            ConsumerAction::List { table } => {
                let t = Table::open(&table.location()?).await?;
                let times = t.consumers().last_updates().await?;
                let mut consumers = t.consumers().consumers().await?;
                consumers.sort_by(|a, b| a.0.cmp(&b.0));
                println!("{:<32}  {:>13}  last update (UTC)", "consumer", "next snapshot");
                for (id, c) in consumers {
                    let at = times.get(&id).map(|&ms| format_millis(ms)).unwrap_or_default();
                    println!("{id:<32}  {:>13}  {at}", c.next_snapshot);
                }
                Ok(())
            }
            ConsumerAction::Reset { table, id, next_snapshot } => {
                let t = Table::open(&table.location()?).await?;
                t.consumers().reset(&id, shoal::store::Consumer { next_snapshot }).await?;
                println!("consumer {id:?} reads snapshot {next_snapshot} next");
                Ok(())
            }
            ConsumerAction::Delete { table, id } => {
                let t = Table::open(&table.location()?).await?;
                if t.consumers().consumer(&id).await?.is_none() {
                    return Err(Error::InvalidInput(format!("consumer {id:?} does not exist")));
                }
                t.consumers().delete(&id).await?;
                println!("deleted consumer {id:?}");
                Ok(())
            }
            ConsumerAction::Expire { table, older_than } => {
                let t = Table::open(&table.location()?).await?;
                let expiration = match older_than {
                    Some(d) => d,
                    None => t.schema().core_options().consumer_expiration_time()?.ok_or_else(|| {
                        Error::InvalidInput("give --older-than, or set the table's consumer.expiration-time".into())
                    })?,
                };
                let gone = t.expire_consumers(expiration).await?;
                for id in &gone {
                    println!("deleted consumer {id:?}");
                }
                println!("{} consumers not updated for {} deleted", gone.len(), format_duration(expiration));
                Ok(())
            }
        },
        Command::ExpireSnapshots { table, retention } => {
            let t = Table::open(&table.location()?).await?;
            let config = t.expire_config()?.with_overrides(&retention.overrides());
            let started = std::time::Instant::now();
            let r = t.expire_snapshots(&config).await?;
            println!(
                "expired {} snapshots: deleted {} data files and {} manifest files in {:.2}s; earliest snapshot is {}",
                r.snapshots_expired,
                r.data_files_deleted,
                r.manifests_deleted,
                started.elapsed().as_secs_f64(),
                r.earliest.map(|e| e.to_string()).unwrap_or_else(|| "none".into())
            );
            if r.changelogs_written > 0 {
                println!(
                    "kept {} long-lived changelogs in changelog/ (the table's changelog outlives its snapshots; \
                     shoal expire-changelogs removes them)",
                    r.changelogs_written
                );
            }
            Ok(())
        }
        Command::ExpireChangelogs { table, retention } => {
            let t = Table::open(&table.location()?).await?;
            let config = t.changelog_expire_config()?.with_overrides(&retention.overrides());
            let started = std::time::Instant::now();
            let r = t.expire_changelogs(&config).await?;
            println!(
                "expired {} changelogs: deleted {} data files and {} manifest files in {:.2}s; earliest changelog is {}",
                r.changelogs_expired,
                r.data_files_deleted,
                r.manifests_deleted,
                started.elapsed().as_secs_f64(),
                r.earliest.map(|e| e.to_string()).unwrap_or_else(|| "none".into())
            );
            Ok(())
        }
        Command::Rollback { table, to } => {
            let t = Table::open(&table.location()?).await?;
            let r = t.rollback(&to).await?;
            println!(
                "rolled back to snapshot {}: deleted {} snapshots, tags [{}], {} data files, {} manifest files",
                r.snapshot_id,
                r.snapshots_deleted,
                r.tags_deleted.join(", "),
                r.data_files_deleted,
                r.manifests_deleted
            );
            Ok(())
        }
        Command::RemoveOrphanFiles { table, older_than, dry_run } => {
            let t = Table::open(&table.location()?).await?;
            let r = t.remove_orphan_files(older_than.value, dry_run).await?;
            for o in &r.orphans {
                println!("{}{o}", if dry_run { "orphan: " } else { "deleted: " });
            }
            println!(
                "{} orphan files ({:.1} MB){}; {} unreferenced files younger than {older_than} kept",
                r.orphans.len(),
                r.bytes as f64 / 1e6,
                if dry_run { ", dry run: nothing deleted" } else { " deleted" },
                r.too_young
            );
            Ok(())
        }
        Command::Alter { table, change } => {
            let t = Table::open(&table.location()?).await?;
            let t = t.alter(&[change.to_change()]).await?;
            println!("schema {} written ({} columns)", t.schema().id, t.schema().fields.len());
            Ok(())
        }
        Command::Snapshots { table } => {
            let t = Table::open(&table.location()?).await?;
            let sm = t.snapshots();
            println!("{:>6}  {:<8}  {:>7}  {:>12}  {:>12}  {:<24}  commit user", "id", "kind", "schema", "total rows", "delta rows", "time (UTC)");
            for id in sm.snapshot_ids().await? {
                let s = sm.snapshot(id).await?;
                let time = chrono::DateTime::from_timestamp_millis(s.time_millis)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                    .unwrap_or_default();
                println!(
                    "{:>6}  {:<8}  {:>7}  {:>12}  {:>12}  {:<24}  {}",
                    s.id,
                    format!("{:?}", s.commit_kind).to_uppercase(),
                    s.schema_id,
                    s.total_record_count.map(|v| v.to_string()).unwrap_or_default(),
                    s.delta_record_count.map(|v| v.to_string()).unwrap_or_default(),
                    time,
                    s.commit_user
                );
            }
            Ok(())
        }
        Command::Schema { table } => {
            let t = Table::open(&table.location()?).await?;
            println!("{}", t.schema().to_json_string());
            Ok(())
        }
        Command::Files { table, snapshot } => {
            let t = Table::open(&table.location()?).await?;
            let mut scan = t.new_scan();
            if let Some(s) = snapshot {
                scan = scan.with_snapshot(s);
            }
            let plan = scan.plan().await?;
            println!("{:<40}  {:>5}  {:>10}  {:>12}  {:>10}  file", "partition/bucket", "level", "rows", "bytes", "deletes");
            for split in plan.splits {
                let mut files = split.files.clone();
                files.sort_by_key(|f| (std::cmp::Reverse(f.level), f.min_sequence_number));
                for f in files {
                    println!(
                        "{:<40}  {:>5}  {:>10}  {:>12}  {:>10}  {}",
                        split.bucket_path,
                        f.level,
                        f.row_count,
                        f.file_size,
                        f.delete_row_count.unwrap_or(0),
                        f.file_name
                    );
                }
            }
            Ok(())
        }
    }
}

/// Rows of a table matching a SQL predicate, through DataFusion (so partition filters prune and
/// statistics skip files).
async fn filtered_stream(
    t: &Table,
    projection: Option<&[usize]>,
    predicate: &str,
    limit: Option<usize>,
) -> Result<futures::stream::BoxStream<'static, Result<arrow_array::RecordBatch>>> {
    // A travelled table (--snapshot/--tag/--as-of) reads its snapshot through any provider.
    let provider = shoal::datafusion::ShoalTableProvider::new(t.clone());
    let ctx = ::datafusion::prelude::SessionContext::new();
    let sql_err = |e: ::datafusion::error::DataFusionError| Error::InvalidInput(format!("--where {predicate:?}: {e}"));
    ctx.register_table("t", std::sync::Arc::new(provider)).map_err(sql_err)?;
    let mut df = ctx.table("t").await.map_err(sql_err)?;
    let expr = df.parse_sql_expr(predicate).map_err(sql_err)?;
    df = df.filter(expr).map_err(sql_err)?;
    if let Some(p) = projection {
        let names: Vec<String> = p.iter().map(|&i| t.schema().fields[i].name.clone()).collect();
        df = df.select_columns(&names.iter().map(String::as_str).collect::<Vec<_>>()).map_err(sql_err)?;
    }
    if let Some(n) = limit {
        df = df.limit(0, Some(n)).map_err(sql_err)?;
    }
    let stream = df.execute_stream().await.map_err(sql_err)?;
    Ok(stream.map(|r| r.map_err(|e| Error::InvalidInput(format!("reading: {e}")))).boxed())
}

/// Runs SQL statements and prints each result as a table.
async fn run_sql(ctx: &::datafusion::prelude::SessionContext, text: &str) -> Result<()> {
    let results = shoal::datafusion::sql_statements(ctx, text).await.map_err(sql_error)?;
    for batches in results {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if !batches.is_empty() && batches[0].num_columns() > 0 {
            let text = arrow::util::pretty::pretty_format_batches(&batches).map_err(Error::arrow("formatting rows"))?;
            println!("{text}");
        }
        println!("{rows} row{}", if rows == 1 { "" } else { "s" });
    }
    Ok(())
}

/// A DataFusion error as shoal's: shoal's own errors keep their message.
fn sql_error(e: ::datafusion::error::DataFusionError) -> Error {
    match shoal::datafusion::shoal_error(&e) {
        Some(inner) => Error::InvalidInput(format!("SQL: {inner}")),
        None => Error::InvalidInput(format!("SQL: {e}")),
    }
}

/// The interactive prompt: reads statements up to ';' from stdin and runs them; errors are
/// printed and the prompt goes on. `quit`, `exit` or end of input leave.
async fn sql_prompt(ctx: &::datafusion::prelude::SessionContext) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let interactive = std::io::stdin().is_terminal();
    let prompt = |continued: bool| {
        if interactive {
            eprint!("{}", if continued { "   ..> " } else { "shoal> " });
            let _ = std::io::stderr().flush();
        }
    };
    let mut statement = String::new();
    let mut failed = false;
    prompt(false);
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::InvalidInput(format!("reading stdin: {e}")))?;
        if statement.trim().is_empty() && matches!(line.trim().trim_end_matches(';'), "quit" | "exit" | "\\q") {
            return Ok(());
        }
        statement.push_str(&line);
        statement.push('\n');
        if line.trim_end().ends_with(';') {
            let q = std::mem::take(&mut statement);
            if let Err(e) = run_sql(ctx, &q).await {
                eprintln!("shoal: error: {e}");
                failed = true;
            }
            prompt(false);
        } else {
            prompt(true);
        }
    }
    if !statement.trim().is_empty() {
        if let Err(e) = run_sql(ctx, &statement).await {
            eprintln!("shoal: error: {e}");
            failed = true;
        }
    }
    if failed && !interactive {
        return Err(Error::InvalidInput("some statements failed (see above)".into()));
    }
    Ok(())
}
