//! The `shoal` command line: [`cli`] parses the arguments and runs the command on the library.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    shoal::memory::limit_malloc_arenas(1);
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
        // The exit status tells scripts what kind of failure it was (shoal::ErrorKind): 2 input,
        // 3 not found, 4 exists, 5 conflict, 6 transient, 7 corruption, 8 unsupported, 1 other.
        Err(e) => {
            eprintln!("shoal: error: {e}");
            std::process::ExitCode::from(e.kind().exit_code())
        }
    }
}
