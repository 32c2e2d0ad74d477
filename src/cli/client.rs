//! `fhirdir client add|list|remove`: the CLI face of `/admin/tenants/{t}/clients` (SMART
//! Backend Services clients registered by the operator).

use anyhow::{anyhow, Context};
use clap::Subcommand;
use serde_json::{json, Value};
use services::auth::clients;
use store::TenantName;

use super::config::{init_logging, DbArgs};

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client; prints it with its client_id.
    Add {
        #[arg(long, default_value = "default")]
        tenant: String,
        /// A file holding the client's public JWK Set ({"keys": [...]}).
        #[arg(
            long,
            conflicts_with = "jwks_uri",
            required_unless_present = "jwks_uri"
        )]
        jwks: Option<std::path::PathBuf>,
        /// Where the client publishes its JWK Set (https).
        #[arg(long)]
        jwks_uri: Option<String>,
        /// The most the client may be granted, e.g. "system/*.rs system/Organization.cruds".
        #[arg(long)]
        scope: String,
        /// The organization it acts for: Organization/{id}.
        #[arg(long)]
        organization: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Let it see all restricted content (NDH usage restrictions, `meta.security`): for
        /// the operator's own tools only.
        #[arg(long)]
        see_restricted: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the clients of a tenant.
    List {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a client.
    Remove {
        client_id: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    let (db, tenant) = match &cmd {
        ClientCommand::Add { db, tenant, .. }
        | ClientCommand::List { db, tenant }
        | ClientCommand::Remove { db, tenant, .. } => (db, tenant),
    };
    let cfg = db.resolve()?;
    init_logging(&cfg.log_format);
    let tenant = TenantName::parse(tenant).context("invalid tenant name")?;
    let store = cfg.connect(true).await?;
    let app = cfg.cli_app(store.clone());
    if !store.tenant_exists(&tenant).await? {
        return Err(anyhow!("tenant {tenant} does not exist"));
    }
    let result = match cmd {
        ClientCommand::Add {
            jwks,
            jwks_uri,
            scope,
            organization,
            name,
            see_restricted,
            ..
        } => {
            let jwks: Option<Value> = jwks
                .map(|path| {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))
                })
                .transpose()?;
            let mut body = json!({ "scope": scope, "see_restricted": see_restricted });
            for (k, v) in [
                ("jwks", jwks),
                ("jwks_uri", jwks_uri.map(Value::String)),
                ("organization", organization.map(Value::String)),
                ("name", name.map(Value::String)),
            ] {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let client = clients::add(&app, &tenant, body.to_string().as_bytes())
                .await
                .map_err(|e| anyhow!("{}", e.diagnostics()))?;
            println!("{}", serde_json::to_string_pretty(&client)?);
            Ok(())
        }
        ClientCommand::List { .. } => {
            for c in clients::list(&app, &tenant)
                .await
                .map_err(|e| anyhow!("{}", e.diagnostics()))?
            {
                println!(
                    "{}\t{}\t{}\t{}",
                    c["client_id"].as_str().unwrap_or_default(),
                    c["kind"].as_str().unwrap_or_default(),
                    c["scope"].as_str().unwrap_or_default(),
                    c["name"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
        ClientCommand::Remove { client_id, .. } => clients::remove(&app, &tenant, &client_id)
            .await
            .map(|()| println!("removed client {client_id}"))
            .map_err(|e| anyhow!("{}", e.diagnostics())),
    };
    store.close().await;
    result
}
