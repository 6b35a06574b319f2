//! `shoal branch`: create, delete, fast-forward or list branches.

use clap::Subcommand;

use crate::cli::args::TableArg;
use crate::cli::output::{format_millis, outln};
use shoal::error::{Error, Result};
use shoal::maintenance::branches::{list_branches, BranchStart};
use shoal::maintenance::operations::{CreateBranch, DeleteBranch, FastForward};

/// Create, delete, fast-forward or list branches: lines of history of their own that share the
/// table's files (Paimon's branches, `branch/branch-<name>/`). Read or write a branch with
/// `--branch NAME` on any command, or `db.table$branch_NAME`.
///
/// Example: shoal branch create /tmp/wh/db.db/orders experiment --tag q3-report
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Create a branch: from a tag, from a snapshot, or empty (the latest schema only, as Paimon
    /// does without a tag).
    ///
    /// Example: shoal branch create /tmp/wh/db.db/orders experiment --snapshot 42
    Create {
        #[command(flatten)]
        table: TableArg,
        name: String,
        /// Start from the snapshot this tag keeps (the tag is copied into the branch)
        #[arg(long, conflicts_with = "snapshot")]
        tag: Option<String>,
        /// Start from this snapshot
        #[arg(long)]
        snapshot: Option<i64>,
    },
    /// Delete a branch. Files only it referenced become orphans (remove-orphan-files removes them).
    ///
    /// Example: shoal branch delete /tmp/wh/db.db/orders experiment
    Delete {
        #[command(flatten)]
        table: TableArg,
        name: String,
    },
    /// Make the branch's history the main branch's: main's snapshots, schemas and tags from the
    /// branch's first snapshot on are replaced by the branch's.
    ///
    /// Example: shoal branch fast-forward /tmp/wh/db.db/orders experiment
    FastForward {
        #[command(flatten)]
        table: TableArg,
        name: String,
    },
    /// List branches with what they were created from.
    ///
    /// Example: shoal branch list /tmp/wh/db.db/orders
    List {
        #[command(flatten)]
        table: TableArg,
    },
}

pub async fn exec(args: Args) -> Result<()> {
    match args.action {
        Action::Create { table, name, tag, snapshot } => {
            let start = match (tag, snapshot) {
                (Some(t), _) => BranchStart::Tag(t),
                (None, Some(s)) => BranchStart::Snapshot(s),
                (None, None) => BranchStart::Empty,
            };
            let t = table.open().await?;
            CreateBranch::new(&t, &name).start(&start).execute().await?;
            match start {
                BranchStart::Empty => outln!("branch {name:?} created, empty (schema {})", t.schema().id)?,
                BranchStart::Tag(tag) => outln!("branch {name:?} created from tag {tag:?}")?,
                BranchStart::Snapshot(s) => outln!("branch {name:?} created from snapshot {s}")?,
            }
            Ok(())
        }
        Action::Delete { table, name } => {
            let n = DeleteBranch::new(&main_of(&table).await?, &name).execute().await?;
            outln!("branch {name:?} deleted ({n} metadata files)")
        }
        Action::FastForward { table, name } => {
            let r = FastForward::new(&main_of(&table).await?, &name).execute().await?;
            outln!(
                "main fast-forwarded to branch {name:?}: {} snapshots, {} schemas and {} tags replaced by {} snapshots, \
                 {} schemas and {} tags; latest snapshot {}",
                r.snapshots_replaced,
                r.schemas_replaced,
                r.tags_replaced,
                r.snapshots_copied,
                r.schemas_copied,
                r.tags_copied,
                r.latest.map_or("none".into(), |l| l.to_string())
            )
        }
        Action::List { table } => {
            let branches = list_branches(main_of(&table).await?.io()).await?;
            if branches.is_empty() {
                return outln!("no branches");
            }
            outln!("{:<24} {:<20} {:>9}  created", "branch", "from tag", "snapshot")?;
            for b in branches {
                outln!(
                    "{:<24} {:<20} {:>9}  {}",
                    b.name,
                    b.created_from_tag.as_deref().unwrap_or("-"),
                    b.created_from_snapshot.map_or("-".into(), |s| s.to_string()),
                    format_millis(b.create_time_millis)
                )?;
            }
            Ok(())
        }
    }
}

/// The main branch of the table: delete, fast-forward and list act on the table as a whole.
async fn main_of(table: &TableArg) -> Result<shoal::Table> {
    if table.branch()? != shoal::spec::paths::MAIN_BRANCH {
        return Err(Error::InvalidInput(format!(
            "name the table without a branch here (got branch {:?}); the branch is the NAME argument",
            table.branch()?
        )));
    }
    table.open().await
}
