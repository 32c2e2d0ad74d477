//! Recent answers of walk probes ([`super::plan::Walk::probe`]), per store.
//!
//! A probe counts up to a few thousand index rows of a value to decide between the walk
//! in id order and the set of all matches. At 1M resources on Postgres that count took
//! 1.3-4.5 ms in psql (`Practitioner?name=bro`, 6,417 rows: 1.3-2.7 ms, against 2.9-3.5 ms
//! for the set query itself), paid again for every page of every search of a popular value.
//! The answer only chooses a plan: both plans return the same rows, so a
//! stale answer costs at most a slower plan for [`TTL`], never a wrong result. Answers
//! inside a write transaction (conditional writes) are neither cached nor taken from here,
//! since they may count the transaction's own uncommitted rows.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::sql::Sql;
use crate::StoreError;

/// How long a probe's answer is reused: a value that grows past a walk threshold gets its
/// walk within this time.
const TTL: Duration = Duration::from_secs(30);

/// Entries kept at most; beyond it expired entries are dropped, and all when none has
/// expired (a burst of distinct values then simply probes again).
const CAPACITY: usize = 10_000;

/// Entries are keyed by a hash of the probe, not its text, so that memory stays a few
/// hundred kilobytes whatever the requests' values (a search may carry kilobytes of them).
/// The hasher's keys are random per process, so nobody can aim two probes at one entry, and
/// a chance collision would only pick the other plan.
/// `probe`'s answer: from `cache` when it knows one, else by running `count` (the probe on
/// the caller's connection), stored in `cache` for the next search.
pub(crate) async fn reuse_or_count(
    cache: Option<&ProbeCache>,
    probe: &Sql,
    count: impl std::future::Future<Output = Result<i64, StoreError>>,
) -> Result<i64, StoreError> {
    let Some(cache) = cache else {
        return count.await;
    };
    let key = cache.key(probe);
    if let Some(n) = cache.get_at(key, Instant::now()) {
        return Ok(n);
    }
    let n = count.await?;
    cache.put_at(key, n, Instant::now());
    Ok(n)
}

#[derive(Debug, Default)]
pub(crate) struct ProbeCache {
    hasher: RandomState,
    entries: Mutex<HashMap<u64, (i64, Instant)>>,
}

impl ProbeCache {
    /// The probe's parts (text, aliases, bound values, tenant included): two searches share
    /// an entry only when they would send the same statement with the same values.
    fn key(&self, probe: &Sql) -> u64 {
        self.hasher.hash_one(format!("{probe:?}"))
    }

    /// The answer stored under `key` when counted less than [`TTL`] before `now`.
    fn get_at(&self, key: u64, now: Instant) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&key) {
            Some(&(n, at)) if now.saturating_duration_since(at) < TTL => Some(n),
            _ => None,
        }
    }

    fn put_at(&self, key: u64, n: i64, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, (_, at)| now.saturating_duration_since(*at) < TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (n, now));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(value: &str) -> Sql {
        let mut sql = Sql::new();
        sql.push("SELECT COUNT(*) FROM t WHERE v = ")
            .text(value)
            .push(" LIMIT ")
            .int(8000);
        sql
    }

    #[test]
    fn answers_are_kept_per_statement_and_values_until_they_expire() {
        let cache = ProbeCache::default();
        let key = |v: &str| cache.key(&probe(v));
        let t0 = Instant::now();
        cache.put_at(key("mar"), 8000, t0);
        cache.put_at(key("zed"), 12, t0);
        assert_eq!(cache.get_at(key("mar"), t0), Some(8000));
        assert_eq!(cache.get_at(key("zed"), t0 + TTL / 2), Some(12));
        assert_eq!(cache.get_at(key("bro"), t0), None);
        assert_eq!(cache.get_at(key("mar"), t0 + TTL), None);
        // A fresh answer replaces the old one.
        cache.put_at(key("mar"), 7, t0 + TTL);
        assert_eq!(cache.get_at(key("mar"), t0 + TTL), Some(7));
    }

    #[tokio::test]
    async fn a_known_answer_is_reused_without_counting_again() {
        let cache = ProbeCache::default();
        let not_run = || async { Err(StoreError::Database(sqlx::Error::RowNotFound)) };
        let n = reuse_or_count(Some(&cache), &probe("pri"), async { Ok(8854) }).await;
        assert_eq!(n.ok(), Some(8854));
        let again = reuse_or_count(Some(&cache), &probe("pri"), not_run()).await;
        assert_eq!(again.ok(), Some(8854), "reused, not counted");
        let other = reuse_or_count(Some(&cache), &probe("mar"), not_run()).await;
        assert!(other.is_err(), "another value is counted");
        let uncached = reuse_or_count(None, &probe("pri"), not_run()).await;
        assert!(uncached.is_err(), "without a cache every probe is counted");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_everything() {
        let cache = ProbeCache::default();
        let t0 = Instant::now();
        let (fresh, new, last) = (u64::MAX, u64::MAX - 1, u64::MAX - 2);
        for i in 0..CAPACITY as u64 - 1 {
            cache.put_at(i, 1, t0);
        }
        cache.put_at(fresh, 2, t0 + TTL);
        assert_eq!(cache.len(), CAPACITY);
        // Full: the expired entries go, the fresh one stays.
        cache.put_at(new, 3, t0 + TTL);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get_at(fresh, t0 + TTL), Some(2));
        // Full of live entries: all go, the new one is kept.
        for i in 0..CAPACITY as u64 - 2 {
            cache.put_at(1_000_000 + i, 1, t0 + TTL);
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.put_at(last, 4, t0 + TTL);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get_at(last, t0 + TTL), Some(4));
    }
}
