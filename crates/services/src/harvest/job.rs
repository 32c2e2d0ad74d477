//! A harvest pass as a job ([`KIND`]): its steps, each one page (or one batch of the sweep),
//! and [`queue`], which starts one.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{Job, NewJob, TenantName};

use super::fetch::{self, Fetched, MAX_ATTEMPTS};
use super::setting::{self, Counts, Kind, Progress, Run, Setting, State};
use super::{apply, finish, instant, now_micros};
use crate::error::{Error, Result};
use crate::jobs::{BoxFuture, JobKind, Step};
use crate::App;

/// The kind of harvest jobs in the job queue.
pub const KIND: &str = "harvest";

/// Errors listed in a source's state (the first ones; later ones are counted).
pub const MAX_ERRORS: usize = 100;

/// How far before the last good pass's start an incremental pass asks for changes: writes
/// stamped just before it may have committed after, and the clocks may differ.
const OVERLAP: Duration = Duration::from_secs(60);

/// Longest sleep of one step while a source makes the pass wait (the step then reports
/// progress, which keeps the job's lease).
const NAP: Duration = Duration::from_secs(5);

/// A pass's `params` in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Params {
    source: String,
    /// Asked to be full.
    full: bool,
}

/// A pass's `cursor` in the queue: where each chain stands, so that a resumed pass goes on
/// from the page it was reading.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Cursor {
    pass: i64,
    full: bool,
    /// When the pass started (epoch microseconds, this server's clock).
    started: i64,
    /// `_lastUpdated=gt` of an incremental pass.
    since: Option<String>,
    /// The source's clock when the pass started (the first page's `meta.lastUpdated`).
    source_time: Option<String>,
    /// The type being read (index into the setting's types).
    type_index: usize,
    /// The page to read next in that type's chain (`None`: its first page).
    next: Option<String>,
    /// Pages read in that chain.
    pages: u64,
    /// Tries of the page to read that failed.
    attempt: u32,
    /// Not before this (epoch microseconds): the source asked to wait, or a backoff.
    not_before: Option<i64>,
    counts: Counts,
    errors: Vec<String>,
    errors_total: u64,
    /// A chain stopped early: the pass deletes nothing.
    failed: bool,
    /// The chains are done; deleting what the pass did not find.
    sweeping: bool,
}

impl Cursor {
    fn error(&mut self, message: String) {
        self.errors_total += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(message);
        }
    }

    /// Moves past pages just read (`pages` of them, the ones after the first at `later`, the
    /// last one's `next` link): on along the chain, or to the next type. Answers whether they
    /// began their chain, and how many pages of it are read.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        app: &App,
        job: &str,
        s: &Setting,
        url: &str,
        next: Option<String>,
        pages: u64,
        later: Vec<String>,
    ) -> (bool, u64) {
        let rtype = s.types.get(self.type_index).cloned().unwrap_or_default();
        self.pages += pages;
        self.attempt = 0;
        let at = (self.pages == pages, self.pages);
        // The `next` link is relative to the last page read.
        let last = later.last().cloned().unwrap_or_else(|| url.to_owned());
        for u in later {
            app.harvest.first_read(job, &u);
        }
        match next.map(|n| fetch::next_url(s, &last, &n)) {
            None => self.next_type(app, job, None),
            Some(Ok(n)) => self.next = Some(n),
            Some(Err(why)) => self.next_type(app, job, Some(format!("{rtype}: {why}"))),
        }
        at
    }

    /// The page to read after this position, its type, and how many pages may be read from
    /// it; `None` at the end of the types.
    fn upcoming(&self, s: &Setting) -> Option<(String, String, u64)> {
        match (&self.next, s.types.get(self.type_index)) {
            (Some(n), Some(t)) if self.pages < s.max_pages => {
                Some((n.clone(), t.clone(), s.max_pages - self.pages))
            }
            (None, Some(t)) => Some((first_page(s, t, self), t.clone(), s.max_pages)),
            _ => None,
        }
    }

    /// Takes the position of `later`, a copy of this cursor moved on further; the errors it
    /// recorded after its first `from` ones are added to this cursor's.
    fn take_position(&mut self, later: Cursor, from: (usize, u64)) {
        let (counts, errors, total) = (
            self.counts,
            std::mem::take(&mut self.errors),
            self.errors_total,
        );
        let added = later.errors_total - from.1;
        let new: Vec<String> = later.errors.iter().skip(from.0).cloned().collect();
        *self = later;
        (self.counts, self.errors, self.errors_total) = (counts, errors, total);
        for e in new {
            self.error(e);
        }
        // Errors `later` counted without keeping them (it held MAX_ERRORS already).
        self.errors_total += added.saturating_sub(self.errors_total - total);
    }

    /// Ends the current chain (early when `why` says why).
    fn next_type(&mut self, app: &App, job: &str, why: Option<String>) {
        if let Some(why) = why {
            self.failed = true;
            self.error(why);
        }
        self.type_index += 1;
        self.next = None;
        self.pages = 0;
        self.attempt = 0;
        app.harvest.chain_done(job);
    }
}

