//! The `shoal` command line: [`cli`] parses the arguments and runs the command on the library.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    shoal::memory::limit_malloc_arenas(2);
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shoal: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of stdout went away (`shoal read T | head`): stop quietly, as Unix tools do.
        Err(_) if cli::stdout_closed() => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
