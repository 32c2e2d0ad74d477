//! The federation worker: one task per process ([`spawn`]) that, every [`TICK`] or when a
//! setting changes, carries each replica tenant's setting one phase further (subscribe, then
//! seed, then follow) and, while following, looks at its Subscriptions' `$status` every
//! [`CHECK_EVERY`] (and once at start): a Subscription gone makes the replica subscribe and
//! seed again; one in `error` or `off` (the upstream gave up on us), and every one at start
//! (we may have been down), is set back to `requested` so that the upstream resumes delivery
//! at once from the first event not delivered, and at start what changed upstream since the
//! last event applied is read from its history (`super::resync`: events it trimmed are
//! never delivered); events announced and not applied are read from `$events`. A failing step is retried with a doubling wait (1 s up to a minute), its
//! reason shown in the setting's `error`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::subscriptions::received;
use ::subscriptions::subscription::BACKPORT;
use outbound::Method;
use serde_json::{json, Map, Value};
use store::{Feed, Upstream};

use super::client::Client;
use crate::error::{Error, Result};
use crate::App;

/// How often the worker looks at the settings.
pub const TICK: Duration = Duration::from_secs(1);

/// How often a following replica checks its Subscriptions' `$status`.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

/// How far back a feed whose topic brings creates and deletes only reads the upstream's
/// history the first time, when nothing dates it.
const HISTORY_LOOKBACK_MICROS: i64 = 600_000_000;

/// Resources per seed page.
const SEED_PAGE: u32 = 500;

/// The longest wait before retrying a failed step.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts the worker on the current runtime; it runs until the handle is aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut runs: HashMap<String, Run> = HashMap::new();
        loop {
            let woken = app.federation.wake.notified();
            match app.store.upstreams().await {
                Ok(list) => {
                    for up in list {
                        run(&app, &up, &mut runs).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "federation: cannot read the settings"),
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(TICK) => {}
            }
        }
    })
}

/// What the worker remembers of one tenant's setting.
struct Run {
    updated: i64,
    next_try: Instant,
    backoff: Duration,
    /// When `$status` was last checked; `None`: not yet in this process.
    checked: Option<Instant>,
    /// By copied type: whether its topic brings every change (`false`: updates are read from
    /// the upstream's history at every check), once known in this process.
    every_change: HashMap<String, bool>,
    /// By copied type: the upstream commit time of the newest version its history gave.
    history_read: HashMap<String, i64>,
}

impl Run {
    fn new(updated: i64) -> Run {
        Run {
            updated,
            next_try: Instant::now(),
            backoff: Duration::from_secs(1),
            checked: None,
            every_change: HashMap::new(),
            history_read: HashMap::new(),
        }
    }
}

async fn run(app: &App, up: &Upstream, runs: &mut HashMap<String, Run>) {
    let r = runs
        .entry(up.tenant.to_string())
        .or_insert_with(|| Run::new(up.updated));
    if r.updated != up.updated {
        *r = Run::new(up.updated);
    }
    if Instant::now() < r.next_try {
        return;
    }
    let outcome = match up.phase.as_str() {
        "subscribe" => subscribe(app, up).await.map(|()| Some("seed")),
        "seed" => seed(app, up).await.map(|()| Some("follow")),
        _ => follow(app, up, r).await.map(|()| None),
    };
    let store = &app.store;
    let saved = match outcome {
        Ok(next) => {
            r.backoff = Duration::from_secs(1);
            match next {
                Some(phase) => {
                    store
                        .set_upstream_phase(&up.tenant, up.updated, phase, None)
                        .await
                }
                None if up.error.is_some() => {
                    store
                        .set_upstream_phase(&up.tenant, up.updated, &up.phase, None)
                        .await
                }
                None => Ok(true),
            }
        }
        Err(e) => {
            tracing::warn!(tenant = %up.tenant, phase = %up.phase, error = %e.diagnostics(), "federation step failed");
            r.next_try = Instant::now() + r.backoff;
            r.backoff = (r.backoff * 2).min(MAX_BACKOFF);
            let why = e.diagnostics().to_owned();
            store
                .set_upstream_phase(&up.tenant, up.updated, &up.phase, Some(&why))
                .await
        }
    };
    if let Err(e) = saved {
        tracing::warn!(tenant = %up.tenant, error = %e, "federation: cannot save the phase");
    }
}