/// The harvest job kind.
#[derive(Debug, Default)]
pub struct Harvest;

impl JobKind for Harvest {
    fn name(&self) -> &'static str {
        KIND
    }

    fn step<'a>(
        &'a self,
        app: &'a App,
        tenant: &'a TenantName,
        job: &'a Job,
        _batch: u32,
    ) -> BoxFuture<'a, Result<Step>> {
        Box::pin(step(app, tenant, job))
    }
}

fn progress(c: &Cursor) -> Result<Step> {
    Ok(Step::Progress {
        done: c.counts.seen,
        cursor: serde_json::to_value(c).map_err(|e| Error::internal(e.to_string()))?,
    })
}

async fn step(app: &App, tenant: &TenantName, job: &Job) -> Result<Step> {
    let params: Params = serde_json::from_value(job.params.clone())
        .map_err(|e| Error::internal(format!("harvest job {}: {e}", job.id)))?;
    let (s, mut state) = match setting::load(app, tenant, &params.source).await {
        Ok(found) => found,
        // The source was removed: nothing left to do.
        Err(e) if e.status() == http::StatusCode::NOT_FOUND => return Ok(Step::Finished),
        Err(e) => return Err(e),
    };
    let Some(cursor) = &job.cursor else {
        return start(app, tenant, job, &s, &mut state, params.full).await;
    };
    let mut c: Cursor = serde_json::from_value(cursor.clone())
        .map_err(|e| Error::internal(format!("harvest job {}: {e}", job.id)))?;
    if let Some(at) = c.not_before {
        let now = now_micros();
        if at > now {
            let wait = Duration::from_micros((at - now) as u64).min(NAP);
            tokio::time::sleep(wait).await;
            if at > now_micros() {
                return progress(&c);
            }
        }
        c.not_before = None;
    }
    if c.sweeping {
        let swept = finish::sweep(app, tenant, &s, c.pass).await?;
        if swept.rows == 0 {
            return end(app, tenant, job, &s, &mut state, &c).await;
        }
        c.counts.deleted += swept.removed;
        return progress(&c);
    }
    let Some(rtype) = s.types.get(c.type_index).cloned() else {
        if c.full && !c.failed {
            c.sweeping = true;
            return progress(&c);
        }
        return end(app, tenant, job, &s, &mut state, &c).await;
    };
    let url = c.next.clone().unwrap_or_else(|| first_page(&s, &rtype, &c));
    if c.attempt == 0 && !app.harvest.first_read(&job.id, &url) {
        c.next_type(
            app,
            &job.id,
            Some(format!(
                "{rtype}: the next link {url} loops back to a page already read"
            )),
        );
        return progress(&c);
    }
    if c.pages >= s.max_pages {
        c.next_type(
            app,
            &job.id,
            Some(format!(
                "{rtype}: more than max_pages ({}) pages; the chain was stopped",
                s.max_pages
            )),
        );
        return progress(&c);
    }
    let ready = match app.harvest.take_ready(&job.id, &url) {
        Some(r) => r,
        None => {
            let budget = s.max_pages - c.pages;
            let want = Want {
                url: &url,
                rtype: &rtype,
                attempt: c.attempt,
                budget,
            };
            fetch_and_prepare(app, &s, tenant, &job.id, want).await
        }
    };
    match ready {
        Ready::Not(Fetched::Retry(wait, why)) => {
            c.attempt += 1;
            if c.attempt >= MAX_ATTEMPTS {
                c.next_type(
                    app,
                    &job.id,
                    Some(format!(
                        "{rtype}: {why}; gave up after {MAX_ATTEMPTS} tries"
                    )),
                );
            } else {
                tracing::info!(%tenant, source = %s.name, %why, wait_ms = wait.as_millis() as u64,
                    "harvest: waiting before trying the page again");
                c.not_before = Some(now_micros() + wait.as_micros() as i64);
            }
        }
        Ready::Not(Fetched::Fail(why)) => {
            c.next_type(app, &job.id, Some(format!("{rtype}: {why}")))
        }
        Ready::Not(Fetched::Page { .. }) => {
            return Err(Error::internal("a fetched page is always prepared"));
        }
        Ready::Page {
            prepared,
            next,
            at,
            pages,
            later,
        } => {
            if c.source_time.is_none() {
                c.source_time = Some(at.unwrap_or_else(|| instant(c.started)));
            }
            let (chain_start, chain_pages) = c.advance(app, &job.id, &s, &url, next, pages, later);
            // Only Postgres lets a second transaction write beside this one (`ahead`).
            let keys = (app.store.backend() == "postgres").then(|| prepared.keys());
            let before = c.clone();
            // The pages after these (in this chain or the next type's first) are fetched and
            // prepared while these commit, and on Postgres committed beside them.
            let ahead = ahead(app, tenant, job, &s, before, keys);
            let (applied, ahead) =
                tokio::join!(apply::commit(app, tenant, &s, prepared, c.pass), ahead);
            let applied = applied?;
            c.counts.add(&applied.counts);
            for p in applied.problems {
                c.error(p);
            }
            let mut saves = vec![(chain_start, rtype, chain_pages)];
            match ahead {
                Ahead::Nothing => {}
                Ahead::Ready(u, r) => app.harvest.put_ready(&job.id, u, r),
                Ahead::Committed(b) => {
                    let b = *b;
                    let applied = b.applied?;
                    c.take_position(b.cursor, b.errors_from);
                    c.counts.add(&applied.counts);
                    for p in applied.problems {
                        c.error(p);
                    }
                    if let Some((u, r)) = b.ready {
                        app.harvest.put_ready(&job.id, u, r);
                    }
                    saves.push((b.chain_start, b.rtype, b.chain_pages));
                }
            }
            // The source's state shows the progress: at each chain's first page, then at most
            // once a second (a write of its own per page would slow small pages down).
            for (chain_start, rtype, pages) in saves {
                if chain_start || app.harvest.progress_due(&job.id) {
                    state.counts = c.counts;
                    state.progress = Some(Progress {
                        rtype,
                        pages,
                        resources: c.counts.seen,
                    });
                    setting::save_state(app, tenant, &s.name, &state).await?;
                }
            }
        }
    }
    progress(&c)
}

