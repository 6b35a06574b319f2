//! `shoal write`: load files into a table ([`shoal::ingest`]) and commit them as one snapshot.

use crate::cli::output::outln;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::args::TableArg;
use crate::cli::parse;
use shoal::commit::OverwriteScope;
use shoal::error::{Error, Result};
use shoal::ingest::{FileFormat, MissingColumns};

/// Write files into a table and commit them as one snapshot.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  shoal write /tmp/wh/db.db/orders changes.csv --format csv --row-kind-column op\n  \
                        shoal write /tmp/wh/db.db/orders day.parquet --overwrite --partition dt=2024-01-01"
)]
pub struct Args {
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
    /// A table column a Parquet or CSV input lacks: error, naming the missing and the extra
    /// columns; or null, nulls in the missing nullable columns (on a deduplicate table a null
    /// replaces the value stored for the key, so this is not the default; NOT NULL columns must
    /// be there). A JSON line without a key has a null there in any case.
    #[arg(long, value_enum, value_name = "WHAT", default_value = "error")]
    missing_columns: MissingColumnsArg,
    /// INSERT OVERWRITE: the rows replace the table's rows (one OVERWRITE snapshot) in the
    /// --partition given, else in the partitions they are in (dynamic-partition-overwrite, the
    /// default) or in the whole table (unpartitioned, or dynamic-partition-overwrite = false)
    #[arg(long)]
    overwrite: bool,
    /// With --overwrite: the static partition to replace, as key=value (repeatable; some of the
    /// partition columns replace every partition matching them), replaced even by no rows;
    /// rows outside it are an error
    #[arg(long = "partition", value_name = "KEY=VALUE", value_parser = parse::key_value, requires = "overwrite")]
    partitions: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MissingColumnsArg {
    Error,
    Null,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum InputFormat {
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

/// The spinner shown while a file is read.
fn progress(path: &Path) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec})").expect("static template"),
    );
    pb.set_message(path.display().to_string());
    pb
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    if args.overwrite {
        if args.watermark.is_some() {
            return Err(Error::InvalidInput("--watermark is not recorded by an --overwrite".into()));
        }
        if args.row_kind_column.is_some() {
            return Err(Error::InvalidInput(
                "--row-kind-column does not go with --overwrite: an overwrite writes the new rows as inserts".into(),
            ));
        }
    }
    let mut overwrite = if args.overwrite {
        let mut b = t.new_overwrite().partition(args.partitions.clone());
        if let Some(user) = &args.commit_user {
            b = b.commit_user(user.clone());
        }
        Some(b.start().await?)
    } else {
        None
    };
    let mut plain = match overwrite {
        Some(_) => None,
        None => Some(t.new_write().await?),
    };
    let mut rows = 0usize;
    for f in &args.files {
        let format = match args.format {
            Some(f) => f.into(),
            None => FileFormat::from_extension(f).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: cannot tell the format from the extension; pass --format",
                    f.display()
                ))
            })?,
        };
        let pb = progress(f);
        let kind_column = args.row_kind_column.as_deref();
        let missing = match args.missing_columns {
            MissingColumnsArg::Error => MissingColumns::Error,
            MissingColumnsArg::Null => MissingColumns::Null,
        };
        let w = match (&mut overwrite, &mut plain) {
            (Some(o), _) => o.writer(),
            (None, Some(w)) => w,
            (None, None) => return Err(Error::Task("shoal write has no writer".into())),
        };
        let written =
            shoal::ingest::write_file(&t, w, f, format, kind_column, missing, |n| pb.set_position(n as u64)).await;
        pb.finish_and_clear();
        rows += written?;
    }
    let peak = || shoal::memory::peak_rss_bytes().map(|b| format!("; peak memory {} MiB", b >> 20)).unwrap_or_default();
    if let Some(o) = overwrite {
        let what = match o.scope() {
            OverwriteScope::Dynamic => "the partitions written".to_string(),
            OverwriteScope::Static(p) if p.is_empty() => "the whole table".to_string(),
            OverwriteScope::Static(p) => {
                format!("partition {}", p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("/"))
            }
        };
        let outcome = o.commit().await?;
        match outcome.snapshot_id() {
            Some(id) => outln!("wrote {rows} rows, overwrote {what}, committed snapshot {id}{}", peak())?,
            None => outln!("wrote {rows} rows, nothing to overwrite{}", peak())?,
        }
        return Ok(());
    }
    let Some(mut w) = plain else { return Err(Error::Task("shoal write has no writer".into())) };
    let user = args.commit_user.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let commit = t.new_commit(&user)?;
    let outcome = commit.commit_with_watermark(None, args.watermark, w.prepare_commit().await?).await?;
    let dropped = commit.settle(&mut w, None).await?;
    if dropped > 0 {
        eprintln!("the rows are committed; {dropped} compactions were dropped (others compacted their buckets first)");
    }
    match outcome.snapshot_id() {
        Some(id) => outln!("wrote {rows} rows, committed snapshot {id}{}", peak())?,
        None => outln!("wrote {rows} rows, nothing to commit{}", peak())?,
    }
    Ok(())
}
