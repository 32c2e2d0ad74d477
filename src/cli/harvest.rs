//! `fhirdir harvest --tenant T --source NAME [--full]`: runs a pass of a tenant's harvest
//! source now, in this process (a running server's jobs runner would run it too; whichever
//! claims it first does). The progress line (type, pages, resources) goes to stderr; the
//! source's state after the pass, as `GET /admin/tenants/{t}/sources/{name}` shows it, to
//! stdout. The exit status is non-zero when the pass ended in error.

use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use services::harvest::{self, setting};
use store::TenantName;

use super::config::{init_logging, DbArgs};

#[derive(Args, Debug)]
pub struct HarvestArgs {
    /// The tenant the source belongs to.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The source's name (`PUT /admin/tenants/{t}/sources/{name}`).
    #[arg(long)]
    source: String,
    /// Read everything and delete what the source no longer has.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// The progress line of a source's state.
fn line(view: &Value) -> String {
    let c = &view["counts"];
    let counts = format!(
        "{} seen, {} created, {} updated, {} unchanged",
        c["seen"], c["created"], c["updated"], c["unchanged"]
    );
    match view["progress"].as_object() {
        Some(p) => format!(
            "{}: page {} | {counts}",
            p["type"].as_str().unwrap_or("?"),
            p["pages"]
        ),
        None => format!(
            "{} | {counts}",
            view["last_run"]["status"].as_str().unwrap_or("queued")
        ),
    }
}

pub async fn run(args: HarvestArgs) -> anyhow::Result<()> {
    let cfg = args.db.resolve()?;
    init_logging(&cfg.log_format);
    let tenant = TenantName::parse(&args.tenant).context("invalid tenant name")?;
    let store = cfg.connect(true).await?;
    let app = cfg.cli_app(store.clone());
    if !store.tenant_exists(&tenant).await? {
        return Err(anyhow!("tenant {tenant} does not exist"));
    }
    let diagnostics = |e: services::error::Error| anyhow!("{}", e.diagnostics());
    let (job, _) = harvest::queue(&app, &tenant, &args.source, args.full)
        .await
        .map_err(diagnostics)?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let kind = harvest::Harvest;
    loop {
        let ran = {
            let work = services::jobs::run_next(&app, &kind, &tenant);
            tokio::pin!(work);
            loop {
                tokio::select! {
                    ran = &mut work => break ran.map_err(diagnostics)?,
                    () = tokio::time::sleep(Duration::from_millis(250)) => {
                        if let Ok(view) = setting::get(&app, &tenant, &args.source).await {
                            bar.set_message(line(&view));
                        }
                    }
                }
            }
        };
        match ran {
            Some(id) if id == job => break,
            Some(_) => continue,
            // Not claimable here: another process (a server) is running it; follow it.
            None => {
                let state = store.job(&tenant, &job).await?;
                if !state.is_some_and(|j| j.state.is_unfinished()) {
                    break;
                }
                if let Ok(view) = setting::get(&app, &tenant, &args.source).await {
                    bar.set_message(line(&view));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    bar.finish_and_clear();
    let view = setting::get(&app, &tenant, &args.source)
        .await
        .map_err(diagnostics)?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    store.close().await;
    if view["last_run"]["status"] == "ok" {
        Ok(())
    } else {
        Err(anyhow!(
            "the pass ended in {}: {}",
            view["last_run"]["status"],
            view["errors"]
        ))
    }
}
