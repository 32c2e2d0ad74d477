//! The `fhirdir` command line: `serve`, `migrate`, `tenant create|list|delete`.

mod cli;

use clap::Parser;

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
