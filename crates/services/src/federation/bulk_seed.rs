//! Seeding a replica from the upstream's Bulk Data export (Bulk Data 2.0, export.html), when
//! the upstream offers it (its CapabilityStatement lists the system operation `export`):
//! one `$export?_type=...` of the copied types, polled (honouring `Retry-After`) until its
//! manifest, then each NDJSON file applied as seed pages of [`LINES_PER_BATCH`] resources,
//! and the export deleted upstream. Every URL followed stays on the upstream's origin. If
//! anything fails, the caller seeds by paging through searches instead, which every FHIR
//! server answers; either way the Subscriptions made before the seed hold every change made
//! during it.

use std::time::{Duration, Instant};

use outbound::Method;
use serde_json::{Map, Value};
use store::Upstream;

use super::client::Client;
use crate::error::{Error, Result};
use crate::App;

/// Resources applied per transaction.
const LINES_PER_BATCH: usize = 1000;

/// The longest an upstream export may take before the seed gives up on it.
const POLL_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Whether the upstream's CapabilityStatement offers a system-level `$export`.
pub(super) async fn offered(client: &Client<'_>) -> bool {
    let Ok(answer) = client.get(&format!("{}/metadata", client.up.url)).await else {
        return false;
    };
    answer.ok()
        && answer.body["rest"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["operation"].as_array().into_iter().flatten())
            .any(|o| o["name"] == "export")
}

/// Seeds `up`'s tenant from one upstream export; answers the resources applied.
pub(super) async fn seed(app: &App, up: &Upstream, client: &Client<'_>) -> Result<u64> {
    let home = super::worker::origin(&up.url);
    let on_upstream = |url: &str| super::worker::origin(url) == home;
    let kick_off = format!("{}/$export?_type={}", up.url, up.types.join(","));
    let answer = client
        .call_with(Method::GET, &kick_off, &[("Prefer", "respond-async")])
        .await?;
    if answer.status != 202 {
        return Err(super::worker::refusal("kicking off $export", &answer));
    }
    let status = answer.location.filter(|l| on_upstream(l)).ok_or_else(|| {
        Error::bad_gateway("the upstream's $export gave no status URL of its own")
    })?;
    let started = Instant::now();
    let manifest = loop {
        let answer = client.get(&status).await?;
        match answer.status {
            202 if started.elapsed() < POLL_LIMIT => {
                let wait = answer.retry_after.unwrap_or(1).clamp(1, 30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            200 => break answer.body,
            _ => return Err(super::worker::refusal("waiting for $export", &answer)),
        }
    };
    let mut applied = 0;
    for item in manifest["output"].as_array().into_iter().flatten() {
        let url = item["url"].as_str().unwrap_or_default();
        if !on_upstream(url) {
            return Err(Error::bad_gateway(format!(
                "the upstream's export file {url} is not on the upstream"
            )));
        }
        let body = client.get_ndjson(url).await?;
        let mut batch: Vec<Map<String, Value>> = Vec::with_capacity(LINES_PER_BATCH);
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let resource = serde_json::from_slice::<Map<String, Value>>(line).map_err(|e| {
                Error::bad_gateway(format!("the upstream's export file {url}: {e}"))
            })?;
            batch.push(resource);
            if batch.len() == LINES_PER_BATCH {
                applied += apply(app, up, std::mem::take(&mut batch)).await?;
            }
        }
        applied += apply(app, up, batch).await?;
    }
    // The upstream may drop the files now; a failure here costs it only disk until they expire.
    let _ = client.call(Method::DELETE, &status, None).await;
    Ok(applied)
}

/// Applies one batch as a seed page, under the tenant's apply lock.
async fn apply(app: &App, up: &Upstream, batch: Vec<Map<String, Value>>) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len() as u64;
    let lock = app.federation.lock(up.tenant.as_str());
    let _held = lock.lock().await;
    super::apply::seed_page(app, up, batch).await?;
    Ok(n)
}
