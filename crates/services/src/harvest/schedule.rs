//! Scheduled passes: once a second the running server queues a pass of each harvest source
//! whose `schedule` has passed since its last pass started (none is queued while one is
//! queued or running).

use std::sync::Arc;
use std::time::Duration;

use super::setting::{self, Kind};
use crate::App;

/// How often the schedules are looked at.
const TICK: Duration = Duration::from_secs(1);

/// Runs until the returned handle is aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&app).await {
                tracing::warn!(error = %e, "harvest schedule: looking at the sources failed");
            }
            tokio::time::sleep(TICK).await;
        }
    })
}

async fn tick(app: &App) -> crate::error::Result<()> {
    let now = chrono::Utc::now();
    for row in app.store.sources(None).await? {
        let Ok((s, mut state)) = setting::decode(&row) else {
            continue;
        };
        setting::reconcile(app, &row.tenant, &row.name, &mut state).await?;
        let (Kind::Harvest, Some(every)) = (s.kind, s.schedule) else {
            continue;
        };
        let due = match &state.last_run {
            None => true,
            Some(run) if run.status == "queued" || run.status == "running" => false,
            Some(run) => chrono::DateTime::parse_from_rfc3339(&run.started)
                .map(|t| now.signed_duration_since(t).to_std().unwrap_or_default() >= every)
                .unwrap_or(true),
        };
        if due {
            if let Err(e) = super::queue(app, &row.tenant, &row.name, false).await {
                tracing::warn!(tenant = %row.tenant, source = %row.name, error = %e,
                    "harvest schedule: queueing a pass failed");
            }
        }
    }
    Ok(())
}
