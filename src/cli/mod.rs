//! The `shoal` command line (the binary's, not the library's): parses arguments, calls the
//! library and prints. Every subcommand has `--help` with an example; errors go to stderr with
//! context and a non-zero exit code.
//!
//! [`args`] holds the top-level parser and the shared argument groups, [`parse`] the value
//! parsers, [`commands`] one file per command (its `Args` and `exec`), [`output`] how rows and
//! times are printed. A new command is a file in `commands/`, a variant of [`args::Command`] and
//! an arm in [`run`].

mod args;
mod commands;
mod lsm_render;
mod output;
mod parse;
mod ui;

pub use args::Cli;
use args::Command;
use commands::*;
pub use output::stdout_closed;
use shoal::error::Result;

pub async fn run(cli: Cli) -> Result<()> {
    if let Some(dir) = &cli.temp_dir {
        shoal::io::temp::set_base(dir);
    }
    let result = exec(cli.command).await;
    shoal::io::temp::remove_process_dir();
    result
}

async fn exec(command: Command) -> Result<()> {
    match command {
        Command::Demo(a) => demo::exec(a).await,
        Command::Create(a) => create::exec(a).await,
        Command::Write(a) => write::exec(a).await,
        Command::Ingest(a) => ingest::exec(a).await,
        Command::Read(a) => read::exec(a).await,
        Command::Compact(a) => compact::exec(a).await,
        Command::Maintain(a) => maintain::exec(a).await,
        Command::Sql(a) => sql::exec(a).await,
        Command::Inspect(a) => inspect::exec(a).await,
        Command::Tag(a) => tag::exec(a).await,
        Command::Branch(a) => branch::exec(a).await,
        Command::Consumer(a) => consumer::exec(a).await,
        Command::ExpireSnapshots(a) => expire_snapshots::exec(a).await,
        Command::ExpireChangelogs(a) => expire_changelogs::exec(a).await,
        Command::Rollback(a) => rollback::exec(a).await,
        Command::RemoveOrphanFiles(a) => remove_orphan_files::exec(a).await,
        Command::Alter(a) => alter::exec(a).await,
        Command::Snapshots(a) => snapshots::exec(a).await,
        Command::Schema(a) => schema::exec(a).await,
        Command::Tail(a) => tail::exec(a).await,
        Command::Files(a) => files::exec(a).await,
        Command::Ui(a) => commands::ui::exec(a).await,
    }
}
