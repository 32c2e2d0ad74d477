//! Removing what bulk jobs (exports and imports) leave behind: jobs whose files have expired (`--export-keep` after
//! they ended), and folders whose job is gone (cancelled while a step was writing, or removed
//! by another process). Runs from the jobs runner's idle hook, at most once a minute.

use std::sync::atomic::{AtomicI64, Ordering};

use store::TenantName;

use super::files;
use super::{import, job};
use crate::App;

/// Seconds between sweeps.
const EVERY_SECS: i64 = 60;

pub(super) async fn maybe_sweep(app: &App, last: &AtomicI64) {
    let now = chrono::Utc::now().timestamp();
    let before = last.load(Ordering::SeqCst);
    if now - before < EVERY_SECS
        || last
            .compare_exchange(before, now, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return;
    }
    if let Err(e) = sweep(app).await {
        tracing::warn!(error = %e, "sweeping expired exports failed");
    }
}

/// One sweep over every tenant.
pub(crate) async fn sweep(app: &App) -> crate::Result<()> {
    let keep = i64::try_from(app.settings.export.keep.as_micros()).unwrap_or(i64::MAX);
    let now = chrono::Utc::now().timestamp_micros();
    let root = &app.settings.export.dir;
    for t in app.store.list_tenants().await? {
        let Ok(tenant) = TenantName::parse(&t.name) else {
            continue;
        };
        let tenant = &tenant;
        for kind in [job::KIND, import::KIND] {
            for job in app.store.jobs(tenant, Some(kind), false).await? {
                if !job.state.is_unfinished() && job.updated_at.saturating_add(keep) < now {
                    app.store.delete_job(tenant, &job.id).await?;
                    files::remove_job_dir(files::job_dir(root, tenant.as_str(), &job.id)).await;
                }
            }
        }
        for dir in job_dirs(root, tenant).await {
            if app.store.job(tenant, &dir).await?.is_none() {
                files::remove_job_dir(files::job_dir(root, tenant.as_str(), &dir)).await;
            }
        }
    }
    Ok(())
}

/// The names of the job folders of `tenant` on disk.
async fn job_dirs(root: &std::path::Path, tenant: &TenantName) -> Vec<String> {
    let dir = root.join(tenant.as_str());
    tokio::task::spawn_blocking(move || {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    })
    .await
    .unwrap_or_default()
}