/// What was done beside a commit.
enum Ahead {
    /// Nothing: the pass has no page left to read.
    Nothing,
    /// The next page, fetched and prepared (or why not), for the next step.
    Ready(String, Ready),
    /// The next page was committed too (a second writer).
    Committed(Box<Committed>),
}

/// Pages committed by the second writer, and where the pass stands after them.
struct Committed {
    cursor: Cursor,
    /// How many errors the cursor had (kept, counted) before it moved past them.
    errors_from: (usize, u64),
    applied: Result<apply::Applied>,
    /// The page after them, fetched and prepared.
    ready: Option<(String, Ready)>,
    chain_start: bool,
    rtype: String,
    chain_pages: u64,
}

/// Fetches and prepares the page after `c`'s position while the pages before it (holding
/// `keys`; `None` on SQLite) commit. On Postgres, which lets two transactions write at once, that page is
/// committed beside them when it holds none of their resources (a resource in both could be
/// written in either order), and the one after it is fetched meanwhile: the fixed cost of a
/// transaction then overlaps another's work, as `fhirdir import`'s two writers do.
async fn ahead(
    app: &App,
    tenant: &TenantName,
    job: &Job,
    s: &Setting,
    mut c: Cursor,
    keys: Option<(String, HashSet<String>)>,
) -> Ahead {
    let Some((url, rtype, budget)) = c.upcoming(s) else {
        return Ahead::Nothing;
    };
    let want = Want {
        url: &url,
        rtype: &rtype,
        attempt: 0,
        budget,
    };
    let ready = fetch_and_prepare(app, s, tenant, &job.id, want).await;
    let Ready::Page {
        prepared,
        next,
        at,
        pages,
        later,
    } = ready
    else {
        return Ahead::Ready(url, ready);
    };
    let second_writer = keys.as_ref().is_some_and(|k| !prepared.overlaps(k))
        && !app.harvest.was_read(&job.id, &url);
    if !second_writer {
        let ready = Ready::Page {
            prepared,
            next,
            at,
            pages,
            later,
        };
        return Ahead::Ready(url, ready);
    }
    app.harvest.first_read(&job.id, &url);
    let errors_from = (c.errors.len(), c.errors_total);
    let (chain_start, chain_pages) = c.advance(app, &job.id, s, &url, next, pages, later);
    let after = c.upcoming(s);
    let prefetch = async {
        let (u, t, budget) = after?;
        let want = Want {
            url: &u,
            rtype: &t,
            attempt: 0,
            budget,
        };
        let r = fetch_and_prepare(app, s, tenant, &job.id, want).await;
        Some((u, r))
    };
    let (applied, ready) = tokio::join!(apply::commit(app, tenant, s, prepared, c.pass), prefetch);
    Ahead::Committed(Box::new(Committed {
        cursor: c,
        errors_from,
        applied,
        ready,
        chain_start,
        rtype,
        chain_pages,
    }))
}

