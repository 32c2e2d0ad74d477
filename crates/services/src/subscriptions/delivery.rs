//! The delivery worker: one task per process ([`spawn`]) that, every [`POLL`] or when a
//! write commits, walks each tenant's Subscriptions due for an attempt and
//!
//! - does the handshake of a `requested` one (→ `active`, or `error` with the reason);
//! - sends an `active` one's new events: the tenant's change events after its position
//!   (its durable queue is the change-event log itself, read in its owner's view), those its
//!   topic fires on and its filters admit (the version of the event, or the previous one, so
//!   a resource leaving a filter is notified), at most `backport-max-count` per notification,
//!   each numbered for the subscription; the position and numbers are saved only after the
//!   subscriber answered 2xx, so delivery is at least once, in order, resumes where it
//!   stopped after any restart, and a retried notification carries the same numbers;
//! - on failure waits (doubling, 1 s up to [`MAX_BACKOFF`]) and after the give-up time
//!   (`--subscription-give-up`) sets `error` with the reason; a client setting the
//!   Subscription back to `requested` resumes from the first event not delivered;
//! - sends a heartbeat when `backport-heartbeat-period` passes without a notification.
//!
//! The owner's view is taken again at every send: a client no longer registered, or whose
//! scopes no longer grant reading the topic's type, gets `error`; events of resources it may
//! not see now take no number, and bodies come redacted as it would read them. Sends go
//! through the guarded outbound client (https unless allow-listed; no private, loopback or
//! link-local address otherwise; no redirects). Events never cross tenants: each tenant's
//! Subscriptions read that tenant's events only.
//!
//! Each subscription is served by a task of its own: a slow or silent endpoint holds up only
//! its own notifications (the pass waits for it a moment, then goes on; see [`pass`]).
//!
//! The worker yields to writes: after a pass during which writes committed it rests four
//! times as long as the pass took, so a burst of writes loses at most about a fifth of a core
//! to delivery, which catches up afterwards; with no writes going on, a backlog is sent pass
//! after pass.
//!
//! One process delivers; with several processes on one database each would send (at least
//! once still holds, with duplicates).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::subscriptions::notification::{self, About, Kind};
use ::subscriptions::{Action, CompiledFilter, Spec, Status};
use serde_json::Value;
use store::{
    Agent, ChangeAction, ChangeEvent, EventFilter, EventOrder, Scope, SubscriptionState, TenantName,
};

use crate::error::{Error, Result};
use crate::App;

/// How often the worker looks for work.
pub const POLL: Duration = Duration::from_millis(200);

/// The longest wait between two attempts of a failing subscriber.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// After a pass, the worker rests this many times as long as the pass took.
const REST_FACTOR: u32 = 4;

/// The longest rest after a pass.
const MAX_REST: Duration = Duration::from_secs(10);

/// How long a pass waits for its subscriptions' sends before going on without them.
const PASS_WAIT: Duration = Duration::from_secs(2);

/// Change events read per look at one subscription.
const BATCH: u32 = 200;

/// Starts the worker on the current runtime; it runs until the handle is aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let in_flight = InFlight::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(DB_TURNS));
        // The subscriptions' tasks: aborted with the worker (dropped with this set), so that
        // no send of a stopped server goes on.
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            // Registered before the pass: a commit during the pass wakes the next wait.
            let changed = app.store.changed();
            tokio::pin!(changed);
            let started = std::time::Instant::now();
            let backlog = match pass(&app, &in_flight, &gate, &mut tasks).await {
                Ok(backlog) => backlog,
                Err(e) => {
                    tracing::warn!(error = %e, "subscription delivery: a pass failed");
                    false
                }
            };
            // Delivery yields to writes: when writes committed during a pass, it rests
            // REST_FACTOR times as long as the pass took, so under a write burst it takes at
            // most a fifth of a core and catches up afterwards; with no writes going on, a
            // backlog (a subscriber back after downtime) is sent pass after pass.
            let wrote = tokio::time::timeout(Duration::ZERO, &mut changed)
                .await
                .is_ok();
            if wrote {
                let rest = (started.elapsed() * REST_FACTOR).min(MAX_REST);
                tokio::time::sleep(rest).await;
                continue;
            }
            if backlog {
                continue;
            }
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

