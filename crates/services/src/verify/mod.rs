//! Primary-source verification (NDH "Attestation and Verification"): `POST
//! [base]/{Practitioner|Organization|Location|HealthcareService}/{id}/$verify` checks what was
//! attested against the tenant's primary sources (remote sources of kind `primary-source`
//! whose `types` include the target's type: a state licensing board, CMS, a postal service,
//! each a FHIR API; see [`crate::harvest::setting`]) and records the outcome as the target's
//! `VerificationResult` (NDH `ndh-Verification`) and its `verification-status` extension
//! (`complete` when every check validated, `incomplete` otherwise), in one transaction
//! ([`record`]). The comparison rules are in [`checks`] (and the README):
//!
//! - status `validated`: every check confirmed; `nextScheduled` is the setting's
//!   `revalidate_after` later, when the result becomes `req-revalid` ([`due`]);
//! - `val-fail`: a source contradicts a check; the reasons are in `text` and in each
//!   `primarySource.validationStatus.text`;
//! - `in-process`: no contradiction, but a source could not be asked; verification runs
//!   again after `retry_after` (doubling each try).
//!
//! Who may ask: a client that may update the target and create VerificationResults, and sees
//! all of the target (a client from whom restricted elements are hidden is refused: the
//! explanations would reveal them). A target with restricted content gets a VerificationResult
//! restricted as a whole from the same callers (`meta.security` V when clients without
//! `see_restricted` miss part of the target, R when only anonymous callers do), so that the
//! result does not publish what the target hides.
//!
//! A tenant whose setting has `on_attestation` verifies each client's create, update or patch
//! of a verifiable resource (on its own or in a transaction or batch Bundle) by itself
//! ([`attested`]).

pub mod checks;
pub mod definition;
pub mod due;
pub mod normalise;
pub mod record;
pub mod setting;

use serde_json::{Map, Value};
use store::TenantName;

use crate::auth::access::Interaction;
use crate::ctx::{Principal, RequestCtx};
use crate::error::{Error, Result};
use crate::harvest::setting::{decode, Kind, Setting};
use crate::App;

/// The types `$verify` checks.
pub const VERIFIABLE: &[&str] = &[
    "HealthcareService",
    "Location",
    "Organization",
    "Practitioner",
];

/// `POST [base]/[type]/[id]/$verify`: answers the VerificationResult written.
pub async fn operation(ctx: &RequestCtx, rtype: &str, id: &str) -> Result<Value> {
    ctx.authorize(rtype, Interaction::Update)?;
    ctx.authorize("VerificationResult", Interaction::Create)?;
    ctx.authorize("VerificationResult", Interaction::Update)?;
    // 404 (or 410) as a read would answer, whatever the caller may not see.
    let seen = crate::resources::read(ctx, rtype, id).await?;
    let app = ctx.app();
    let full = app.store.read(ctx.tenant(), rtype, id).await?;
    if full.as_ref().and_then(|r| r.body.as_deref()) != seen.body.as_deref() {
        return Err(Error::forbidden(format!(
            "{rtype}/{id} has restricted content this client may not see, which its \
             verification would reveal"
        )));
    }
    let attested_by = match ctx.principal() {
        Principal::Client(c) => Some(c.client_id.clone()),
        _ => None,
    };
    run(app, ctx.tenant(), rtype, id, "initial", attested_by, 0).await
}

/// The tenant's primary sources for `rtype`.
async fn sources(app: &App, tenant: &TenantName, rtype: &str) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    for row in app.store.sources(Some(tenant)).await? {
        let (s, _) = decode(&row)?;
        if s.kind == Kind::PrimarySource && s.types.iter().any(|t| t == rtype) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Verifies `rtype/id` of `tenant` and records the outcome (see the module documentation).
pub async fn run(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    id: &str,
    need: &str,
    attested_by: Option<String>,
    attempt: i64,
) -> Result<Value> {
    let sources = sources(app, tenant, rtype).await?;
    if sources.is_empty() {
        return Err(Error::unprocessable(format!(
            "tenant {tenant} has no primary source for {rtype}: add one with PUT \
             /admin/tenants/{tenant}/sources/{{name}} (\"kind\": \"primary-source\", \
             \"types\": [\"{rtype}\"])"
        )));
    }
    let record = app
        .store
        .read(tenant, rtype, id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| Error::not_found(format!("{rtype}/{id} is not known")))?;
    let body = record.body.as_deref().unwrap_or("{}");
    let target: Map<String, Value> =
        serde_json::from_str(body).map_err(|e| Error::internal(e.to_string()))?;
    let public = app
        .store
        .read(
            store::Scope::viewing(tenant, store::Viewer::Anonymous),
            rtype,
            id,
        )
        .await?;
    let base = app.tenant_base(tenant);
    let member = app
        .store
        .read(
            store::Scope::viewing(
                tenant,
                store::Viewer::Client {
                    organization: None,
                    purpose_of_use: &[],
                    see_restricted: false,
                    tenant_base: &base,
                },
            ),
            rtype,
            id,
        )
        .await?;
    // The label that hides the result from whoever the target hides anything from: V when
    // plain clients miss something, R when only anonymous callers do.
    let restricted = if member.and_then(|r| r.body).as_deref() != Some(body) {
        Some("V")
    } else if public.and_then(|r| r.body).as_deref() != Some(body) {
        Some("R")
    } else {
        None
    };
    let now = chrono::Utc::now();
    let today = now.format("%Y-%m-%d").to_string();
    let checks = checks::run(
        app,
        tenant,
        rtype,
        &Value::Object(target.clone()),
        &sources,
        &today,
    )
    .await
    .ok_or_else(|| {
        Error::unprocessable(format!(
            "{rtype}/{id} has nothing the primary sources can check (a Practitioner needs a \
                 licence or an identifier, an Organization an identifier or a name, a Location \
                 an address, a HealthcareService a name)"
        ))
    })?;
    let setting = setting::load(app, tenant).await?;
    let subject = record::Subject {
        tenant,
        rtype,
        id,
        target: &target,
        need,
        attested_by,
        restricted,
        attempt,
    };
    record::write(app, &subject, &checks, &setting, now).await
}

/// After a client's creates, updates or patches of `written` (`(type, id)`, e.g. a
/// transaction's entries): queues the verification of the verifiable ones when the tenant's
/// setting asks for it. The setting is read once per call, and not at all when nothing
/// written is verifiable. A failure to queue is logged: the writes have happened.
pub async fn attested(ctx: &RequestCtx, written: &[(&str, &str)]) {
    if matches!(ctx.principal(), Principal::System) {
        return;
    }
    let verifiable: Vec<&(&str, &str)> = written
        .iter()
        .filter(|(rtype, _)| VERIFIABLE.contains(rtype))
        .collect();
    if verifiable.is_empty() {
        return;
    }
    let app = ctx.app();
    let queued = async {
        if !setting::load(app, ctx.tenant()).await?.on_attestation {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp_micros();
        let attester = match ctx.principal() {
            Principal::Client(c) => Some(c.client_id.as_str()),
            _ => None,
        };
        for (rtype, id) in verifiable {
            let due = store::Schedule {
                resource_type: rtype,
                id,
                due_at: now,
                action: "verify",
                attempt: 0,
                attester,
            };
            app.store.schedule_verification(ctx.tenant(), &due).await?;
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = queued.await {
        tracing::warn!(tenant = %ctx.tenant(), error = %e,
            "verification on attestation: could not queue");
    }
}
