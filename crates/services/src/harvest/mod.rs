//! Harvesting other directories: a tenant's remote sources (`/admin/tenants/{t}/sources/{name}`,
//! [`setting`]) of kind `harvest` are payers' public Plan-Net APIs (or any FHIR server) whose
//! directory resources the tenant keeps a copy of.
//!
//! A **pass** is a job of kind [`KIND`] on the jobs runner's remote lane (remote servers can
//! be slow or ask to wait; the lane keeps that from holding up exports and reindexes). It
//! pages through each configured type (`[base]/[type]?_count=N`, then each `next` link;
//! [`fetch`]) and applies each page in one transaction ([`apply`]):
//!
//! - under local ids that cannot collide between sources (`{source}-{id}`), references to the
//!   source's resources rewritten the same way, and the original in `meta.source`
//!   (`{base}/{type}/{id}`, what `Meta.source` is for) ([`local`]);
//! - idempotently: a resource whose content hash equals the one applied before writes
//!   nothing, so a page read twice (a resumed pass, duplicates across pages, a page that
//!   shifted while being read) changes nothing the second time.
//!
//! A **full** pass reads everything and, when every type's chain completed, deletes (or marks,
//! per the source's `on_missing`) what an earlier pass brought and this one did not find
//! ([`finish`]). An **incremental** pass asks only for what changed since the last good pass
//! (`_lastUpdated=gt`, when the source's CapabilityStatement offers `_lastUpdated`; a source
//! that does not gets a full pass each time). Every `full_every`-th pass, the first, and one
//! asked for with `{"full": true}` are full.
//!
//! The pass never trusts the remote: pages are read with the request-body limit and parsed
//! as a request body is; a page that is not a Bundle, a `next` link to another origin, a
//! `next` link already read (a loop), or more than `max_pages` pages stop that type's chain
//! with a recorded error (and the pass then deletes nothing); 429 and 5xx answers are retried
//! with backoff, honouring `Retry-After`. The job's cursor records where each chain stands,
//! so a pass interrupted by a restart resumes at the page it was reading. While a page
//! commits, the next one is fetched and prepared (parsed, localised, indexed) beside it.

pub mod apply;
pub(crate) mod fetch;
pub mod finish;
pub mod job;
pub mod local;
pub mod schedule;
pub mod setting;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a running pass saves its progress in the source's state.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub use job::{queue, Harvest, KIND};

/// Harvest state of a process ([`crate::App::harvest`]).
#[derive(Default)]
pub struct Harvests {
    /// Wakes the remote lane of the jobs runner (a pass was queued).
    pub wake: tokio::sync::Notify,
    /// When each source was last called (its `rate_limit`).
    last_call: Mutex<HashMap<String, Instant>>,
    /// The pages each running pass has read in its current chain (a `next` loop).
    read: Mutex<HashMap<String, HashSet<String>>>,
    /// The page each running pass fetched and prepared ahead, by URL.
    ready: Mutex<HashMap<String, (String, job::Ready)>>,
    /// When each running pass last saved its progress.
    saved: Mutex<HashMap<String, Instant>>,
}

impl Harvests {
    /// Records that `job` reads `url` in its current chain; `false` when it already did.
    fn first_read(&self, job: &str, url: &str) -> bool {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.entry(job.to_owned())
            .or_default()
            .insert(url.to_owned())
    }

    /// The page `job` prepared ahead, if it is `url`'s (anything else it held is dropped).
    fn take_ready(&self, job: &str, url: &str) -> Option<job::Ready> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        match ready.remove(job) {
            Some((u, r)) if u == url => Some(r),
            _ => None,
        }
    }

    /// Whether `job` should save its progress now (a second has passed since it last did);
    /// if so, counts this as the save.
    fn progress_due(&self, job: &str) -> bool {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match saved.get(job) {
            Some(at) if now.duration_since(*at) < PROGRESS_EVERY => false,
            _ => {
                saved.insert(job.to_owned(), now);
                true
            }
        }
    }

    /// Keeps the page `job` prepared ahead.
    fn put_ready(&self, job: &str, url: String, page: job::Ready) {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready.insert(job.to_owned(), (url, page));
    }

    /// Whether `job` has read `url` in its current chain.
    fn was_read(&self, job: &str, url: &str) -> bool {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.get(job).is_some_and(|urls| urls.contains(url))
    }

    /// Forgets the chain `job` was reading (it moved to the next type, or ended).
    fn chain_done(&self, job: &str) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.remove(job);
    }

    /// Forgets everything about `job` (it ended).
    fn job_done(&self, job: &str) {
        self.chain_done(job);
        self.take_ready(job, "");
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        saved.remove(job);
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(fhir::meta::format_instant)
        .unwrap_or_default()
}