/// The subscriptions whose delivery is under way (tenant, id): a pass leaves them alone.
#[derive(Default, Clone)]
struct InFlight(Arc<Mutex<std::collections::HashSet<(String, String)>>>);

impl InFlight {
    fn set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<(String, String)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Takes a subscription out of [`InFlight`] when dropped, unless `key` was taken.
struct Release {
    in_flight: InFlight,
    key: Option<(String, String)>,
}

impl Release {
    /// The pass took the result over: it releases the subscription itself.
    fn disarm(&mut self) {
        self.key = None;
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.in_flight.set().remove(&key);
        }
    }
}

/// One pass over every tenant; answers whether a subscription has more to send at once (it
/// sent a full notification, or more events wait to be examined).
///
/// Each due subscription is served by a task of its own, so that a slow or silent endpoint
/// (its timeout is up to a minute) delays only its own notifications. The pass waits at most
/// [`PASS_WAIT`] for them and records what they sent in one transaction per tenant (on SQLite
/// one per subscription would queue behind the writers); a task still sending then records
/// its own when it is done, and until then no pass serves its subscription again.
async fn pass(
    app: &Arc<App>,
    in_flight: &InFlight,
    gate: &Arc<tokio::sync::Semaphore>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<bool> {
    let mut backlog = false;
    for tenant in app
        .store
        .tenants_with_due_subscriptions(now_micros())
        .await?
    {
        let now = now_micros();
        let last = app.store.last_change_number(&tenant).await?;
        let work = Arc::new(Pass {
            last,
            versions: Versions::default(),
        });
        let due: Vec<SubscriptionState> = app
            .store
            .subscription_states(&tenant, None)
            .await?
            .into_iter()
            .filter(|state| {
                let due = matches!(state.status.as_str(), "requested" | "active")
                    && state.next_attempt <= now;
                // An active subscription that has examined every event and owes no
                // heartbeat has nothing to do: no read of its resource or of the events.
                let idle = state.status == "active"
                    && state.position >= last
                    && state
                        .heartbeat_secs
                        .is_none_or(|s| now - state.last_sent < s * 1_000_000);
                due && !idle
            })
            .collect();
        let (sent, mut results) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<Save>)>();
        let mut started = 0;
        for state in due {
            let key = (tenant.to_string(), state.id.clone());
            if !in_flight.set().insert(key.clone()) {
                continue;
            }
            started += 1;
            let (app, work, sent, tenant) =
                (app.clone(), work.clone(), sent.clone(), tenant.clone());
            let mut turn = Turn {
                gate: gate.clone(),
                held: None,
            };
            // Whatever ends the task (even a panic), the subscription is not left in flight
            // unless the pass took its result over.
            let mut release = Release {
                in_flight: in_flight.clone(),
                key: Some(key),
            };
            tasks.spawn(async move {
                let id = state.id.clone();
                let mut saves = Vec::new();
                turn.take().await;
                let delivered = deliver(&app, &tenant, state, &work, &mut saves, &mut turn).await;
                drop(turn);
                if let Err(e) = delivered {
                    tracing::warn!(tenant = %tenant, subscription = %id, error = %e, "subscription delivery failed");
                }
                match sent.send((id.clone(), saves)) {
                    // The pass records it, and releases it after.
                    Ok(()) => release.disarm(),
                    // Past the pass's wait: record it alone.
                    Err(tokio::sync::mpsc::error::SendError((_, saves))) => {
                        if let Err(e) = save_all(&app, &tenant, &saves).await {
                            tracing::warn!(tenant = %tenant, subscription = %id, error = %e, "subscription delivery: saving failed");
                        }
                    }
                }
            });
        }
        drop(sent);
        let mut saves = Vec::new();
        let mut done = Vec::new();
        let wait = tokio::time::sleep(PASS_WAIT);
        tokio::pin!(wait);
        while done.len() < started {
            tokio::select! {
                got = results.recv() => match got {
                    Some((id, s)) => {
                        done.push(id);
                        saves.extend(s);
                    }
                    None => break,
                },
                () = &mut wait => break,
            }
        }
        // What arrived between the wait's end and the close is still this pass's.
        results.close();
        while let Ok((id, s)) = results.try_recv() {
            done.push(id);
            saves.extend(s);
        }
        backlog |= saves.iter().any(|(s, _, _)| s.position < last);
        let saved = save_all(app, &tenant, &saves).await;
        let mut set = in_flight.set();
        for id in done {
            set.remove(&(tenant.to_string(), id));
        }
        drop(set);
        saved?;
    }
    Ok(backlog)
}

