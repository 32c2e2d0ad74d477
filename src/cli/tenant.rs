//! `fhirdir tenant create|list|delete NAME`: the CLI face of `/admin/tenants`.

use anyhow::{bail, Context};
use clap::Subcommand;
use store::TenantName;

use super::config::{init_logging, DbArgs};

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a tenant and everything it holds.
    Delete {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cmd: TenantCommand) -> anyhow::Result<()> {
    let (db, name) = match &cmd {
        TenantCommand::Create { db, name } | TenantCommand::Delete { db, name } => (db, Some(name)),
        TenantCommand::List { db } => (db, None),
    };
    let cfg = db.resolve()?;
    init_logging(&cfg.log_format);
    let store = cfg.connect(true).await?;
    let tenant = name
        .map(|n| TenantName::parse(n))
        .transpose()
        .context("invalid tenant name")?;
    match (cmd, tenant) {
        (TenantCommand::Create { .. }, Some(t)) => {
            if !store.create_tenant(&t).await? {
                bail!("tenant {t} already exists");
            }
            println!("created tenant {t}");
        }
        (TenantCommand::Delete { .. }, Some(t)) => {
            if !store.delete_tenant(&t).await? {
                bail!("tenant {t} does not exist");
            }
            println!("deleted tenant {t}");
        }
        _ => {
            for t in store.list_tenants().await? {
                println!("{}\t{}", t.name, fhir::meta::format_instant(t.created_at));
            }
        }
    }
    store.close().await;
    Ok(())
}
