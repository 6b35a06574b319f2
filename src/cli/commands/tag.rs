//! `shoal tag`: create, delete, list or expire tags.

use std::time::Duration;

use clap::Subcommand;

use crate::cli::args::TableArg;
use crate::cli::output::{format_duration, format_millis, outln};
use crate::cli::parse;
use shoal::error::Result;
use shoal::maintenance::operations::{CreateTag, DeleteTag, ExpireTags, TagMaintenance};
use shoal::spec::options::TagCreationMode;

/// Create, delete, list or expire tags (named snapshots kept from expiry).
///
/// Example: shoal tag create /tmp/wh/db.db/orders q3-report --snapshot 42 --time-retained 7d
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
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

pub async fn exec(args: Args) -> Result<()> {
    match args.action {
        Action::Create { table, name, snapshot, time_retained } => create(table, &name, snapshot, time_retained).await,
        Action::CreateAuto { table } => create_auto(table).await,
        Action::Expire { table } => expire(table).await,
        Action::Delete { table, name } => delete(table, &name).await,
        Action::List { table } => list(table).await,
    }
}

async fn create(table: TableArg, name: &str, snapshot: Option<i64>, time_retained: Option<Duration>) -> Result<()> {
    let t = table.open().await?;
    let tag = CreateTag::new(&t, name).snapshot(snapshot).time_retained(time_retained).execute().await?;
    match tag.time_retained {
        Some(d) => outln!("tag {name:?} on snapshot {}, kept for {}", tag.snapshot.id, format_duration(d))?,
        None => outln!("tag {name:?} on snapshot {}", tag.snapshot.id)?,
    }
    Ok(())
}

async fn create_auto(table: TableArg) -> Result<()> {
    let t = table.open().await?;
    let mode = t.schema().core_options().tag_creation_mode()?;
    let r = TagMaintenance::new(&t).execute().await?;
    if mode == TagCreationMode::None {
        outln!("tag.automatic-creation is none: no tags to create")?;
    }
    for (name, id) in &r.auto.created {
        outln!("created tag {name:?} on snapshot {id}")?;
    }
    for name in r.auto.deleted.tags_deleted.iter().chain(&r.expired.tags_deleted) {
        outln!("deleted tag {name:?}")?;
    }
    outln!(
        "{} tags created, {} deleted ({} data files, {} manifest files only they kept)",
        r.auto.created.len(),
        r.auto.deleted.tags_deleted.len() + r.expired.tags_deleted.len(),
        r.auto.deleted.data_files_deleted + r.expired.data_files_deleted,
        r.auto.deleted.manifests_deleted + r.expired.manifests_deleted
    )?;
    Ok(())
}

async fn expire(table: TableArg) -> Result<()> {
    let t = table.open().await?;
    let r = ExpireTags::new(&t).execute().await?;
    for name in &r.tags_deleted {
        outln!("deleted tag {name:?}")?;
    }
    outln!(
        "{} tags past their retention deleted ({} data files, {} manifest files only they kept)",
        r.tags_deleted.len(),
        r.data_files_deleted,
        r.manifests_deleted
    )?;
    Ok(())
}

async fn delete(table: TableArg, name: &str) -> Result<()> {
    let t = table.open().await?;
    let r = DeleteTag::new(&t, name).execute().await?;
    outln!(
        "deleted tag {name:?} ({} data files, {} manifest files only it kept)",
        r.data_files_deleted,
        r.manifests_deleted
    )?;
    Ok(())
}

async fn list(table: TableArg) -> Result<()> {
    let t = table.open().await?;
    outln!(
        "{:<24}  {:>8}  {:>7}  {:>12}  {:<23}  {:<23}  {:<9}",
        "tag",
        "snapshot",
        "schema",
        "total rows",
        "snapshot time (UTC)",
        "created (local)",
        "retained"
    )?;
    for tag in t.tags().await? {
        let s = &tag.snapshot;
        outln!(
            "{:<24}  {:>8}  {:>7}  {:>12}  {:<23}  {:<23}  {:<9}",
            tag.name,
            s.id,
            s.schema_id,
            s.total_record_count.map(|v| v.to_string()).unwrap_or_default(),
            format_millis(s.time_millis),
            tag.create_time.map(|c| c.format("%Y-%m-%d %H:%M:%S%.3f").to_string()).unwrap_or_default(),
            tag.time_retained.map(format_duration).unwrap_or_default()
        )?;
    }
    Ok(())
}
