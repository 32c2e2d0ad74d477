//! The record of authorization events: registrations, tokens issued and refused, access
//! denied (tenant, client, time, outcome, reason). Kept in the store's `auth_events` table
//! and logged, so that AuditEvent can publish them later. Every event is logged; refusals
//! beyond [`super::keys::STORED_REFUSALS_PER_SECOND`] a second are logged only.

use store::{AuthEvent, TenantName};

use crate::App;

/// The event, logged as it is built.
fn logged(
    tenant: &TenantName,
    event: &str,
    client_id: Option<String>,
    success: bool,
    reason: &str,
) -> AuthEvent {
    let outcome = if success { "success" } else { "refused" };
    tracing::info!(
        target: "fhirdir::auth",
        tenant = %tenant,
        event,
        client_id = client_id.as_deref().unwrap_or("-"),
        outcome,
        reason,
        "authorization event"
    );
    AuthEvent {
        at: chrono::Utc::now().timestamp_micros(),
        event: event.to_owned(),
        client_id,
        outcome: outcome.to_owned(),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
    }
}

async fn store_event(store: &store::Store, tenant: &TenantName, record: &AuthEvent) {
    if let Err(e) = store.record_auth_event(tenant, record).await {
        tracing::warn!(tenant = %tenant, error = %e, "could not record an authorization event");
    }
}

impl App {
    /// Records an event and logs it; a store failure is logged, never the caller's error
    /// (the outcome the caller sees does not depend on the record).
    pub async fn record_auth_event(
        &self,
        tenant: &TenantName,
        event: &str,
        client_id: Option<String>,
        success: bool,
        reason: &str,
    ) {
        let record = logged(tenant, event, client_id, success, reason);
        if success || self.auth.may_store_refusal() {
            store_event(&self.store, tenant, &record).await;
        }
    }

    /// [`App::record_auth_event`] without waiting for it (a refused request answers at once).
    pub fn record_auth_event_soon(
        &self,
        tenant: &TenantName,
        event: &str,
        client_id: Option<String>,
        success: bool,
        reason: &str,
    ) {
        let record = logged(tenant, event, client_id, success, reason);
        if !success && !self.auth.may_store_refusal() {
            return;
        }
        let (store, tenant) = (self.store.clone(), tenant.clone());
        tokio::spawn(async move { store_event(&store, &tenant, &record).await });
    }
}

/// The latest events of a tenant, newest first, as JSON (the admin API).
pub async fn recent(
    app: &App,
    tenant: &TenantName,
    limit: u32,
) -> crate::Result<Vec<serde_json::Value>> {
    let events = app.store.auth_events(tenant, limit).await?;
    Ok(events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "at": chrono::DateTime::from_timestamp_micros(e.at).map(fhir::meta::format_instant),
                "event": e.event,
                "client_id": e.client_id,
                "outcome": e.outcome,
                "reason": e.reason,
            })
        })
        .collect())
}
