//! `shoal alter`: change a table's schema or options.

use crate::cli::output::outln;
use clap::Subcommand;

use crate::cli::args::TableArg;
use crate::cli::parse;
use shoal::error::Result;
use shoal::spec::{ColumnPosition, DataType, SchemaChange};

/// Change the schema or options (writes the next schema-N file).
///
/// Example: shoal alter /tmp/wh/db.db/orders add-column "note STRING" --after id
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    #[command(subcommand)]
    change: Change,
}

#[derive(Subcommand, Debug)]
enum Change {
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

impl From<Change> for SchemaChange {
    fn from(change: Change) -> SchemaChange {
        match change {
            Change::AddColumn { column: (name, data_type), first, after, comment } => {
                let position = match (first, after) {
                    (true, _) => ColumnPosition::First,
                    (false, Some(a)) => ColumnPosition::After(a),
                    (false, None) => ColumnPosition::Last,
                };
                SchemaChange::AddColumn { name, data_type, position, comment }
            }
            Change::DropColumn { name } => SchemaChange::DropColumn(name),
            Change::RenameColumn { from, to } => SchemaChange::RenameColumn { from, to },
            Change::AlterColumn { name, data_type } => SchemaChange::UpdateColumnType { name, data_type },
            Change::SetOption { option: (key, value) } => SchemaChange::SetOption { key, value },
            Change::RemoveOption { key } => SchemaChange::RemoveOption(key.trim().to_string()),
        }
    }
}

pub async fn exec(args: Args) -> Result<()> {
    let t = args.table.open().await?;
    let t = t.alter(&[args.change.into()]).await?;
    outln!("schema {} written ({} columns)", t.schema().id, t.schema().fields.len())?;
    Ok(())
}
