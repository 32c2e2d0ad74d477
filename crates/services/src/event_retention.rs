//! How long a tenant keeps its change events (`/admin/tenants/{t}/events`, default
//! [`store::DEFAULT_RETENTION_DAYS`] days), and the background trim that applies it: a kind of
//! the jobs runner that has no jobs of its own and trims every tenant, at most once per
//! [`TRIM_EVERY`], when the runner is idle. Events are what AuditEvent and (later)
//! subscriptions replay; the resources' own history is never trimmed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use store::{Job, TenantName};

use crate::error::{Error, Result};
use crate::jobs::{BoxFuture, JobKind, Step};
use crate::App;

/// How often the trim runs.
pub const TRIM_EVERY: Duration = Duration::from_secs(3600);

/// The longest retention accepted (a century: "keep everything" in practice).
const MAX_DAYS: i64 = 36_500;

pub async fn get(app: &App, tenant: &TenantName) -> Result<Value> {
    let mut tx = app.store.begin(tenant).await?;
    let days = tx.event_retention_days().await?;
    tx.rollback().await?;
    Ok(json!({ "retention_days": days }))
}

/// `PUT` with `{"retention_days": N}`, 1 ≤ N ≤ 36500.
pub async fn set(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        retention_days: i64,
    }
    let Body { retention_days } = serde_json::from_slice(body).map_err(|e| {
        Error::invalid(format!(
            "expected {{\"retention_days\": whole days, 1 to {MAX_DAYS}}}: {e}"
        ))
    })?;
    if !(1..=MAX_DAYS).contains(&retention_days) {
        return Err(Error::invalid(format!(
            "retention_days must be between 1 and {MAX_DAYS}, not {retention_days}"
        )));
    }
    let mut tx = app.store.begin(tenant).await?;
    tx.set_event_retention_days(retention_days).await?;
    tx.commit().await?;
    Ok(json!({ "retention_days": retention_days }))
}

/// Trims every tenant's events older than its retention at `now`; answers how many went.
pub async fn trim_all(app: &App, now: chrono::DateTime<chrono::Utc>) -> Result<u64> {
    let mut trimmed = 0;
    for t in app.store.list_tenants().await? {
        let Ok(tenant) = TenantName::parse(&t.name) else {
            continue;
        };
        let mut tx = app.store.begin(&tenant).await?;
        trimmed += tx.trim_events(now).await?;
        tx.commit().await?;
    }
    Ok(trimmed)
}

/// The runner kind that trims ([`trim_all`]) when it is idle and [`TRIM_EVERY`] has passed.
#[derive(Debug, Default)]
pub struct EventTrim {
    last: Mutex<Option<Instant>>,
}

impl EventTrim {
    /// Whether a trim is due now, noting that it runs.
    fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if at.elapsed() < TRIM_EVERY => false,
            _ => {
                *last = Some(Instant::now());
                true
            }
        }
    }
}

impl JobKind for EventTrim {
    fn name(&self) -> &'static str {
        "event-trim"
    }

    fn step<'a>(
        &'a self,
        _app: &'a App,
        _tenant: &'a TenantName,
        _job: &'a Job,
        _batch: u32,
    ) -> BoxFuture<'a, Result<Step>> {
        // No job of this kind is ever queued.
        Box::pin(async { Ok(Step::Finished) })
    }

    fn idle<'a>(&'a self, app: &'a App) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !self.due() {
                return;
            }
            match trim_all(app, chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "change events past their retention trimmed"),
                Err(e) => tracing::warn!(error = %e, "trimming change events failed"),
            }
        })
    }
}
