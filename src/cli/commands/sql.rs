//! `shoal sql`: SQL statements over a warehouse through DataFusion, or an interactive prompt.

use ::datafusion::prelude::SessionContext;

use crate::cli::output::{self, outln, pretty_rows, rows_text};
use shoal::error::{Error, Result};

/// Run SQL over a warehouse with DataFusion (tables as db.table): queries, INSERT, UPDATE,
/// DELETE, CALL sys.compact(...), VERSION AS OF. Without a query, an interactive prompt
/// (statements end with ';').
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  shoal sql \"SELECT order_state, count(*) FROM orders.orders GROUP BY order_state\" --warehouse /tmp/wh\n  shoal sql \"DELETE FROM orders.orders WHERE order_id = 7\" --warehouse /tmp/wh\n  shoal sql --warehouse /tmp/wh      (interactive; end statements with ';')"
)]
pub struct Args {
    /// SQL statements separated by ';'; omit for an interactive prompt
    query: Option<String>,
    /// Warehouse root holding <db>.db/<table> directories
    #[arg(long, env = "SHOAL_WAREHOUSE", default_value = "warehouse")]
    warehouse: String,
}

pub async fn exec(args: Args) -> Result<()> {
    let ctx = shoal::datafusion::context_for_warehouse(&args.warehouse).await?;
    match args.query {
        Some(q) => run_sql(&ctx, &q).await,
        None => sql_prompt(&ctx).await,
    }
}

/// Runs SQL statements and prints each result as a table.
async fn run_sql(ctx: &SessionContext, text: &str) -> Result<()> {
    let results = shoal::datafusion::sql_results(ctx, text).await.map_err(sql_error)?;
    for (schema, batches) in results {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        // Statements without columns (CREATE, SET) print only the count.
        if !schema.fields().is_empty() {
            outln!("{}", pretty_rows(&schema, &batches)?)?;
        }
        outln!("{}", rows_text(rows))?;
    }
    Ok(())
}

/// A DataFusion error as shoal's: shoal's own errors keep their message.
fn sql_error(e: ::datafusion::error::DataFusionError) -> Error {
    match shoal::datafusion::shoal_error(&e) {
        Some(inner) => Error::InvalidInput(format!("SQL: {}", inner.detail())),
        None => Error::InvalidInput(format!("SQL: {e}")),
    }
}

/// The interactive prompt: reads statements up to ';' from stdin and runs them; errors are
/// printed and the prompt goes on. `quit`, `exit` or end of input leave.
async fn sql_prompt(ctx: &SessionContext) -> Result<()> {
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
                if output::stdout_closed() {
                    return Err(e);
                }
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
