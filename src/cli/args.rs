//! The command line's shape: the top-level parser, the list of commands, and the argument groups
//! several commands share. Each command's own arguments, help and `exec` are in
//! [`commands`](super::commands), one file per command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::commands::*;
use super::parse;
use shoal::error::{Error, Result};
use shoal::maintenance::expire::RetentionOverrides;

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

/// The commands, in the order `shoal --help` lists them; each one's help is on its `Args`.
#[derive(Subcommand, Debug)]
pub enum Command {
    Demo(demo::Args),
    Create(create::Args),
    Write(write::Args),
    Ingest(ingest::Args),
    Read(read::Args),
    Compact(compact::Args),
    Maintain(maintain::Args),
    Sql(sql::Args),
    Inspect(inspect::Args),
    Tag(tag::Args),
    Consumer(consumer::Args),
    ExpireSnapshots(expire_snapshots::Args),
    ExpireChangelogs(expire_changelogs::Args),
    Rollback(rollback::Args),
    RemoveOrphanFiles(remove_orphan_files::Args),
    Alter(alter::Args),
    Snapshots(snapshots::Args),
    Schema(schema::Args),
    Tail(tail::Args),
    Files(files::Args),
    Branch(branch::Args),
    Ui(ui::Args),
}

/// Where a table is: a directory path or URL, or `db.table` with `--warehouse`.
#[derive(clap::Args, Debug, Clone)]
pub struct TableArg {
    /// Table directory or URL (file://, s3://), or db.table together with --warehouse
    pub table: String,
    /// Warehouse root holding <db>.db/<table> directories (Paimon's filesystem catalog layout)
    #[arg(long, env = "SHOAL_WAREHOUSE")]
    pub warehouse: Option<String>,
    /// Work on this branch of the table (default main); `db.table$branch_NAME` also names one
    #[arg(long)]
    pub branch: Option<String>,
}

impl TableArg {
    /// `db.table` + warehouse -> `<warehouse>/db.db/table`; anything else is a location as is
    /// (without a `$branch_NAME` suffix).
    pub fn location(&self) -> Result<String> {
        let (table, _) = self.split_branch()?;
        match &self.warehouse {
            Some(w) if !table.contains('/') => {
                let (db, name) = table.split_once('.').ok_or_else(|| {
                    Error::InvalidInput(format!("with --warehouse, name the table as db.table (got {:?})", self.table))
                })?;
                Ok(format!("{}/{db}.db/{name}", w.trim_end_matches('/')))
            }
            _ => Ok(table.to_string()),
        }
    }

    /// The branch named by `--branch` or a `$branch_NAME` suffix (Paimon's identifier syntax).
    pub fn branch(&self) -> Result<String> {
        Ok(self.split_branch()?.1)
    }

    fn split_branch(&self) -> Result<(&str, String)> {
        let suffix = self.table.rsplit_once("$branch_");
        match (suffix, &self.branch) {
            (Some((_, s)), Some(b)) if s != b => Err(Error::InvalidInput(format!(
                "{:?} names branch {s:?} but --branch says {b:?}: give one of them",
                self.table
            ))),
            (Some((t, s)), _) => Ok((t, s.to_string())),
            (None, Some(b)) => Ok((&self.table, b.clone())),
            (None, None) => Ok((&self.table, shoal::spec::paths::MAIN_BRANCH.to_string())),
        }
    }

    /// Opens the table on its branch (main unless one is named).
    pub async fn open(&self) -> Result<shoal::Table> {
        shoal::Table::open_branch(&self.location()?, &self.branch()?).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn tables_resolve_in_a_warehouse() {
        let arg = |table: &str, warehouse: Option<&str>| TableArg {
            table: table.into(),
            warehouse: warehouse.map(Into::into),
            branch: None,
        };
        assert_eq!(arg("db.t", Some("/wh/")).location().unwrap(), "/wh/db.db/t");
        assert_eq!(arg("/data/t", Some("/wh")).location().unwrap(), "/data/t");
        assert_eq!(arg("db.t", None).location().unwrap(), "db.t");
        assert!(arg("db", Some("/wh")).location().is_err());
        assert_eq!(arg("db.t", None).branch().unwrap(), "main");
        let b = arg("db.t$branch_dev", Some("/wh"));
        assert_eq!((b.location().unwrap().as_str(), b.branch().unwrap().as_str()), ("/wh/db.db/t", "dev"));
        let mut both = arg("/data/t$branch_a", None);
        both.branch = Some("b".into());
        assert!(both.branch().unwrap_err().to_string().contains("--branch says"));
        both.branch = Some("a".into());
        assert_eq!(both.branch().unwrap(), "a");
    }
}
