//! `shoal sql`: SQL statements over a warehouse through DataFusion, or an interactive prompt.

use ::datafusion::prelude::SessionContext;

use crate::cli::output::{self, outln, pretty_rows, rows_text};
use shoal::error::{Error, Result};

/// Run SQL over a warehouse with DataFusion (tables as db.table): queries, INSERT, UPDATE,
/// DELETE, CALL sys.compact(...), VERSION AS OF. Without a query, an interactive prompt
/// (statements end with ';'; line editing, Ctrl-R search and a history in ~/.shoal_history or
/// $SHOAL_HISTORY).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  shoal sql \"SELECT order_state, count(*) FROM orders.orders GROUP BY order_state\" --warehouse /tmp/wh\n  shoal sql \"DELETE FROM orders.orders WHERE order_id = 7\" --warehouse /tmp/wh\n  shoal sql --warehouse /tmp/wh      (interactive; end statements with ';')\n\nThe prompt keeps its history in ~/.shoal_history (SHOAL_HISTORY=FILE elsewhere, SHOAL_HISTORY= for none)."
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
    shoal::datafusion::statement_error("SQL", &e)
}

/// The interactive prompt: reads statements up to ';' and runs them; errors are printed and the
/// prompt goes on. `quit`, `exit` or end of input leave. On a terminal the lines are edited
/// (arrows, Ctrl-R history search, multi-line statements) and kept in [`history_path`];
/// piped input is read line by line.
async fn sql_prompt(ctx: &SessionContext) -> Result<()> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        match line_editor() {
            Ok(editor) => return edited_prompt(ctx, editor).await,
            Err(e) => eprintln!("shoal: no line editing ({e})"),
        }
    }
    read_stdin_prompt(ctx).await
}

/// `quit`, `exit`, `\q` (with or without ';').
fn is_quit(text: &str) -> bool {
    matches!(text.trim().trim_end_matches(';').trim_end(), "quit" | "exit" | "\\q")
}

/// Where the prompt keeps its history: `$SHOAL_HISTORY` (empty: no history), else
/// `~/.shoal_history`.
fn history_path() -> Option<std::path::PathBuf> {
    match std::env::var_os("SHOAL_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p.into()),
        None => {
            std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| std::path::Path::new(&h).join(".shoal_history"))
        }
    }
}

/// The line editor's view of a statement: Enter runs it once it ends with ';' (or is `quit`),
/// and otherwise starts a new line of the same statement.
struct Statement;

impl rustyline::validate::Validator for Statement {
    fn validate(
        &self,
        ctx: &mut rustyline::validate::ValidationContext,
    ) -> rustyline::Result<rustyline::validate::ValidationResult> {
        use rustyline::validate::ValidationResult;
        let text = ctx.input().trim();
        Ok(if text.is_empty() || text.ends_with(';') || is_quit(text) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl rustyline::completion::Completer for Statement {
    type Candidate = String;
}

impl rustyline::hint::Hinter for Statement {
    type Hint = String;
}

impl rustyline::highlight::Highlighter for Statement {}

impl rustyline::Helper for Statement {}

type LineEditor = rustyline::Editor<Statement, rustyline::history::FileHistory>;

fn line_editor() -> rustyline::Result<LineEditor> {
    use std::io::IsTerminal;
    let config = rustyline::Config::builder()
        .max_history_size(10_000)?
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .auto_add_history(false)
        // Results may go to a file (`shoal sql > out.txt`): the prompt then edits on the terminal.
        .behavior(if std::io::stdout().is_terminal() {
            rustyline::config::Behavior::Stdio
        } else {
            rustyline::config::Behavior::PreferTerm
        })
        .build();
    let mut editor = LineEditor::with_config(config)?;
    editor.set_helper(Some(Statement));
    Ok(editor)
}

async fn edited_prompt(ctx: &SessionContext, mut editor: LineEditor) -> Result<()> {
    use rustyline::error::ReadlineError;
    let history = history_path();
    if let Some(path) = &history {
        // No file yet is the first session.
        if let Err(e) = editor.load_history(path) {
            if path.exists() {
                eprintln!("shoal: cannot read the history {}: {e}", path.display());
            }
        }
    }
    let mut history_failed = false;
    loop {
        let text = match editor.readline("shoal> ") {
            Ok(text) => text,
            // Ctrl-C drops the statement being typed; Ctrl-D leaves.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(ReadlineError::Io(e)) => return Err(Error::local_io("reading the prompt")(e)),
            Err(e) => return Err(Error::internal("reading the prompt")(e)),
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if is_quit(text) {
            return Ok(());
        }
        let _ = editor.add_history_entry(text);
        if let Some(path) = history.as_ref().filter(|_| !history_failed) {
            // Appended at once, so sessions side by side all keep their statements.
            if let Err(e) = editor.append_history(path) {
                eprintln!("shoal: cannot write the history {}: {e}", path.display());
                history_failed = true;
            }
        }
        if let Err(e) = run_sql(ctx, text).await {
            if output::stdout_closed() {
                return Err(e);
            }
            eprintln!("shoal: error: {e}");
        }
    }
}

/// The prompt on piped input: statements up to ';' read line by line; with any failed
/// statement the command fails at the end.
async fn read_stdin_prompt(ctx: &SessionContext) -> Result<()> {
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
        let line = line.map_err(Error::local_io("reading stdin"))?;
        if statement.trim().is_empty() && is_quit(&line) {
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
