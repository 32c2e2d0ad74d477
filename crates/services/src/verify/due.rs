//! What is due later, carried out by the running server once a second: verifications
//! queued on attestation (`verify`), retries after a source was down (`retry`), and
//! revalidation when a validated result's `nextScheduled` passes (`revalidate`: the
//! VerificationResult becomes `req-revalid` and the target `incomplete`, until verified again).
//! Each due row is taken by one process before it is carried out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use store::{Agent, Due, Method, Precondition};

use super::record::{self, result_id};
use crate::error::Result;
use crate::App;

/// How often due rows are looked for.
const TICK: Duration = Duration::from_secs(1);

/// Rows carried out per tick.
const PER_TICK: i64 = 50;

/// Runs until the returned handle is aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&app).await {
                tracing::warn!(error = %e, "verification: looking for due work failed");
            }
            tokio::time::sleep(TICK).await;
        }
    })
}

/// Carries out what is due now; answers how many.
pub async fn tick(app: &App) -> Result<usize> {
    let now = chrono::Utc::now().timestamp_micros();
    let due = app.store.due_verifications(now, PER_TICK).await?;
    let mut done = 0;
    for d in due {
        if !app.store.take_due(&d).await? {
            continue;
        }
        let result = match d.action.as_str() {
            "revalidate" => revalidate(app, &d).await,
            need => {
                let need = if need == "verify" {
                    "initial"
                } else {
                    "periodic"
                };
                super::run(
                    app,
                    &d.tenant,
                    &d.resource_type,
                    &d.id,
                    need,
                    d.attester.clone(),
                    d.attempt,
                )
                .await
                .map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!(tenant = %d.tenant, rtype = %d.resource_type, id = %d.id,
                action = %d.action, error = %e, "verification: due work failed");
        }
        done += 1;
    }
    Ok(done)
}

/// Marks `d`'s VerificationResult `req-revalid` and its target `incomplete`.
async fn revalidate(app: &App, d: &Due) -> Result<()> {
    let conf = app.conformance(&d.tenant).await?;
    let mut tx = app.store.begin(&d.tenant).await?;
    tx.set_agent(Agent::System);
    let vr_id = result_id(&d.resource_type, &d.id);
    let now = fhir::meta::format_instant(chrono::Utc::now());
    let mut changed = Vec::new();
    if let Some(mut vr) = body(&mut tx, "VerificationResult", &vr_id).await? {
        vr.insert("status".into(), Value::String("req-revalid".into()));
        vr.insert("statusDate".into(), Value::String(now));
        changed.push(("VerificationResult", vr_id.clone(), vr));
    }
    if let Some(mut target) = body(&mut tx, &d.resource_type, &d.id).await? {
        if record::set_status(&mut target, "incomplete") {
            changed.push((d.resource_type.as_str(), d.id.clone(), target));
        }
    }
    for (rtype, id, body) in changed {
        let request = store::WriteRequest {
            resource_type: rtype.to_owned(),
            id,
            resource: body,
            precondition: Precondition::None,
            method: Method::Put,
        };
        let w = writes::prepare(&conf.extractor, writes::Source::Api, request)?;
        writes::apply(&mut tx, w, &conf.extractor).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The live body of `rtype/id`, without `versionId` and `lastUpdated`.
async fn body(
    tx: &mut store::StoreTx,
    rtype: &str,
    id: &str,
) -> Result<Option<Map<String, Value>>> {
    let Some(r) = tx.read(rtype, id).await?.filter(|r| !r.deleted) else {
        return Ok(None);
    };
    let mut body: Map<String, Value> = r
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    if let Some(Value::Object(m)) = body.get_mut("meta") {
        m.remove("versionId");
        m.remove("lastUpdated");
    }
    Ok(Some(body))
}
