//! `shoal create`: a new table from a schema in SQL spelling.

use crate::cli::args::TableArg;
use crate::cli::output::outln;
use crate::cli::parse::{self, ColumnDefs, Columns};
use shoal::error::Result;
use shoal::table::{Table, TableDefinition};

/// Create a table.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  shoal create /tmp/wh/db.db/orders --schema \"id BIGINT NOT NULL, name STRING, fee DECIMAL(20, 2)\" --primary-key id --bucket 4"
)]
pub struct Args {
    #[command(flatten)]
    table: TableArg,
    /// Columns as "name TYPE, name TYPE NOT NULL, ..." with Paimon's type names
    #[arg(long, value_parser = parse::column_defs)]
    schema: ColumnDefs,
    /// Primary-key columns, comma-separated
    #[arg(long, value_parser = parse::columns)]
    primary_key: Option<Columns>,
    /// Partition columns, comma-separated
    #[arg(long, value_parser = parse::columns)]
    partition: Option<Columns>,
    /// Number of buckets (Paimon's `bucket` option); without it a primary-key table has dynamic
    /// buckets (-1, Paimon's default) and an append table none
    #[arg(long)]
    bucket: Option<i32>,
    /// Any Paimon table option, as key=value (repeatable)
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse::key_value)]
    options: Vec<(String, String)>,
    /// Table comment
    #[arg(long)]
    comment: Option<String>,
}

pub async fn exec(args: Args) -> Result<()> {
    let mut def = TableDefinition {
        columns: args.schema.0,
        primary_keys: args.primary_key.unwrap_or_default().0,
        partition_keys: args.partition.unwrap_or_default().0,
        options: args.options.into_iter().collect(),
        comment: args.comment,
    };
    if let Some(b) = args.bucket {
        def.options.insert("bucket".into(), b.to_string());
    }
    let t = Table::create(&args.table.location()?, def).await?;
    outln!("created {} (schema 0, {} columns)", t.location(), t.schema().fields.len())?;
    Ok(())
}
