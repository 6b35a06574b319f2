//! The `shoal` command line. Every subcommand has `--help` with an example; errors go to stderr
//! with context and a non-zero exit code.

mod demo;
mod io_formats;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::spec::{options::split_list, parse_type, RowKind};
use crate::table::{Table, TableDefinition};

#[derive(Parser, Debug)]
#[command(name = "shoal", version, about = "A Rust-native table store that speaks the Apache Paimon table format")]
pub struct Cli {
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
    ///
    /// Example: shoal demo --warehouse /tmp/shoal-demo
    Demo {
        /// Warehouse directory (created if missing)
        #[arg(long, default_value = "warehouse")]
        warehouse: String,
    },
    /// Create a table.
    ///
    /// Example: shoal create /tmp/wh/db.db/orders --schema "id BIGINT NOT NULL, name STRING, fee DECIMAL(20, 2)"
    /// --primary-key id --bucket 4
    Create {
        #[command(flatten)]
        table: TableArg,
        /// Columns as "name TYPE, name TYPE NOT NULL, ..." with Paimon's type names
        #[arg(long)]
        schema: String,
        /// Primary-key columns, comma-separated
        #[arg(long)]
        primary_key: Option<String>,
        /// Partition columns, comma-separated
        #[arg(long)]
        partition: Option<String>,
        /// Number of buckets (Paimon's `bucket` option)
        #[arg(long)]
        bucket: Option<i32>,
        /// Any Paimon table option, as key=value (repeatable)
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// Table comment
        #[arg(long)]
        comment: Option<String>,
    },
    /// Write files into a table and commit them as one snapshot.
    ///
    /// Example: shoal write /tmp/wh/db.db/orders changes.csv --format csv --row-kind-column op
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
    },
    /// Read a table (merged), optionally at a snapshot, projected and limited.
    ///
    /// Example: shoal read /tmp/wh/db.db/orders --columns id,fee --limit 10 --format csv
    Read {
        #[command(flatten)]
        table: TableArg,
        /// Snapshot id to read (time travel); default: the latest
        #[arg(long)]
        snapshot: Option<i64>,
        /// Columns to output, comma-separated
        #[arg(long)]
        columns: Option<String>,
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
    ///
    /// Example: shoal compact /tmp/wh/db.db/orders --full --partition dt=2024-01-01
    Compact {
        #[command(flatten)]
        table: TableArg,
        /// Merge every bucket completely into the last level (default: what universal compaction picks)
        #[arg(long)]
        full: bool,
        /// Only these partitions, as key=value (repeatable)
        #[arg(long = "partition", value_name = "KEY=VALUE")]
        partitions: Vec<String>,
    },
    /// List snapshots.
    ///
    /// Example: shoal snapshots /tmp/wh/db.db/orders
    Snapshots {
        #[command(flatten)]
        table: TableArg,
    },
    /// Print the table's schema (the latest schema file).
    ///
    /// Example: shoal schema /tmp/wh/db.db/orders
    Schema {
        #[command(flatten)]
        table: TableArg,
    },
    /// List the live data files by partition, bucket and level.
    ///
    /// Example: shoal files /tmp/wh/db.db/orders --snapshot 3
    Files {
        #[command(flatten)]
        table: TableArg,
        #[arg(long)]
        snapshot: Option<i64>,
    },
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { warehouse } => demo::run(&warehouse).await,
        Command::Create { table, schema, primary_key, partition, bucket, options, comment } => {
            let mut def = TableDefinition { columns: parse_columns(&schema)?, comment, ..Default::default() };
            def.primary_keys = primary_key.map(|s| split_list(&s)).unwrap_or_default();
            def.partition_keys = partition.map(|s| split_list(&s)).unwrap_or_default();
            let mut opts = BTreeMap::new();
            for o in options {
                let (k, v) = o
                    .split_once('=')
                    .ok_or_else(|| Error::InvalidInput(format!("--option {o:?} is not key=value")))?;
                opts.insert(k.trim().to_string(), v.trim().to_string());
            }
            if let Some(b) = bucket {
                opts.insert("bucket".into(), b.to_string());
            }
            def.options = opts;
            let t = Table::create(&table.location()?, def).await?;
            println!("created {} (schema 0, {} columns)", t.location(), t.schema().fields.len());
            Ok(())
        }
        Command::Write { table, files, format, row_kind_column, commit_user } => {
            let t = Table::open(&table.location()?).await?;
            let mut w = t.new_write().await?;
            let mut rows = 0usize;
            for f in &files {
                let fmt = match format {
                    Some(f) => f,
                    None => io_formats::format_from_extension(f)?,
                };
                rows += io_formats::write_file(&t, &mut w, f, fmt, row_kind_column.as_deref()).await?;
            }
            let user = commit_user.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let outcome = t.new_commit(&user)?.commit(w.prepare_commit().await?).await?;
            match outcome.snapshot_id() {
                Some(id) => println!("wrote {rows} rows, committed snapshot {id}"),
                None => println!("wrote {rows} rows, nothing to commit"),
            }
            Ok(())
        }
        Command::Read { table, snapshot, columns, limit, format, output } => {
            let t = Table::open(&table.location()?).await?;
            let projection = match &columns {
                Some(c) => Some(t.projection_of(&split_list(c).iter().map(String::as_str).collect::<Vec<_>>())?),
                None => None,
            };
            let schema = match &projection {
                Some(p) => std::sync::Arc::new(t.arrow_schema().project(p).map_err(Error::arrow("projecting"))?),
                None => t.arrow_schema(),
            };
            let mut stream = t.scan_stream(snapshot, projection).await?;
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
            let mut job = crate::maintenance::compact::CompactJob::new(full);
            job.partition_filter = crate::maintenance::compact::partition_filter_from_pairs(&t, &partitions)?;
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
                    "compacted {} buckets: {} files ({:.1} MB) -> {} files ({:.1} MB written) in {secs:.2}s, snapshot {id}",
                    r.buckets_compacted,
                    r.files_before,
                    r.bytes_read as f64 / 1e6,
                    r.files_after,
                    r.bytes_written as f64 / 1e6
                ),
                None => println!("nothing to compact"),
            }
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

