//! A tenant's remote sources: `PUT /admin/tenants/{t}/sources/{name}` (the setting), `GET`
//! (the setting without its secrets, with the state of its last pass), `DELETE`, and the list
//! at `GET /admin/tenants/{t}/sources`.
//!
//! The setting: `{"url": "<FHIR base>", "kind": "harvest" | "primary-source", "types": [...],
//! "auth": "none" | {"token": "..."} | {"client_id": "...", "private_key": "<PEM>"},
//! "schedule": "6h", "rate_limit": 5, "network_tag": "...", "full_every": 10,
//! "max_pages": 100000, "page_size": 1000, "on_missing": "delete" | "mark"}`; only `url` and
//! `kind` are required. A host the outbound rules refuse is refused here (400), not at the
//! first pass.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{SourceRow, TenantName};

use crate::error::{Error, Result};
use crate::remote::Credentials;
use crate::App;

/// What a harvest source brings when its setting names no types: Plan-Net's directory types.
pub const DIRECTORY_TYPES: &[&str] = &[
    "Endpoint",
    "HealthcareService",
    "InsurancePlan",
    "Location",
    "Organization",
    "OrganizationAffiliation",
    "Practitioner",
    "PractitionerRole",
];

/// Longest source name: local ids are `{source}-{id}` and FHIR ids have at most 64 characters.
pub const MAX_NAME: usize = 24;

/// Default of `full_every`.
pub const FULL_EVERY: u32 = 10;

/// Default of `max_pages`.
pub const MAX_PAGES: u64 = 100_000;

/// Default (and largest) `_count` asked for.
pub const PAGE_SIZE: u32 = 1000;

/// The setting as the admin API takes it and the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub url: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_every: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_missing: Option<String>,
}

const SHAPE: &str = "expected {\"url\": \"<FHIR base>\", \"kind\": \"harvest\" | \
     \"primary-source\", and optionally \"types\", \"auth\", \"schedule\", \"rate_limit\", \
     \"network_tag\", \"full_every\", \"max_pages\", \"page_size\", \"on_missing\"}";

/// What a source is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Harvest,
    PrimarySource,
}

/// What a full pass does with a resource the source no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    Delete,
    /// Tagged `missing` (see [`super::finish`]), kept.
    Mark,
}

/// A checked setting.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: String,
    pub url: String,
    pub kind: Kind,
    pub types: Vec<String>,
    pub credentials: Credentials,
    pub schedule: Option<Duration>,
    /// Requests per second, at most.
    pub rate_limit: Option<f64>,
    pub network_tag: Option<String>,
    pub full_every: u32,
    pub max_pages: u64,
    pub page_size: u32,
    pub on_missing: OnMissing,
    /// When it was written (epoch microseconds).
    pub updated: i64,
    body: Body,
}

/// A pass's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
    }
}

/// The last (or running) pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub started: String,
    pub finished: Option<String>,
    /// `queued`, `running`, `ok`, `error` or `cancelled`.
    pub status: String,
    pub full: bool,
    pub job: Option<String>,
}

/// Where a running pass stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(rename = "type")]
    pub rtype: String,
    pub pages: u64,
    pub resources: u64,
}

/// A source's state, kept by the store as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub last_run: Option<Run>,
    pub counts: Counts,
    pub dangling: Vec<String>,
    pub dangling_total: u64,
    pub errors: Vec<String>,
    pub progress: Option<Progress>,
    /// The number of the last pass started.
    pub pass: i64,
    pub passes_since_full: u32,
    /// When the last good pass started (epoch microseconds, this server's clock).
    pub last_success: Option<i64>,
    /// The instant the next incremental pass asks for changes after.
    pub since: Option<String>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg)
}

/// Checks a source name (400 naming the rule).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "source name {name:?}: 1 to {MAX_NAME} letters, digits and '-', starting with a \
             letter or digit (it prefixes the ids of what the source brings)"
        )))
    }
}

fn credentials(auth: Option<&Value>) -> Result<Credentials> {
    let what = "auth: \"none\", {\"token\": \"...\"} or {\"client_id\": \"...\", \
                \"private_key\": \"<PEM>\"}";
    match auth {
        None | Some(Value::Null) => Ok(Credentials::None),
        Some(Value::String(s)) if s == "none" => Ok(Credentials::None),
        Some(Value::Object(o)) => {
            let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
            if o.keys()
                .any(|k| !["token", "client_id", "private_key"].contains(&k.as_str()))
            {
                return Err(bad(format!("{what}; unknown member in {o:?}")));
            }
            match (text("token"), text("client_id"), text("private_key")) {
                (Some(t), None, None) if !t.is_empty() => Ok(Credentials::Token(t)),
                (None, Some(client_id), Some(pem)) if !client_id.is_empty() => {
                    auth::client_assertion::check_private_key(&pem)
                        .map_err(|e| bad(format!("auth.private_key: {e}")))?;
                    Ok(Credentials::Smart {
                        client_id,
                        private_key: pem,
                    })
                }
                _ => Err(bad(format!("expected {what}"))),
            }
        }
        Some(other) => Err(bad(format!("expected {what}, not {other}"))),
    }
}