/// Our Subscription to `topic` (of `resource_type`'s changes).
fn subscription(app: &App, up: &Upstream, topic: &str) -> Value {
    let endpoint = format!("{}/upstream/notify", app.tenant_base(&up.tenant));
    json!({
        "resourceType": "Subscription",
        "status": "requested",
        "reason": format!("fhirdir replica {endpoint}"),
        "criteria": topic,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [
                {"url": format!("{BACKPORT}backport-payload-content"), "valueCode": "full-resource"}
            ]},
            "header": [format!("{}: {}", super::SECRET_HEADER, up.secret)],
            "extension": [
                {"url": format!("{BACKPORT}backport-heartbeat-period"), "valueUnsignedInt": 60},
                {"url": format!("{BACKPORT}backport-timeout"), "valueUnsignedInt": 30},
                {"url": format!("{BACKPORT}backport-max-count"), "valueUnsignedInt": 100}
            ]
        }
    })
}

/// Why the upstream refused: its OperationOutcome's diagnostics, when it sent one.
pub(super) fn refusal(what: &str, answer: &super::client::Answer) -> Error {
    let said = answer.body["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default();
    Error::bad_gateway(format!(
        "{what}: upstream answered HTTP {} {said}",
        answer.status
    ))
}

/// Makes the Subscriptions missing for the copied types.
async fn subscribe(app: &App, up: &Upstream) -> Result<()> {
    let feeds = app.store.feeds(&up.tenant).await?;
    let client = Client { app, up };
    let missing: Vec<&String> = up
        .types
        .iter()
        .filter(|t| !feeds.iter().any(|f| &f.resource_type == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let capability = client.get(&format!("{}/metadata", up.url)).await?;
    if !capability.ok() {
        return Err(refusal(
            "reading the upstream's CapabilityStatement",
            &capability,
        ));
    }
    let offered = super::topics::offered(&capability.body);
    for t in missing {
        let Some(topic) = super::topics::choose(&offered, t) else {
            return Err(Error::bad_gateway(format!(
                "the upstream offers no subscription topic for {t} (it offers {}): it cannot \
                 be followed; leave {t} out of `types`",
                offered.join(", ")
            )));
        };
        let url = format!("{}/Subscription", up.url);
        let answer = client
            .call(
                Method::POST,
                &url,
                Some(&subscription(app, up, &topic.canonical)),
            )
            .await?;
        if !answer.ok() {
            return Err(refusal(&format!("subscribing to {t}"), &answer));
        }
        let id = answer.body["id"]
            .as_str()
            .ok_or_else(|| Error::bad_gateway("the upstream's new Subscription has no id"))?;
        let feed = Feed {
            resource_type: t.clone(),
            subscription: format!("{}/Subscription/{id}", up.url),
            ..Feed::default()
        };
        app.store.save_feed(&up.tenant, &feed).await?;
    }
    Ok(())
}

/// `scheme://host:port` of `url`.
pub(super) fn origin(url: &str) -> Option<String> {
    outbound::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

/// Copies every current resource of the copied types: from the upstream's Bulk Data export
/// when it offers one (`super::bulk_seed`), else (or when that fails) page by page.
async fn seed(app: &App, up: &Upstream) -> Result<()> {
    let client = Client { app, up };
    if super::bulk_seed::offered(&client).await {
        match super::bulk_seed::seed(app, up, &client).await {
            Ok(n) => {
                tracing::info!(tenant = %up.tenant, resources = n, "replica seeded from the upstream's $export");
                return Ok(());
            }
            Err(e) => tracing::warn!(
                tenant = %up.tenant, error = %e,
                "seeding from the upstream's $export failed; seeding by search instead"
            ),
        }
    }
    let home = origin(&up.url);
    for t in &up.types {
        let mut url = format!("{}/{t}?_count={SEED_PAGE}", up.url);
        loop {
            let answer = client.get(&url).await?;
            if !answer.ok() {
                return Err(refusal(&format!("reading {t}"), &answer));
            }
            let resources: Vec<Map<String, Value>> = answer.body["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| matches!(e["search"]["mode"].as_str(), None | Some("match")))
                .filter_map(|e| e["resource"].as_object().cloned())
                .collect();
            {
                let lock = app.federation.lock(up.tenant.as_str());
                let _held = lock.lock().await;
                super::apply::seed_page(app, up, resources).await?;
            }
            match next_page(&answer.body, home.as_deref())? {
                Some(n) => url = n,
                None => break,
            }
        }
    }
    Ok(())
}

/// The `next` link of a Bundle page from the upstream at `home` (its origin), `None` on the
/// last page. Paging stays on the upstream: a next link elsewhere is an error, not followed.
pub(super) fn next_page(bundle: &Value, home: Option<&str>) -> Result<Option<String>> {
    let next = bundle["link"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str());
    match next {
        Some(n) if origin(n).as_deref() == home => Ok(Some(n.to_owned())),
        Some(n) => Err(Error::bad_gateway(format!(
            "the upstream's next link {n} leaves the upstream"
        ))),
        None => Ok(None),
    }
}

/// Checks the Subscriptions (see the module documentation).
async fn follow(app: &App, up: &Upstream, r: &mut Run) -> Result<()> {
    let first = r.checked.is_none();
    if r.checked.is_some_and(|c| c.elapsed() < CHECK_EVERY) {
        return Ok(());
    }
    let client = Client { app, up };
    for f in app.store.feeds(&up.tenant).await? {
        let answer = client.get(&format!("{}/$status", f.subscription)).await?;
        if matches!(answer.status, 404 | 410) {
            // Gone upstream: subscribe again, and seed again (events were missed).
            tracing::warn!(tenant = %up.tenant, subscription = %f.subscription, "federation: the upstream Subscription is gone; subscribing and seeding again");
            app.store.delete_feed(&up.tenant, &f.resource_type).await?;
            app.store
                .set_upstream_phase(&up.tenant, up.updated, "subscribe", None)
                .await?;
            return Ok(());
        }
        if !answer.ok() {
            return Err(refusal("$status", &answer));
        }
        let status = received::read(&answer.body)
            .map_err(|e| Error::bad_gateway(format!("upstream $status: {e}")))?;
        if first || matches!(status.status.as_str(), "error" | "off") {
            request_again(&client, &f.subscription).await?;
        }
        let every_change = match r.every_change.get(&f.resource_type) {
            Some(e) => *e,
            None => {
                let ours = client.get(&f.subscription).await?;
                let criteria = ours.body["criteria"].as_str().unwrap_or_default();
                let e = !ours.ok() || super::topics::every_change(criteria);
                r.every_change.insert(f.resource_type.clone(), e);
                e
            }
        };
        if first || !every_change {
            // Away for a while, what the upstream changed since, whether or not it still has
            // the events (see `resync`); with a topic of creates and deletes, the updates.
            let lock = app.federation.lock(up.tenant.as_str());
            let _held = lock.lock().await;
            let feed = app
                .store
                .feeds(&up.tenant)
                .await?
                .into_iter()
                .find(|g| g.resource_type == f.resource_type);
            if let Some(feed) = feed {
                // With creates and deletes only, nothing may have come yet to date the feed:
                // from a while before this check (our clock; versions read twice are skipped).
                let after = r.history_read.get(&f.resource_type).copied().or_else(|| {
                    (!every_change).then(|| super::now_micros() - HISTORY_LOOKBACK_MICROS)
                });
                if let Some(newest) = super::resync::since_last(app, up, &feed, None, after).await?
                {
                    r.history_read.insert(f.resource_type.clone(), newest);
                }
            }
        }
        if status.announced > f.applied {
            super::receive::take(app, up, &f.resource_type, status).await?;
        }
    }
    r.checked = Some(Instant::now());
    Ok(())
}

/// Sets our Subscription back to `requested`: the upstream does a new handshake and resumes
/// delivery at once from the first event not delivered.
///
/// The channel header is written again: an upstream that hides a Subscription's headers from
/// readers (fhirdir does) gave it back without.
async fn request_again(client: &Client<'_>, url: &str) -> Result<()> {
    let answer = client.get(url).await?;
    if !answer.ok() {
        return Err(refusal("reading our Subscription", &answer));
    }
    let mut s = answer.body;
    s["status"] = json!("requested");
    s["channel"]["header"] = json!([format!("{}: {}", super::SECRET_HEADER, client.up.secret)]);
    let answer = client.call(Method::PUT, url, Some(&s)).await?;
    if !answer.ok() {
        return Err(refusal("requesting our Subscription again", &answer));
    }
    Ok(())
}