/// Consecutive pages of a chain are read into one transaction while they hold fewer
/// resources than this: a transaction costs about what its rows cost plus a fixed part (on
/// Postgres about 15 ms), which small pages would pay once each.
const COALESCE: usize = 1000;

/// Most pages read into one transaction.
const MAX_COALESCED: u64 = 10;

/// Pages read and prepared together, or why not.
pub enum Ready {
    Page {
        prepared: apply::Prepared,
        /// The `next` link of the last page read.
        next: Option<String>,
        /// The first page's `meta.lastUpdated`.
        at: Option<String>,
        /// How many pages, and the URLs of those after the first.
        pages: u64,
        later: Vec<String>,
    },
    /// A [`Fetched::Retry`] or [`Fetched::Fail`] of the first page.
    Not(Fetched),
}

/// What [`fetch_and_prepare`] reads: the first page, its type, the tries it already had, and
/// how many pages it may read at most.
struct Want<'a> {
    url: &'a str,
    rtype: &'a str,
    attempt: u32,
    budget: u64,
}

/// Reads `body` (of `url`) as a page of `rtype`, off the async threads.
async fn read(body: bytes::Bytes, rtype: &str) -> Fetched {
    let rtype = rtype.to_owned();
    tokio::task::spawn_blocking(move || fetch::read(&body, &rtype))
        .await
        .unwrap_or_else(|e| Fetched::Fail(format!("reading the page failed: {e}")))
}

