//! A tenant's upstream setting: `PUT /admin/tenants/{t}/upstream` (and `fhirdir upstream
//! set`), `GET` (the setting, without the key, with the replication's phase and lag), and
//! `DELETE` (the tenant stops being a replica; its copied resources stay). Setting or
//! removing it unsubscribes from the previous upstream (best effort: an upstream that cannot
//! be reached keeps a Subscription that fails, and ends in `error` there).

use serde_json::{json, Value};
use store::{Feed, TenantName, Upstream};

use super::client::Client;
use crate::error::{Error, Result};
use crate::App;

/// The setting's body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    url: String,
    types: Option<Vec<String>>,
    client_id: Option<String>,
    private_key: Option<String>,
}

const SHAPE: &str = "expected {\"url\": \"<upstream FHIR base>\", \"types\": [...] (optional), \
     \"client_id\": \"...\" and \"private_key\": \"<PEM>\" (optional, together)}";

/// Reads and checks a setting for `tenant` (400 naming what is wrong).
pub fn parse(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Upstream> {
    let b: Body =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("{SHAPE}: {e}")))?;
    let url = b.url.trim().trim_end_matches('/').to_owned();
    let parsed = outbound::Url::parse(&url)
        .map_err(|e| Error::invalid(format!("url {url:?} is not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(Error::invalid(format!(
            "url {url:?} must be an http(s) FHIR base without query or fragment"
        )));
    }
    app.outbound.check_url(&url).map_err(|e| {
        Error::invalid(format!(
            "url: {e} (plain http and loopback or private hosts need --outbound-allow)"
        ))
    })?;
    if url == app.tenant_base(tenant) {
        return Err(Error::invalid("a tenant cannot be its own upstream"));
    }
    let known = ::subscriptions::topics::DIRECTORY_TYPES;
    let mut types = match b.types {
        None => known.iter().map(|t| (*t).to_owned()).collect(),
        Some(list) if list.is_empty() => {
            return Err(Error::invalid("types, when given, names at least one type"))
        }
        Some(list) => list,
    };
    if let Some(bad) = types.iter().find(|t| !known.contains(&t.as_str())) {
        return Err(Error::invalid(format!(
            "types: {bad:?} is not a directory resource type ({})",
            known.join(", ")
        )));
    }
    types.sort();
    types.dedup();
    match (&b.client_id, &b.private_key) {
        (Some(_), Some(pem)) => auth::client_assertion::check_private_key(pem)
            .map_err(|e| Error::invalid(format!("private_key: {e}")))?,
        (None, None) => {}
        _ => {
            return Err(Error::invalid(
                "client_id and private_key go together (a SMART Backend Services client)",
            ))
        }
    }
    Ok(Upstream {
        tenant: tenant.clone(),
        url,
        types,
        client_id: b.client_id.filter(|c| !c.is_empty()),
        private_key: b.private_key,
        secret: format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ),
        phase: "subscribe".into(),
        error: None,
        updated: super::now_micros(),
    })
}

/// `PUT`: makes `tenant` a replica as `body` says; answers the setting as [`get`] does.
pub async fn set(app: &App, tenant: &TenantName, body: &[u8]) -> Result<Value> {
    let up = parse(app, tenant, body)?;
    save(app, &up).await?;
    Ok(view(&up, &[]))
}

/// Saves `up` (replacing any setting, after unsubscribing from the previous upstream) and
/// wakes the worker.
pub async fn save(app: &App, up: &Upstream) -> Result<()> {
    if let Some(old) = app.store.upstream(&up.tenant).await? {
        unsubscribe(app, &old).await;
    }
    app.store.set_upstream(up).await?;
    app.federation.wake.notify_one();
    Ok(())
}

/// `GET`: the setting (the private key left out) with its phase, error, lag and feeds.
pub async fn get(app: &App, tenant: &TenantName) -> Result<Value> {
    let up = app
        .store
        .upstream(tenant)
        .await?
        .ok_or_else(|| Error::not_found(format!("tenant {tenant} has no upstream")))?;
    let feeds = app.store.feeds(tenant).await?;
    Ok(view(&up, &feeds))
}

/// `DELETE`: `tenant` stops being a replica.
pub async fn remove(app: &App, tenant: &TenantName) -> Result<()> {
    let up = app
        .store
        .upstream(tenant)
        .await?
        .ok_or_else(|| Error::not_found(format!("tenant {tenant} has no upstream")))?;
    unsubscribe(app, &up).await;
    app.store.remove_upstream(tenant).await?;
    Ok(())
}

/// Deletes our Subscriptions on `up`'s upstream, as far as it answers.
async fn unsubscribe(app: &App, up: &Upstream) {
    let Ok(feeds) = app.store.feeds(&up.tenant).await else {
        return;
    };
    let client = Client { app, up };
    for f in feeds {
        if let Err(e) = client
            .call(outbound::Method::DELETE, &f.subscription, None)
            .await
        {
            tracing::warn!(tenant = %up.tenant, subscription = %f.subscription, error = %e,
                "federation: could not delete the upstream Subscription");
        }
    }
}

fn instant(micros: Option<i64>) -> Value {
    micros
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map_or(Value::Null, |t| {
            Value::String(fhir::meta::format_instant(t))
        })
}

/// The setting as the admin API shows it.
pub fn view(up: &Upstream, feeds: &[Feed]) -> Value {
    let (events, seconds) = super::lag(feeds, super::now_micros());
    let feeds: Vec<Value> = feeds
        .iter()
        .map(|f| {
            json!({
                "type": f.resource_type,
                "subscription": f.subscription,
                "applied": f.applied,
                "announced": f.announced,
                "last_applied": instant(f.applied_at),
                "last_contact": instant(f.contact),
            })
        })
        .collect();
    json!({
        "url": up.url,
        "types": up.types,
        "client_id": up.client_id,
        "private_key_set": up.private_key.is_some(),
        "phase": up.phase,
        "error": up.error,
        "lag": {"events": events, "seconds": seconds},
        "feeds": feeds,
    })
}
