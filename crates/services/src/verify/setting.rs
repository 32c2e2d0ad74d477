//! A tenant's verification setting (`GET|PUT /admin/tenants/{t}/verification`):
//! `{"on_attestation": false, "revalidate_after": "365d", "retry_after": "60s"}`.
//!
//! - `on_attestation`: a client's create or update of a verifiable resource (Practitioner,
//!   Organization, Location, HealthcareService) queues its verification at once.
//! - `revalidate_after`: how long a `validated` result holds; then it becomes `req-revalid`
//!   and the target `incomplete`.
//! - `retry_after`: the first wait before asking again when a source could not be reached
//!   (doubled each try, at most a day).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// The name of the verification setting among the tenant's settings.
const SETTING: &str = "verification";

/// The setting as the admin API takes it and the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    on_attestation: bool,
    #[serde(default = "default_revalidate")]
    revalidate_after: String,
    #[serde(default = "default_retry")]
    retry_after: String,
}

fn default_revalidate() -> String {
    "365d".into()
}

fn default_retry() -> String {
    "60s".into()
}

/// A checked setting.
#[derive(Debug, Clone)]
pub struct VerifySetting {
    pub on_attestation: bool,
    pub revalidate_after: chrono::Duration,
    pub retry_after: chrono::Duration,
    body: Body,
}

fn duration(what: &str, text: &str) -> Result<chrono::Duration> {
    let d = finder::duration::parse_duration(text)
        .map_err(|e| Error::invalid(format!("{what}: {e}")))?;
    chrono::Duration::from_std(d).map_err(|e| Error::invalid(format!("{what}: {e}")))
}

fn build(body: Body) -> Result<VerifySetting> {
    Ok(VerifySetting {
        on_attestation: body.on_attestation,
        revalidate_after: duration("revalidate_after", &body.revalidate_after)?,
        retry_after: duration("retry_after", &body.retry_after)?,
        body,
    })
}

/// `tenant`'s setting (the defaults when it has none).
pub async fn load(app: &App, tenant: &TenantName) -> Result<VerifySetting> {
    let body: Body = match app.store.tenant_setting(tenant, SETTING).await? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Error::internal(format!("verification setting: {e}")))?,
        None => serde_json::from_value(json!({})).map_err(|e| Error::internal(e.to_string()))?,
    };
    build(body)
}

/// `GET`.
pub async fn get(app: &App, tenant: &TenantName) -> Result<Value> {
    Ok(view(&load(app, tenant).await?))
}

/// `PUT`: replaces the setting; answers it as `GET` does.
pub async fn put(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Value> {
    let parsed: Body = serde_json::from_slice(body).map_err(|e| {
        Error::invalid(format!(
            "expected {{\"on_attestation\": bool, \"revalidate_after\": \"365d\", \
             \"retry_after\": \"60s\"}} (each optional): {e}"
        ))
    })?;
    let setting = build(parsed)?;
    let text = serde_json::to_string(&setting.body).map_err(|e| Error::internal(e.to_string()))?;
    app.store.set_tenant_setting(tenant, SETTING, &text).await?;
    Ok(view(&setting))
}

fn view(s: &VerifySetting) -> Value {
    json!({
        "on_attestation": s.on_attestation,
        "revalidate_after": s.body.revalidate_after,
        "retry_after": s.body.retry_after,
    })
}
