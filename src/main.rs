//! The `fhirdir` command line: `serve`, `migrate`, `tenant create|list|delete`.

mod cli;

use clap::Parser;

/// mimalloc instead of glibc malloc: the server and the import allocate and free many small
/// JSON values per resource, and glibc's free-list upkeep (`malloc_consolidate`,
/// `unlink_chunk`) was a third of an import's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fhirdir: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
