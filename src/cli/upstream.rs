//! `fhirdir upstream set|show|remove`: the CLI face of `/admin/tenants/{t}/upstream`. The
//! setting is written to the database; a running server carries it out within a second.

use anyhow::{anyhow, Context};
use clap::Subcommand;
use serde_json::{json, Value};
use services::federation::setting;
use store::TenantName;

use super::config::{init_logging, DbArgs};

#[derive(Subcommand, Debug)]
pub enum UpstreamCommand {
    /// Make the tenant a replica of an upstream FHIR directory.
    Set {
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The upstream's FHIR base, e.g. https://national.example/fhir/default.
        #[arg(long)]
        url: String,
        /// The resource types to copy, comma-separated (default: every directory type).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// SMART Backend Services client id at the upstream (with --private-key).
        #[arg(long, requires = "private_key")]
        client_id: Option<String>,
        /// A file holding that client's private key (PEM: RSA, EC P-256 or P-384).
        #[arg(long, requires = "client_id")]
        private_key: Option<std::path::PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show the tenant's upstream setting, phase and lag.
    Show {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Stop the tenant being a replica (its copied resources stay).
    Remove {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cmd: UpstreamCommand) -> anyhow::Result<()> {
    let (db, tenant) = match &cmd {
        UpstreamCommand::Set { db, tenant, .. }
        | UpstreamCommand::Show { db, tenant }
        | UpstreamCommand::Remove { db, tenant } => (db, tenant),
    };
    let cfg = db.resolve()?;
    init_logging(&cfg.log_format);
    let tenant = TenantName::parse(tenant).context("invalid tenant name")?;
    let store = cfg.connect(true).await?;
    let app = cfg.cli_app(store.clone());
    if !store.tenant_exists(&tenant).await? {
        return Err(anyhow!("tenant {tenant} does not exist"));
    }
    let diagnostics = |e: services::error::Error| anyhow!("{}", e.diagnostics());
    let result = match cmd {
        UpstreamCommand::Set {
            url,
            types,
            client_id,
            private_key,
            ..
        } => {
            let mut body = json!({ "url": url });
            if !types.is_empty() {
                body["types"] = json!(types);
            }
            if let (Some(id), Some(path)) = (client_id, private_key) {
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                body["client_id"] = Value::String(id);
                body["private_key"] = Value::String(pem);
            }
            let shown = setting::set(&app, &tenant, body.to_string().as_bytes())
                .await
                .map_err(diagnostics)?;
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        UpstreamCommand::Show { .. } => {
            let shown = setting::get(&app, &tenant).await.map_err(diagnostics)?;
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        UpstreamCommand::Remove { .. } => setting::remove(&app, &tenant)
            .await
            .map(|()| println!("tenant {tenant} is no longer a replica"))
            .map_err(diagnostics),
    };
    store.close().await;
    result
}