/// Checks `body` (everything but where the URL points).
pub fn build(name: &str, body: Body, updated: i64) -> Result<Setting> {
    check_name(name)?;
    let url = body.url.trim().trim_end_matches('/').to_owned();
    let parsed = outbound::Url::parse(&url)
        .map_err(|e| bad(format!("url {url:?} is not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(bad(format!(
            "url {url:?} must be an http(s) FHIR base without query or fragment"
        )));
    }
    let kind = match body.kind.as_str() {
        "harvest" => Kind::Harvest,
        "primary-source" => Kind::PrimarySource,
        other => {
            return Err(bad(format!(
                "kind {other:?}: \"harvest\" or \"primary-source\""
            )))
        }
    };
    let mut types = match &body.types {
        None => DIRECTORY_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        Some(list) if list.is_empty() => return Err(bad("types, when given, names a type")),
        Some(list) => list.clone(),
    };
    if let Some(t) = types.iter().find(|t| !fhir::is_resource_type(t)) {
        return Err(bad(format!("types: {t:?} is not a FHIR R4 resource type")));
    }
    types.sort();
    types.dedup();
    let schedule = body
        .schedule
        .as_deref()
        .map(|s| finder::duration::parse_duration(s).map_err(|e| bad(format!("schedule: {e}"))))
        .transpose()?;
    if let Some(r) = body.rate_limit {
        if !(r.is_finite() && r > 0.0) {
            return Err(bad("rate_limit: requests per second, more than 0"));
        }
    }
    if let Some(tag) = &body.network_tag {
        if tag.is_empty() || tag.len() > 64 || tag.chars().any(char::is_whitespace) {
            return Err(bad(
                "network_tag: a code of 1 to 64 characters without spaces",
            ));
        }
    }
    let full_every = body.full_every.unwrap_or(FULL_EVERY);
    if full_every == 0 {
        return Err(bad("full_every: at least 1"));
    }
    let max_pages = body.max_pages.unwrap_or(MAX_PAGES);
    if max_pages == 0 {
        return Err(bad("max_pages: at least 1"));
    }
    let page_size = body.page_size.unwrap_or(PAGE_SIZE);
    if !(1..=PAGE_SIZE).contains(&page_size) {
        return Err(bad(format!("page_size: 1 to {PAGE_SIZE}")));
    }
    let on_missing = match body.on_missing.as_deref() {
        None | Some("delete") => OnMissing::Delete,
        Some("mark") => OnMissing::Mark,
        Some(other) => return Err(bad(format!("on_missing {other:?}: \"delete\" or \"mark\""))),
    };
    Ok(Setting {
        name: name.to_owned(),
        credentials: credentials(body.auth.as_ref())?,
        url,
        kind,
        types,
        schedule,
        rate_limit: body.rate_limit,
        network_tag: body.network_tag.clone(),
        full_every,
        max_pages,
        page_size,
        on_missing,
        updated,
        body,
    })
}

/// A stored source's setting and state.
pub fn decode(row: &SourceRow) -> Result<(Setting, State)> {
    let corrupt = |e: serde_json::Error| Error::internal(format!("source {}: {e}", row.name));
    let body: Body = serde_json::from_str(&row.setting).map_err(corrupt)?;
    let state: State = serde_json::from_str(&row.state).map_err(corrupt)?;
    Ok((build(&row.name, body, row.updated)?, state))
}

/// The source `name` of `tenant` (404 when there is none).
pub async fn load(app: &App, tenant: &TenantName, name: &str) -> Result<(Setting, State)> {
    let row = app
        .store
        .source(tenant, name)
        .await?
        .ok_or_else(|| Error::not_found(format!("tenant {tenant} has no source {name:?}")))?;
    decode(&row)
}

/// Saves `state` of a source; `false` when the source was removed meanwhile.
pub async fn save_state(app: &App, tenant: &TenantName, name: &str, state: &State) -> Result<bool> {
    let text = serde_json::to_string(state).map_err(|e| Error::internal(e.to_string()))?;
    Ok(app.store.set_source_state(tenant, name, &text).await?)
}

