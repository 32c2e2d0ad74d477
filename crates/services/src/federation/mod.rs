//! Directory-to-directory federation (NDH, "Directory to Directory Subscriptions"): a tenant
//! made the replica of an upstream FHIR directory (`PUT /admin/tenants/{t}/upstream`,
//! [`setting`]) keeps a copy of the upstream's directory resources, carried out by the
//! running server ([`worker`]):
//!
//! 1. **subscribe**: one Subscription per copied type on the upstream, to fhirdir's
//!    `create-update-delete` topic of that type (or NDH's `create-or-delete` one on an
//!    upstream that offers only NDH's, [`topics`]), rest-hook, `full-resource`, to the tenant's
//!    receiving endpoint (`/fhir/{t}/upstream/notify`), with a secret channel header that
//!    the endpoint demands ([`receive`]);
//! 2. **seed**: a paged search of each type;
//! 3. **follow**: each notification's events applied in event order ([`apply`]); a gap in
//!    the numbers (a notification missed) is filled from the upstream's `$events` first, and
//!    a heartbeat or `$status` announcing more events than applied does the same; when the
//!    upstream cannot replay them (trimmed, or no `$events`), from its history instead
//!    ([`resync`]). After
//!    downtime on either side the upstream's durable delivery resends what it could not
//!    deliver; the replica also asks it to (setting its Subscriptions back to `requested`)
//!    when it starts and whenever `$status` shows one in `error`.
//!
//! Applying is idempotent: each copied version records its upstream version in
//! `meta.source` (`{upstream}/Type/id/_history/v`), and a change to a version not newer than
//! the one held is skipped; a feed's position moves in the transaction that applies its
//! events. So the seed and the events that overlap it, and a notification delivered twice,
//! leave one replica version per upstream version applied, never two, with bodies equal to
//! the upstream's apart from `meta`.
//!
//! Events are ordered per type (each type is one Subscription); across types they are
//! applied as they arrive.

pub mod apply;
mod bulk_seed;
mod client;
pub mod receive;
mod resync;
pub mod setting;
mod topics;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The header the upstream sends back with each notification.
pub const SECRET_HEADER: &str = "X-Fhirdir-Upstream-Secret";

/// Federation's state in a process.
#[derive(Default)]
pub struct Federation {
    /// One lock per replica tenant: applying (notifications, seeding, catch-up) is one at a
    /// time, in order.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the worker (a setting changed).
    pub wake: tokio::sync::Notify,
}

impl Federation {
    /// The apply lock of `tenant`.
    pub fn lock(&self, tenant: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(tenant.to_owned()).or_default().clone()
    }
}

/// Lag of a replica: events the upstream announced and this side has not applied, and how
/// long the oldest of them has waited (seconds; 0 when none is known to wait).
pub fn lag(feeds: &[store::Feed], now_micros: i64) -> (i64, f64) {
    let events = feeds.iter().map(|f| (f.announced - f.applied).max(0)).sum();
    let waited = feeds
        .iter()
        .filter(|f| f.announced > f.applied)
        .filter_map(|f| f.pending_since)
        .map(|since| (now_micros - since).max(0))
        .max()
        .unwrap_or(0);
    (events, waited as f64 / 1e6)
}

/// Prometheus lines for every replica tenant: lag in events and seconds, events applied.
pub async fn metrics(app: &crate::App) -> crate::error::Result<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let upstreams = app.store.upstreams().await?;
    if upstreams.is_empty() {
        return Ok(out);
    }
    let now = chrono::Utc::now().timestamp_micros();
    let mut rows = Vec::new();
    for up in &upstreams {
        let feeds = app.store.feeds(&up.tenant).await?;
        let (events, seconds) = lag(&feeds, now);
        let applied: i64 = feeds.iter().map(|f| f.applied).sum();
        rows.push((up.tenant.to_string(), events, seconds, applied));
    }
    out.push_str("# HELP fhirdir_upstream_lag_events Upstream events announced and not yet applied, by replica tenant.\n");
    out.push_str("# TYPE fhirdir_upstream_lag_events gauge\n");
    for (t, events, _, _) in &rows {
        let _ = writeln!(
            out,
            "fhirdir_upstream_lag_events{{tenant=\"{t}\"}} {events}"
        );
    }
    out.push_str("# HELP fhirdir_upstream_lag_seconds How long the oldest upstream event not yet applied has waited, by replica tenant.\n");
    out.push_str("# TYPE fhirdir_upstream_lag_seconds gauge\n");
    for (t, _, seconds, _) in &rows {
        let _ = writeln!(
            out,
            "fhirdir_upstream_lag_seconds{{tenant=\"{t}\"}} {seconds}"
        );
    }
    out.push_str(
        "# HELP fhirdir_upstream_applied_events Upstream events applied, by replica tenant.\n",
    );
    out.push_str("# TYPE fhirdir_upstream_applied_events gauge\n");
    for (t, _, _, applied) in &rows {
        let _ = writeln!(
            out,
            "fhirdir_upstream_applied_events{{tenant=\"{t}\"}} {applied}"
        );
    }
    Ok(out)
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// An upstream event's commit time (a FHIR instant) in epoch microseconds.
fn micros(instant: Option<&str>) -> Option<i64> {
    instant
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_micros())
}