/// Reads `url` (a page of `rtype` in `job`'s chain) and, while they are small, the pages its
/// `next` links lead to (at most `budget` pages in all), and prepares their resources off the
/// async threads (parsing and indexing is CPU work that would otherwise hold up the commit it
/// overlaps). A later page that cannot be read, or was read already, ends the batch before
/// it: the next step reads it on its own and records what is wrong.
async fn fetch_and_prepare(
    app: &App,
    s: &Setting,
    tenant: &TenantName,
    job: &str,
    want: Want<'_>,
) -> Ready {
    let Want {
        url,
        rtype,
        attempt,
        budget,
    } = want;
    let first = match fetch::get(app, s, tenant.as_str(), url, attempt).await {
        Ok(b) => b,
        Err(not) => return Ready::Not(not),
    };
    let (mut resources, mut next, at) = match read(first, rtype).await {
        Fetched::Page {
            resources,
            next,
            at,
        } => (resources, next, at),
        other => return Ready::Not(other),
    };
    let (mut pages, mut later, mut current) = (1u64, Vec::new(), url.to_owned());
    while resources.len() < COALESCE && pages < budget.min(MAX_COALESCED) {
        let Some(Ok(n)) = next.as_deref().map(|n| fetch::next_url(s, &current, n)) else {
            break;
        };
        if n == url || later.contains(&n) || app.harvest.was_read(job, &n) {
            break;
        }
        let Ok(body) = fetch::get(app, s, tenant.as_str(), &n, 0).await else {
            break;
        };
        let Fetched::Page {
            resources: more,
            next: after,
            ..
        } = read(body, rtype).await
        else {
            break;
        };
        resources.extend(more);
        next = after;
        pages += 1;
        later.push(n.clone());
        current = n;
    }
    let conf = match app.conformance(tenant).await {
        Ok(c) => c,
        Err(e) => return Ready::Not(Fetched::Retry(fetch::backoff(attempt + 1), e.to_string())),
    };
    let (s, rtype_owned) = (s.clone(), rtype.to_owned());
    let prepared =
        tokio::task::spawn_blocking(move || apply::prepare(&s, &conf, &rtype_owned, resources))
            .await;
    match prepared {
        Ok(prepared) => Ready::Page {
            prepared,
            next,
            at,
            pages,
            later,
        },
        Err(e) => Ready::Not(Fetched::Fail(format!("preparing the page failed: {e}"))),
    }
}

/// The first page of `rtype`'s chain.
fn first_page(s: &Setting, rtype: &str, c: &Cursor) -> String {
    let mut url = format!("{}/{rtype}?_count={}", s.url, s.page_size);
    if let Some(since) = &c.since {
        url.push_str("&_lastUpdated=gt");
        url.push_str(&since.replace('+', "%2B"));
    }
    url
}

/// The first step: numbers the pass, decides whether it is full, records it as running.
async fn start(
    app: &App,
    tenant: &TenantName,
    job: &Job,
    s: &Setting,
    state: &mut State,
    asked_full: bool,
) -> Result<Step> {
    // Every `full_every`-th pass is full (1: all of them).
    let mut full =
        asked_full || state.since.is_none() || state.passes_since_full + 1 >= s.full_every;
    if !full && !offers_last_updated(app, s, tenant).await {
        full = true;
    }
    let started = now_micros();
    state.pass += 1;
    state.last_run = Some(Run {
        started: instant(started),
        finished: None,
        status: "running".into(),
        full,
        job: Some(job.id.clone()),
    });
    state.counts = Counts::default();
    state.errors.clear();
    state.progress = None;
    setting::save_state(app, tenant, &s.name, state).await?;
    app.harvest.chain_done(&job.id);
    let c = Cursor {
        pass: state.pass,
        full,
        started,
        since: if full { None } else { state.since.clone() },
        ..Cursor::default()
    };
    progress(&c)
}

