//! `shoal consumer`: list, reset, delete or expire streaming consumers.

use std::time::Duration;

use clap::Subcommand;

use crate::cli::args::TableArg;
use crate::cli::output::{format_duration, format_millis, outln};
use crate::cli::parse;
use shoal::error::{Error, Result};
use shoal::maintenance::operations::ExpireConsumers;
use shoal::store::Consumer;

/// List, reset, delete or expire streaming consumers (the progress of readers).
///
/// A consumer (consumer/consumer-<id>) holds the next snapshot a reader such as
/// `shoal tail --consumer-id` reads; snapshot expiry keeps it and later ones. With the table
/// option consumer.expiration-time, consumers not updated for that long are deleted after
/// commits (live readers renew theirs).
///
/// Example: shoal consumer reset /tmp/wh/db.db/orders dashboard --next-snapshot 42
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
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

pub async fn exec(args: Args) -> Result<()> {
    match args.action {
        Action::List { table } => list(table).await,
        Action::Reset { table, id, next_snapshot } => reset(table, &id, next_snapshot).await,
        Action::Delete { table, id } => delete(table, &id).await,
        Action::Expire { table, older_than } => expire(table, older_than).await,
    }
}

async fn list(table: TableArg) -> Result<()> {
    let t = table.open().await?;
    let times = t.consumers().last_updates().await?;
    let mut consumers = t.consumers().consumers().await?;
    consumers.sort_by(|a, b| a.0.cmp(&b.0));
    outln!("{:<32}  {:>13}  last update (UTC)", "consumer", "next snapshot")?;
    for (id, c) in consumers {
        let at = times.get(&id).map(|&ms| format_millis(ms)).unwrap_or_default();
        outln!("{id:<32}  {:>13}  {at}", c.next_snapshot)?;
    }
    Ok(())
}

async fn reset(table: TableArg, id: &str, next_snapshot: i64) -> Result<()> {
    let t = table.open().await?;
    t.consumers().reset(id, Consumer { next_snapshot }).await?;
    outln!("consumer {id:?} reads snapshot {next_snapshot} next")?;
    Ok(())
}

async fn delete(table: TableArg, id: &str) -> Result<()> {
    let t = table.open().await?;
    if t.consumers().consumer(id).await?.is_none() {
        return Err(Error::InvalidInput(format!("consumer {id:?} does not exist")));
    }
    t.consumers().delete(id).await?;
    outln!("deleted consumer {id:?}")?;
    Ok(())
}

async fn expire(table: TableArg, older_than: Option<Duration>) -> Result<()> {
    let t = table.open().await?;
    let expiration = match older_than {
        Some(d) => d,
        None => t.schema().core_options().consumer_expiration_time()?.ok_or_else(|| {
            Error::InvalidInput("give --older-than, or set the table's consumer.expiration-time".into())
        })?,
    };
    let gone = ExpireConsumers::new(&t, expiration).execute().await?;
    for id in &gone {
        outln!("deleted consumer {id:?}")?;
    }
    outln!("{} consumers not updated for {} deleted", gone.len(), format_duration(expiration))?;
    Ok(())
}