/// `PUT`: adds or replaces the source; answers it as [`get`] does.
pub async fn put(app: &App, tenant: &TenantName, name: &str, body: &[u8]) -> Result<Value> {
    let parsed: Body = serde_json::from_slice(body).map_err(|e| bad(format!("{SHAPE}: {e}")))?;
    let mut setting = build(name, parsed, super::now_micros())?;
    app.outbound.check_url(&setting.url).map_err(|e| {
        bad(format!(
            "url: {e} (plain http and loopback or private hosts need --outbound-allow)"
        ))
    })?;
    if setting.url == app.tenant_base(tenant) {
        return Err(bad("a tenant cannot harvest itself"));
    }
    setting.body.url = setting.url.clone();
    let row = SourceRow {
        tenant: tenant.clone(),
        name: name.to_owned(),
        setting: serde_json::to_string(&setting.body)
            .map_err(|e| Error::internal(e.to_string()))?,
        state: serde_json::to_string(&State::default())
            .map_err(|e| Error::internal(e.to_string()))?,
        updated: setting.updated,
    };
    app.store.put_source(&row).await?;
    app.harvest.wake.notify_one();
    get(app, tenant, name).await
}

/// `GET` one source.
pub async fn get(app: &App, tenant: &TenantName, name: &str) -> Result<Value> {
    let (setting, mut state) = load(app, tenant, name).await?;
    reconcile(app, tenant, name, &mut state).await?;
    Ok(view(&setting, &state))
}

/// A pass recorded as queued or running whose job has ended without saying so (it failed
/// on an internal error, or was removed) is recorded as failed. A pass that completed has
/// recorded its own end before its job completed, so only a failed, cancelled or missing job
/// counts; and the state is replaced only if the pass has not written it meanwhile.
pub async fn reconcile(
    app: &App,
    tenant: &TenantName,
    name: &str,
    state: &mut State,
) -> Result<()> {
    let Some(run) = &state.last_run else {
        return Ok(());
    };
    if run.status != "queued" && run.status != "running" {
        return Ok(());
    }
    let job = match &run.job {
        Some(id) => app.store.job(tenant, id).await?,
        None => None,
    };
    if job
        .as_ref()
        .is_some_and(|j| j.state.is_unfinished() || j.state == store::JobState::Completed)
    {
        return Ok(());
    }
    let old = serde_json::to_string(&*state).map_err(|e| Error::internal(e.to_string()))?;
    let mut ended = state.clone();
    if let Some(run) = &mut ended.last_run {
        run.status = "error".into();
        run.finished = Some(super::instant(super::now_micros()));
    }
    ended.progress = None;
    ended.errors.push(
        job.and_then(|j| j.error)
            .unwrap_or_else(|| "the pass ended without finishing".into()),
    );
    let new = serde_json::to_string(&ended).map_err(|e| Error::internal(e.to_string()))?;
    if app
        .store
        .replace_source_state(tenant, name, &old, &new)
        .await?
    {
        *state = ended;
    }
    Ok(())
}

/// `GET` every source of `tenant`.
pub async fn list(app: &App, tenant: &TenantName) -> Result<Value> {
    let mut out = Vec::new();
    for row in app.store.sources(Some(tenant)).await? {
        let (setting, mut state) = decode(&row)?;
        reconcile(app, tenant, &row.name, &mut state).await?;
        out.push(view(&setting, &state));
    }
    Ok(json!({ "sources": out }))
}

/// The body of `$run`: empty, `{}` or `{"full": true|false}`; answers whether a full pass is
/// asked for.
pub fn run_body(body: &[u8]) -> Result<bool> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RunBody {
        #[serde(default)]
        full: bool,
    }
    let b: RunBody = serde_json::from_slice(body)
        .map_err(|e| bad(format!("expected {{\"full\": true|false}} or no body: {e}")))?;
    Ok(b.full)
}

/// `DELETE`: the source is forgotten (what it brought stays).
pub async fn remove(app: &App, tenant: &TenantName, name: &str) -> Result<()> {
    if !app.store.remove_source(tenant, name).await? {
        return Err(Error::not_found(format!(
            "tenant {tenant} has no source {name:?}"
        )));
    }
    Ok(())
}

/// The setting (no secrets) and its state, as the admin API shows them.
pub fn view(s: &Setting, state: &State) -> Value {
    let auth = match &s.credentials {
        Credentials::None => json!("none"),
        Credentials::Token(_) => json!({"token_set": true}),
        Credentials::Smart { client_id, .. } => {
            json!({"client_id": client_id, "private_key_set": true})
        }
    };
    let lag = state
        .last_success
        .map(|t| ((super::now_micros() - t).max(0) as f64 / 1e6).round());
    json!({
        "name": s.name,
        "url": s.url,
        "kind": match s.kind { Kind::Harvest => "harvest", Kind::PrimarySource => "primary-source" },
        "types": s.types,
        "auth": auth,
        "schedule": s.body.schedule,
        "rate_limit": s.rate_limit,
        "network_tag": s.network_tag,
        "full_every": s.full_every,
        "max_pages": s.max_pages,
        "page_size": s.page_size,
        "on_missing": match s.on_missing { OnMissing::Delete => "delete", OnMissing::Mark => "mark" },
        "last_run": state.last_run,
        "counts": state.counts,
        "dangling": state.dangling,
        "dangling_total": state.dangling_total,
        "errors": state.errors,
        "progress": state.progress,
        "lag_seconds": lag,
    })
}
