//! Reading one page of a source: the request (with the source's credentials and rate limit),
//! and what its answer means for the pass: a page to apply, a wait and another try, or the
//! end of the chain with a reason.

use std::time::{Duration, Instant};

use outbound::Method;
use serde_json::{Map, Value};

use super::setting::Setting;
use crate::remote::{Call, Remote};
use crate::App;

/// Tries of one page before its chain is given up.
pub const MAX_ATTEMPTS: u32 = 6;

/// The first backoff after a 5xx or a transport failure; doubled each try.
const BACKOFF: Duration = Duration::from_millis(500);

/// Longest backoff between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Longest `Retry-After` honoured: a source asking for more is treated as down.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// One page request's time limit.
const TIMEOUT: Duration = Duration::from_secs(120);

/// What the scopes of a SMART client ask a source for.
const SCOPE: &str = "system/*.rs";

/// What reading a page came to.
#[derive(Debug)]
pub enum Fetched {
    /// A searchset page: its entries' resources and the next page's URL.
    Page {
        resources: Vec<Map<String, Value>>,
        next: Option<String>,
        /// The Bundle's `meta.lastUpdated` (the source's clock), when it has one.
        at: Option<String>,
    },
    /// Try again after this long.
    Retry(Duration, String),
    /// The chain cannot go on.
    Fail(String),
}

/// The remote of `s`.
pub fn remote<'a>(app: &'a App, s: &'a Setting, tenant: &str) -> Remote<'a> {
    Remote {
        app,
        base: &s.url,
        credentials: &s.credentials,
        key: format!("source {tenant}/{}", s.name),
        stamp: s.updated,
        scope: SCOPE,
    }
}

/// How long to wait before try `attempt` (1 = the first retry), unless the source said.
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// Waits as the source's `rate_limit` demands.
async fn pace(app: &App, s: &Setting, tenant: &str) {
    let Some(rate) = s.rate_limit else { return };
    let gap = Duration::from_secs_f64(1.0 / rate);
    let key = format!("{tenant}/{}", s.name);
    let wait = {
        let mut last = app
            .harvest
            .last_call
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let next = last.get(&key).map_or(now, |t| (*t + gap).max(now));
        last.insert(key, next);
        next - now
    };
    tokio::time::sleep(wait).await;
}

/// GETs `url` and reads it as a page of `resource_type`.
pub async fn page(
    app: &App,
    s: &Setting,
    tenant: &str,
    url: &str,
    resource_type: &str,
    attempt: u32,
) -> Fetched {
    match get(app, s, tenant, url, attempt).await {
        Ok(body) => read(&body, resource_type),
        Err(not) => not,
    }
}

/// GETs `url`: the body of a 200, or what to do instead ([`Fetched::Retry`] or
/// [`Fetched::Fail`]).
pub async fn get(
    app: &App,
    s: &Setting,
    tenant: &str,
    url: &str,
    attempt: u32,
) -> Result<bytes::Bytes, Fetched> {
    pace(app, s, tenant).await;
    let answer = remote(app, s, tenant)
        .send(Call {
            method: Method::GET,
            url,
            headers: &[("Accept", "application/fhir+json")],
            body: None,
            timeout: TIMEOUT,
            max_bytes: app.settings.max_body_bytes,
        })
        .await;
    let answer = match answer {
        Ok(a) => a,
        // Too large, refused by the outbound rules, a redirect: trying again changes nothing.
        Err(e) if permanent(&e.to_string()) => return Err(Fetched::Fail(e.to_string())),
        Err(e) => return Err(Fetched::Retry(backoff(attempt + 1), e.to_string())),
    };
    match answer.status {
        200 => Ok(answer.body),
        429 | 503 | 502 | 504 | 500 => {
            let why = format!("GET {url}: HTTP {}", answer.status);
            Err(match answer.retry_after.map(Duration::from_secs) {
                Some(wait) if wait > MAX_RETRY_AFTER => Fetched::Fail(format!(
                    "{why} asking to wait {} s, more than the {} s a pass waits",
                    wait.as_secs(),
                    MAX_RETRY_AFTER.as_secs()
                )),
                Some(wait) => Fetched::Retry(wait, why),
                None => Fetched::Retry(backoff(attempt + 1), why),
            })
        }
        status => Err(Fetched::Fail(format!(
            "GET {url}: HTTP {status}{}",
            outcome_text(&answer.body)
        ))),
    }
}

/// Whether an outbound failure is one that another try cannot mend.
fn permanent(message: &str) -> bool {
    [
        "exceeds",
        "refused to fetch",
        "redirect",
        "not a usable URL",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// `: <diagnostics>` of an OperationOutcome body, when there is one.
fn outcome_text(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["issue"][0]["diagnostics"]
        .as_str()
        .map(|d| format!(": {}", d.chars().take(200).collect::<String>()))
        .unwrap_or_default()
}

/// A page's body as a searchset of `resource_type` (other entries, such as `_include`d
/// resources and OperationOutcomes, are not this chain's).
pub fn read(body: &[u8], resource_type: &str) -> Fetched {
    let bundle = match crate::request::parse_resource(body) {
        Ok(b) => b,
        Err(e) => {
            return Fetched::Fail(format!(
                "the page is not a FHIR resource: {}",
                e.diagnostics()
            ))
        }
    };
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Fetched::Fail("the page is not a Bundle".into());
    }
    let mut resources = Vec::new();
    for entry in bundle
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mode = entry["search"]["mode"].as_str().unwrap_or("match");
        if mode != "match" {
            continue;
        }
        if let Some(Value::Object(r)) = entry.get("resource") {
            if r.get("resourceType").and_then(Value::as_str) == Some(resource_type) {
                resources.push(r.clone());
            }
        }
    }
    let next = bundle
        .get("link")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned);
    let at = bundle
        .get("meta")
        .and_then(|m| m.get("lastUpdated"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Fetched::Page {
        resources,
        next,
        at,
    }
}

/// The absolute URL of a `next` link, when it stays on the source's origin (a link elsewhere
/// would take the source's credentials to another server).
pub fn next_url(s: &Setting, page_url: &str, next: &str) -> Result<String, String> {
    let base = outbound::Url::parse(page_url).map_err(|e| e.to_string())?;
    let url = base
        .join(next)
        .map_err(|e| format!("next link {next:?} is not a URL: {e}"))?;
    let origin = outbound::Url::parse(&s.url).map_err(|e| e.to_string())?;
    if url.origin() != origin.origin() {
        return Err(format!(
            "next link {next:?} leaves the source's origin ({})",
            origin.origin().ascii_serialization()
        ));
    }
    Ok(url.to_string())
}
