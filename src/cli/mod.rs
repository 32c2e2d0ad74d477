//! Argument parsing and subcommand dispatch. Every value can come from a flag, an
//! environment variable or the `--config` TOML file, in that order of precedence.

mod client;
mod config;
mod demo;
mod generate;
mod harvest;
mod import;
mod package;
mod profiles;
mod serve;
mod tenant;
mod udap;
mod upstream;

use clap::{Parser, Subcommand};

pub use config::DbArgs;

#[derive(Parser, Debug)]
#[command(
    name = "fhirdir",
    version,
    about = "A multi-tenant FHIR R4 provider directory server"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Write a synthetic Plan-Net directory as NDJSON.
    Generate(generate::GenerateArgs),
    /// Load NDJSON (.ndjson, .ndjson.gz) or Bundle (.json) files into a tenant.
    Import(import::ImportArgs),
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Manage the SMART Backend Services clients of a tenant.
    Client {
        #[command(subcommand)]
        command: client::ClientCommand,
    },
    /// Run a harvest pass of a tenant's remote source now.
    Harvest(harvest::HarvestArgs),
    /// Make a tenant the replica of an upstream directory, show or stop it.
    Upstream {
        #[command(subcommand)]
        command: upstream::UpstreamCommand,
    },
    /// UDAP tools.
    Udap {
        #[command(subcommand)]
        command: udap::UdapCommand,
    },
    /// FHIR packages: install into and list the package cache `--packages` reads.
    Package {
        #[command(subcommand)]
        command: package::PackageCommand,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Migrate(db) => {
            let cfg = db.resolve()?;
            config::init_logging(&cfg.log_format);
            let store = cfg.connect(true).await?;
            println!("migrations applied ({} backend)", store.backend());
            Ok(())
        }
        Command::Generate(args) => generate::run(args),
        Command::Tenant { command } => tenant::run(command).await,
        Command::Client { command } => client::run(command).await,
        Command::Udap { command } => udap::run(command),
        Command::Upstream { command } => upstream::run(command).await,
        Command::Harvest(args) => harvest::run(args).await,
        Command::Package { command } => package::run(command).await,
        Command::Import(args) => import::run(args).await,
    }
}