/// Delivery tasks at the database at once: their reads and writes go one at a time, as a
/// single worker's would (the writers keep their connections and their share of the cores),
/// while any number of them wait on their subscribers' answers.
const DB_TURNS: usize = 1;

/// A delivery task's turn at the database ([`DB_TURNS`]).
struct Turn {
    gate: Arc<tokio::sync::Semaphore>,
    held: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Turn {
    async fn take(&mut self) {
        if self.held.is_none() {
            self.held = self.gate.clone().acquire_owned().await.ok();
        }
    }

    /// Runs `work` (a send to a subscriber) without the turn, and takes it again after.
    async fn outside<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        self.held = None;
        let out = work.await;
        self.take().await;
        out
    }
}

/// Records `saves` of `tenant` in one transaction.
async fn save_all(app: &App, tenant: &TenantName, saves: &[Save]) -> Result<()> {
    if saves.is_empty() {
        return Ok(());
    }
    let mut tx = app.store.begin(tenant).await?;
    for (state, numbered, from) in saves {
        tx.save_subscription_state(state, numbered, from).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A delivery state to save, the events numbered (its number, the change event's), and the
/// status it was read with.
type Save = (SubscriptionState, Vec<(i64, i64)>, String);

/// What the subscriptions of one tenant share in a pass.
struct Pass {
    /// The tenant's last change event when the pass began.
    last: i64,
    versions: Versions,
}

/// The versions read during one pass, by owner: subscriptions of the same topic read the same
/// versions, in the same owner's view when their owners see alike.
#[derive(Default)]
struct Versions(Mutex<std::collections::HashMap<VersionKey, Option<Value>>>);

/// (owner's view, type, id, version).
type VersionKey = (String, String, String, i64);

impl Versions {
    /// The version, from the pass's cache or read (concurrent readers of the same version
    /// may both read it; the lock is never held across the read).
    async fn get(
        &self,
        app: &App,
        scope: Scope<'_>,
        owner: &str,
        (rt, id, version): (&str, &str, i64),
    ) -> Result<Option<Value>> {
        let key = (owner.to_owned(), rt.to_owned(), id.to_owned(), version);
        let cached = |map: &Self| {
            map.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned()
        };
        if let Some(v) = cached(self) {
            return Ok(v);
        }
        let v = app
            .store
            .vread(scope, rt, id, version)
            .await?
            .and_then(|r| r.body)
            .and_then(|b| serde_json::from_str(&b).ok());
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a pass over a burst of writes keeps at most this many.
        if map.len() < 10_000 {
            map.insert(key, v.clone());
        }
        Ok(v)
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Whose view of the tenant a subscription's notifications carry.
struct Owner {
    organization: Option<String>,
    see_restricted: bool,
    kind: OwnerKind,
}

enum OwnerKind {
    Anonymous,
    Client,
    System,
}

impl Owner {
    /// What decides what this owner sees: owners alike share the versions read in a pass.
    fn key(&self) -> String {
        let kind = match self.kind {
            OwnerKind::Anonymous => "anonymous",
            OwnerKind::Client => "client",
            OwnerKind::System => "system",
        };
        format!(
            "{kind}|{}|{}",
            self.organization.as_deref().unwrap_or(""),
            self.see_restricted
        )
    }

    fn viewer<'a>(&'a self, base: &'a str) -> restrict::Viewer<'a> {
        match self.kind {
            OwnerKind::Anonymous => restrict::Viewer::Anonymous,
            OwnerKind::System => restrict::Viewer::System,
            OwnerKind::Client => restrict::Viewer::Client {
                organization: self.organization.as_deref(),
                purpose_of_use: &[],
                see_restricted: self.see_restricted,
                tenant_base: base,
            },
        }
    }
}

/// The owner as it is registered now, or why it may not receive the topic's resources.
async fn owner(
    app: &App,
    tenant: &TenantName,
    agent: &Agent,
    rtype: &str,
) -> Result<std::result::Result<Owner, String>> {
    match agent {
        // Made while authorization was off: it may go on only while anonymous callers may
        // still read the tenant.
        Agent::Anonymous if app.settings.auth_enforced && !app.anonymous_read(tenant).await? => {
            Ok(Err(
                "the subscription was made without a token, and this tenant no longer lets \
                 anonymous callers read"
                    .to_owned(),
            ))
        }
        Agent::Anonymous => Ok(Ok(Owner {
            organization: None,
            see_restricted: false,
            kind: OwnerKind::Anonymous,
        })),
        Agent::System => Ok(Ok(Owner {
            organization: None,
            see_restricted: false,
            kind: OwnerKind::System,
        })),
        Agent::Client(id) => {
            let Some((record, _)) = crate::auth::clients::find(app, tenant, id).await? else {
                return Ok(Err(format!(
                    "the subscription's owner, client {id}, is no longer registered"
                )));
            };
            let scopes = ::auth::Scopes::parse_lenient(&record.scope);
            if !scopes.allows(rtype, ::auth::Interaction::Read) {
                return Ok(Err(format!(
                    "the subscription's owner, client {id}, may no longer read {rtype}"
                )));
            }
            Ok(Ok(Owner {
                organization: record.organization,
                see_restricted: record.see_restricted,
                kind: OwnerKind::Client,
            }))
        }
    }
}

async fn deliver(
    app: &App,
    tenant: &TenantName,
    mut state: SubscriptionState,
    pass: &Pass,
    saves: &mut Vec<Save>,
    turn: &mut Turn,
) -> Result<()> {
    // Every save below happens only if the status is still this one.
    let from = state.status.clone();
    let from = from.as_str();
    let whole = Scope::whole(tenant);
    let Some(record) = app.store.read(whole, "Subscription", &state.id).await? else {
        return Ok(());
    };
    let Some(body) = record.body.as_deref() else {
        return Ok(());
    };
    let resource: Value = serde_json::from_str(body).map_err(|e| Error::internal(e.to_string()))?;
    let spec = match ::subscriptions::read(&resource) {
        Ok(s) => s,
        Err(e) => return fail_now(app, tenant, &mut state, &e.0, from).await,
    };
    let conf = app.conformance(tenant).await?;
    let mut filters = Vec::new();
    for f in &spec.filters {
        match ::subscriptions::compile(spec.topic.resource_type, f, &conf.registry) {
            Ok(c) => filters.push(c),
            Err(e) => return fail_now(app, tenant, &mut state, &e.0, from).await,
        }
    }
    state.heartbeat_secs = spec.heartbeat_secs.map(i64::from);
    let owner = match owner(app, tenant, &state.owner, spec.topic.resource_type).await? {
        Ok(o) => o,
        Err(why) => return fail_now(app, tenant, &mut state, &why, from).await,
    };
    let base = app.tenant_base(tenant);
    let url = format!("{base}/Subscription/{}", state.id);
    if state.status == "requested" {
        let about = about(&url, &spec, Status::Requested, &state);
        let bundle = notification::bundle(&about, Kind::Handshake, &[], spec.payload, &instant());
        return match turn.outside(send(app, &spec, &bundle)).await {
            Ok(()) => {
                state.status = "active".into();
                state.last_sent = now_micros();
                state.failing_since = None;
                state.error = None;
                if save(app, tenant, &state, from).await? {
                    set_resource_status(app, tenant, &state.id, Status::Active, None).await?;
                }
                Ok(())
            }
            Err(why) => {
                fail_now(
                    app,
                    tenant,
                    &mut state,
                    &format!("the handshake failed: {why}"),
                    from,
                )
                .await
            }
        };
    }
    let viewer = owner.viewer(&base);
    let scope = Scope::viewing(tenant, viewer);
    let filter = EventFilter {
        resource_types: vec![spec.topic.resource_type.to_owned()],
        after_number: Some(state.position),
        ..EventFilter::default()
    };
    let events = app
        .store
        .change_events(scope, &filter, EventOrder::OldestFirst, BATCH)
        .await?;
    let mut position = state.position;
    let mut matched: Vec<(i64, notification::Event)> = Vec::new();
    let mut examined = 0;
    for e in &events {
        if matched.len() >= spec.max_count as usize {
            break;
        }
        examined += 1;
        position = e.number;
        if let Some(n) = matches(
            app,
            (scope, &owner.key(), &pass.versions),
            &conf.extractor,
            &spec,
            &filters,
            e,
            &base,
        )
        .await?
        {
            matched.push((e.number, n));
        }
    }
    // Every event up to the tenant's last at the start of the pass was examined (those of
    // other types and those hidden from the owner included; the counter commits with its
    // events): the position moves past them, so the subscription is idle until the next write.
    if examined == events.len() && events.len() < BATCH as usize {
        position = position.max(pass.last);
    }
    if matched.is_empty() {
        let heartbeat_due = spec
            .heartbeat_secs
            .is_some_and(|s| now_micros() - state.last_sent >= i64::from(s) * 1_000_000);
        if heartbeat_due {
            let about = about(&url, &spec, Status::Active, &state);
            let bundle =
                notification::bundle(&about, Kind::Heartbeat, &[], spec.payload, &instant());
            match turn.outside(send(app, &spec, &bundle)).await {
                Ok(()) => state.last_sent = now_micros(),
                Err(why) => return failed(app, tenant, &mut state, &why, from).await,
            }
        }
        if position != state.position || heartbeat_due {
            state.position = position;
            saves.push((state, Vec::new(), from.to_owned()));
        }
        return Ok(());
    }
    let first = state.events_since_start + 1;
    let mut numbered = Vec::with_capacity(matched.len());
    let mut sent = Vec::with_capacity(matched.len());
    for (i, (event_no, mut n)) in matched.into_iter().enumerate() {
        n.number = first + i as i64;
        numbered.push((n.number, event_no));
        sent.push(n);
    }
    let mut after = state.clone();
    after.events_since_start += sent.len() as i64;
    let about = about(&url, &spec, Status::Active, &after);
    let bundle = notification::bundle(
        &about,
        Kind::EventNotification,
        &sent,
        spec.payload,
        &instant(),
    );
    match turn.outside(send(app, &spec, &bundle)).await {
        Ok(()) => {
            after.position = position;
            after.last_sent = now_micros();
            after.failing_since = None;
            after.next_attempt = 0;
            saves.push((after, numbered, from.to_owned()));
            Ok(())
        }
        Err(why) => failed(app, tenant, &mut state, &why, from).await,
    }
}

/// The notification event of change `e` when the subscription's topic fires on it and its
/// filters admit it, read in `scope` (the owner's view).
async fn matches(
    app: &App,
    (scope, owner, versions): (Scope<'_>, &str, &Versions),
    extractor: &search::Extractor,
    spec: &Spec,
    filters: &[CompiledFilter],
    e: &ChangeEvent,
    base: &str,
) -> Result<Option<notification::Event>> {
    let (rt, id) = (e.resource_type.as_str(), e.id.as_str());
    // The version is read only when something needs its body: the payload, a filter, or the
    // topic's trigger. Otherwise the event alone decides (it was read in the owner's view:
    // an event of a resource hidden from the owner is not among them).
    let needs_body = spec.payload == ::subscriptions::Payload::FullResource
        || !filters.is_empty()
        || spec.topic.reads_bodies();
    let current = match e.action {
        ChangeAction::Delete => None,
        _ if !needs_body => None,
        _ => versions.get(app, scope, owner, (rt, id, e.version)).await?,
    };
    let needs_previous =
        e.action != ChangeAction::Create && (!filters.is_empty() || spec.topic.reads_bodies());
    let previous = if needs_previous && e.version > 1 {
        versions
            .get(app, scope, owner, (rt, id, e.version - 1))
            .await?
    } else {
        None
    };
    let action = match e.action {
        ChangeAction::Create => Action::Create,
        ChangeAction::Update => Action::Update,
        ChangeAction::Delete => Action::Delete,
    };
    if needs_body && e.action != ChangeAction::Delete && current.is_none() {
        // Gone from the owner's view (trimmed, or hidden now).
        return Ok(None);
    }
    if !spec
        .topic
        .fires(action, current.as_ref(), previous.as_ref())
    {
        return Ok(None);
    }
    let admits = |r: &Option<Value>| {
        r.as_ref().is_some_and(|r| {
            let entries = extractor.extract(r);
            filters.iter().all(|f| f.matches(r, &entries))
        })
    };
    if !filters.is_empty() && !admits(&current) && !admits(&previous) {
        return Ok(None);
    }
    Ok(Some(super::event(base, e, 0, current)))
}

fn about<'a>(
    url: &'a str,
    spec: &'a Spec,
    status: Status,
    state: &'a SubscriptionState,
) -> About<'a> {
    About {
        subscription: url,
        topic: &spec.topic.canonical,
        status,
        events_since_start: state.events_since_start,
        error: state.error.as_deref(),
    }
}

fn instant() -> String {
    fhir::meta::format_instant(chrono::Utc::now())
}

/// POSTs a notification to the subscriber; the reason when it did not answer 2xx in time.
async fn send(app: &App, spec: &Spec, bundle: &Value) -> std::result::Result<(), String> {
    let body = serde_json::to_vec(bundle).map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(u64::from(spec.timeout_secs));
    app.outbound
        .post(
            &spec.endpoint,
            &spec.headers,
            "application/fhir+json",
            body,
            timeout,
        )
        .await
        .map_err(|e| e.to_string())
}

/// Saves `state` unless a client changed its status from `from` meanwhile; whether it did.
async fn save(
    app: &App,
    tenant: &TenantName,
    state: &SubscriptionState,
    from: &str,
) -> Result<bool> {
    let mut tx = app.store.begin(tenant).await?;
    let saved = tx.save_subscription_state(state, &[], from).await?;
    tx.commit().await?;
    Ok(saved)
}

/// A send failed: wait longer each time, and give up (status `error`) once the failures have
/// lasted longer than the give-up time.
async fn failed(
    app: &App,
    tenant: &TenantName,
    state: &mut SubscriptionState,
    why: &str,
    from: &str,
) -> Result<()> {
    let now = now_micros();
    let since = *state.failing_since.get_or_insert(now);
    let failing = Duration::from_micros(u64::try_from(now - since).unwrap_or(0));
    if failing > app.settings.subscription_give_up {
        let reason = format!("notifications failed for {} s: {why}", failing.as_secs());
        return fail_now(app, tenant, state, &reason, from).await;
    }
    let wait = (failing / 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
    state.next_attempt = now + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
    state.error = Some(why.to_owned());
    tracing::info!(tenant = %tenant, subscription = %state.id, error = why, retry_in_ms = wait.as_millis() as u64, "notification failed");
    save(app, tenant, state, from).await.map(|_| ())
}

/// Sets `error` with `why`, on the state and on the Subscription resource.
async fn fail_now(
    app: &App,
    tenant: &TenantName,
    state: &mut SubscriptionState,
    why: &str,
    from: &str,
) -> Result<()> {
    tracing::info!(tenant = %tenant, subscription = %state.id, error = why, "subscription set to error");
    state.status = "error".into();
    state.error = Some(why.to_owned());
    if save(app, tenant, state, from).await? {
        set_resource_status(app, tenant, &state.id, Status::Error, Some(why)).await?;
    }
    Ok(())
}

/// Writes the Subscription's new `status` (and `error`) as fhirdir itself, unless a client
/// changed it meanwhile (its write asked for what it wants).
async fn set_resource_status(
    app: &App,
    tenant: &TenantName,
    id: &str,
    status: Status,
    error: Option<&str>,
) -> Result<()> {
    let Some(current) = app
        .store
        .read(Scope::whole(tenant), "Subscription", id)
        .await?
    else {
        return Ok(());
    };
    let Some(Value::Object(mut body)) = current
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
    else {
        return Ok(());
    };
    body.insert("status".into(), Value::String(status.as_str().into()));
    match error {
        Some(e) => body.insert("error".into(), Value::String(e.into())),
        None => body.remove("error"),
    };
    let conf = app.conformance(tenant).await?;
    let request = store::WriteRequest {
        resource_type: "Subscription".into(),
        id: id.into(),
        resource: body,
        precondition: store::Precondition::IfMatch(current.version),
        method: store::Method::Put,
    };
    let w = writes::prepare(&conf.extractor, writes::Source::Api, request)?;
    let mut tx = app.store.begin(tenant).await?;
    match writes::apply(&mut tx, w, &conf.extractor).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(())
        }
        Err(store::StoreError::VersionConflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