/// `"id BIGINT NOT NULL, name STRING, price DECIMAL(10, 2)"` -> columns. Commas inside
/// parentheses or angle brackets belong to the type.
pub fn parse_columns(s: &str) -> Result<Vec<(String, crate::spec::DataType)>> {
    let mut parts = vec![];
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    let mut cols = vec![];
    for (i, p) in parts.iter().enumerate() {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (name, ty) = p.split_once(char::is_whitespace).ok_or_else(|| {
            Error::InvalidInput(format!("--schema column {} ({p:?}) needs a name and a type, like \"id BIGINT\"", i + 1))
        })?;
        let t = parse_type(ty.trim()).map_err(|e| Error::InvalidInput(format!("--schema column {name:?}: {e}")))?;
        cols.push((name.trim_matches('`').to_string(), t));
    }
    if cols.is_empty() {
        return Err(Error::InvalidInput("--schema names no columns".into()));
    }
    Ok(cols)
}

/// Row kinds from a string column (+I, -U, +U, -D), naming the first bad row.
pub fn row_kinds_from_strings(values: &arrow_array::StringArray, column: &str, first_row: usize) -> Result<Vec<RowKind>> {
    use arrow_array::Array;
    (0..values.len())
        .map(|i| {
            if values.is_null(i) {
                return Err(Error::InvalidInput(format!("row {}: row kind column {column:?} is empty", first_row + i + 1)));
            }
            RowKind::from_short_string(values.value(i)).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "row {}: row kind column {column:?} holds {:?}; expected +I, -U, +U or -D",
                    first_row + i + 1,
                    values.value(i)
                ))
            })
        })
        .collect()
}