/// Whether the source's CapabilityStatement offers `_lastUpdated` for every type harvested
/// (on the type or for all types); a source that does not say is read in full.
async fn offers_last_updated(app: &App, s: &Setting, tenant: &TenantName) -> bool {
    let url = format!("{}/metadata", s.url);
    let answer = fetch::remote(app, s, tenant.as_str())
        .send(crate::remote::Call {
            method: outbound::Method::GET,
            url: &url,
            headers: &[("Accept", "application/fhir+json")],
            body: None,
            timeout: Duration::from_secs(60),
            max_bytes: app.settings.max_body_bytes,
        })
        .await;
    let Ok(answer) = answer.map(|a| (a.status, a.body)) else {
        return false;
    };
    let cs: Value = serde_json::from_slice(&answer.1).unwrap_or(Value::Null);
    if answer.0 != 200 {
        return false;
    }
    let named = |params: &Value| {
        params
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "_lastUpdated"))
    };
    let rests = cs["rest"].as_array().cloned().unwrap_or_default();
    s.types.iter().all(|t| {
        rests.iter().any(|rest| {
            named(&rest["searchParam"])
                || rest["resource"].as_array().is_some_and(|rs| {
                    rs.iter()
                        .any(|r| r["type"] == t.as_str() && named(&r["searchParam"]))
                })
        })
    })
}

/// The last step: lists dangling references, stamps the networks, records the outcome.
async fn end(
    app: &App,
    tenant: &TenantName,
    job: &Job,
    s: &Setting,
    state: &mut State,
    c: &Cursor,
) -> Result<Step> {
    app.harvest.job_done(&job.id);
    let ok = !c.failed;
    if ok {
        app.store
            .touch_harvested_networks(tenant, &s.name, c.started)
            .await?;
    }
    let (dangling, total) = finish::dangling(app, tenant, s).await?;
    let finished = now_micros();
    state.last_run = Some(Run {
        started: instant(c.started),
        finished: Some(instant(finished)),
        status: if ok { "ok" } else { "error" }.into(),
        full: c.full,
        job: Some(job.id.clone()),
    });
    state.counts = c.counts;
    state.errors = c.errors.clone();
    if c.errors_total > c.errors.len() as u64 {
        state.errors.push(format!(
            "... and {} more",
            c.errors_total - c.errors.len() as u64
        ));
    }
    state.dangling = dangling;
    state.dangling_total = total;
    state.progress = None;
    if ok {
        state.last_success = Some(c.started);
        state.since = Some(since_next(c));
        state.passes_since_full = if c.full {
            0
        } else {
            state.passes_since_full + 1
        };
    }
    setting::save_state(app, tenant, &s.name, state).await?;
    tracing::info!(%tenant, source = %s.name, full = c.full, ok, seen = c.counts.seen,
        created = c.counts.created, updated = c.counts.updated, deleted = c.counts.deleted,
        "harvest pass finished");
    Ok(Step::Finished)
}

/// What the next incremental pass asks for changes after: this pass's start by the source's
/// clock, less [`OVERLAP`].
fn since_next(c: &Cursor) -> String {
    let at = c
        .source_time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(c.started, |t| t.timestamp_micros());
    instant(at - OVERLAP.as_micros() as i64)
}

/// Queues a pass of `tenant`'s source `name` (full when `full`), unless one is already queued
/// or running; answers the pass's job id and whether it was queued now.
pub async fn queue(
    app: &App,
    tenant: &TenantName,
    name: &str,
    full: bool,
) -> Result<(String, bool)> {
    let (s, mut state) = setting::load(app, tenant, name).await?;
    if s.kind != Kind::Harvest {
        return Err(Error::invalid(format!(
            "source {name:?} is a primary source: it is asked during verification, not harvested"
        )));
    }
    for j in app.store.jobs(tenant, Some(KIND), true).await? {
        if j.params["source"] == name {
            return Ok((j.id, false));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let params = serde_json::to_value(Params {
        source: name.to_owned(),
        full,
    })
    .map_err(|e| Error::internal(e.to_string()))?;
    app.store
        .create_job(
            tenant,
            NewJob {
                id: &id,
                kind: KIND,
                params: &params,
                total: 0,
            },
        )
        .await?;
    state.last_run = Some(Run {
        started: instant(now_micros()),
        finished: None,
        status: "queued".into(),
        full,
        job: Some(id.clone()),
    });
    setting::save_state(app, tenant, name, &state).await?;
    app.harvest.wake.notify_one();
    Ok((id, true))
}
