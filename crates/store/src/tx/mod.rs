//! Multi-operation transactions: [`Store::begin`] hands out a [`StoreTx`] in which reads see
//! the transaction's own writes and every write, delete and batch commits together or not at
//! all.
//!
//! [`Store::write`] and [`Store::delete`] are `begin` + one operation + `commit`, so there is
//! one implementation of the write rules (preconditions, version and timestamp assignment,
//! compare-and-swap with retry) for both backends, in [`rules`]; the backends' batch paths
//! are in `sqlite/tx.rs` and `postgres/tx.rs`.
//!
//! Failure rule: once an operation of a transaction has failed, the transaction is *aborted*:
//! every later operation and `commit` answer [`StoreError::TransactionAborted`] and the
//! database work is rolled back. This makes "a transaction that fails at any point leaves
//! nothing behind" hold even for a caller that ignores an error, and matches Postgres, where a
//! failed statement aborts the transaction anyway. Dropping a `StoreTx` without committing
//! rolls it back.
//!
//! Backend notes: on SQLite a transaction holds the single writer connection (`BEGIN
//! IMMEDIATE`), so every other writer (other transactions, `Store::write`, other processes on
//! the same file) waits until it ends: keep transactions short. On Postgres it holds `FOR KEY
//! SHARE` on the tenant row and the row locks of the resources it wrote; two transactions that
//! write the same resources in opposite orders can deadlock, and Postgres then aborts one of
//! them with a database error.
//!
//! Conditional writes (a create with `If-None-Exist`, a conditional update that creates)
//! search and then write; two identical ones must not both see "no match". They call
//! [`StoreTx::lock_condition`] before [`StoreTx::search`]: on Postgres an advisory lock held
//! to the end of the transaction, so the second waits for the first to commit and then finds
//! its resource (READ COMMITTED: every statement sees the latest commits); on SQLite nothing,
//! as `BEGIN IMMEDIATE` already serialises every write transaction.

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{
    DeleteOutcome, Precondition, Scope, SearchPage, Store, StoreError, TenantName, VersionRecord,
    WriteOutcome, WriteRequest,
};
use rules::WriteTx;

/// What a batch write does with a resource whose content equals its current version's.
///
/// "Equal" compares the JSON of the resource as it would be stored, ignoring
/// `meta.versionId` and `meta.lastUpdated` (key order does not matter; `1` and `1.0` differ).
/// Deleted resources are never "unchanged": writing one revives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnchanged {
    /// Write a new version anyway: the FHIR update interaction
    /// (<https://hl7.org/fhir/R4/http.html#update>) creates a new current version, so this is
    /// what [`StoreTx::write`] and [`Store::write`] always do.
    #[default]
    NewVersion,
    /// Write no version and answer the current one with [`crate::WriteKind::Updated`], as
    /// HAPI's "suppress no-op updates" does. Only for writes without a precondition
    /// (`Precondition::None`): a conditional write still checks and writes. This is what makes
    /// re-running `fhirdir import` on the same files add no versions. An unchanged resource's
    /// index rows are kept as they are (rewriting them would make a rerun as slow as the
    /// first import); rows from an older extractor are for a reindex
    /// ([`Store::reindex_many`]).
    KeepCurrent,
}

/// One resource of a [`StoreTx::write_batch`]: the write and the search index entries of its
/// resource (computed above the store, as for the API path).
#[derive(Debug, Clone)]
pub struct BatchWrite {
    pub request: WriteRequest,
    pub index: Vec<search::IndexEntry>,
    /// The resource's restriction policy as the write pipeline read it (stage 4b); the
    /// pipeline saves it after the write ([`StoreTx::save_restrictions`]), the store's write
    /// calls ignore it. `None`: the caller does not manage restrictions (tests, reindex).
    pub restriction: Option<crate::RestrictionWrite>,
    /// Its index rows that hold restricted content, as its complete policy says (the
    /// pipeline's stage 5b): written under the tenant's shadow key.
    pub hidden: crate::HiddenRows,
}

/// The answer for one write of a [`StoreTx::write_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// What [`StoreTx::write`] would answer; for an unchanged resource, its current version
    /// with [`crate::WriteKind::Updated`].
    pub outcome: WriteOutcome,
    /// True when nothing was written ([`OnUnchanged::KeepCurrent`] and the same content).
    pub unchanged: bool,
}

/// An open transaction on one tenant's data (see the module documentation).
///
/// Created by [`Store::begin`]; ends with [`StoreTx::commit`] or [`StoreTx::rollback`], or
/// rolls back when dropped.
#[derive(Debug)]
pub struct StoreTx {
    inner: Inner,
    /// Set when an operation failed: the transaction can then only be rolled back.
    aborted: bool,
}

#[derive(Debug)]
enum Inner {
    Sqlite(WriteTx<SqliteStore>),
    Postgres(WriteTx<PgStore>),
}

impl Store {
    /// Opens a transaction on the data of `scope`'s tenant. Answers
    /// [`StoreError::UnknownTenant`] when the tenant does not exist; the tenant cannot be
    /// deleted while the transaction is open.
    pub async fn begin(&self, scope: impl Into<Scope<'_>>) -> Result<StoreTx, StoreError> {
        let tenant = scope.into().tenant();
        let inner = match self {
            Store::Sqlite(s) => Inner::Sqlite(WriteTx::begin(s, tenant).await?),
            Store::Postgres(s) => Inner::Postgres(WriteTx::begin(s, tenant).await?),
        };
        Ok(StoreTx {
            inner,
            aborted: false,
        })
    }
}

impl StoreTx {
    /// Runs one operation under the failure rule of the module documentation.
    async fn guarded<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut Inner) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.aborted {
            return Err(StoreError::TransactionAborted);
        }
        // Dropped before this operation returns, the transaction's connection is closed
        // rather than reused (held.rs).
        dispatch!(Inner, &mut self.inner, t => t.set_busy(true));
        let result = op(&mut self.inner).await;
        dispatch!(Inner, &mut self.inner, t => t.set_busy(false));
        if result.is_err() {
            self.aborted = true;
        }
        result
    }

    /// The tenant this transaction works on.
    pub fn tenant(&self) -> &TenantName {
        dispatch!(Inner, &self.inner, t => t.tenant())
    }

    /// Runs a statement of the store's own (the harvest's bookkeeping) in this transaction.
    pub(crate) async fn execute_sql(
        &mut self,
        sql: &crate::search::Sql,
    ) -> Result<u64, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.execute_sql(sql).await))
            .await
    }

    /// Runs a query of the store's own in this transaction.
    pub(crate) async fn fetch_rows<T: crate::db::FromCols>(
        &mut self,
        sql: &crate::search::Sql,
    ) -> Result<Vec<T>, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.fetch_rows(sql).await))
            .await
    }

    /// The current version of a resource as this transaction sees it (its own writes
    /// included); like [`Store::read`].
    pub async fn read(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let viewer = restrict::Viewer::System;
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.read(&viewer, resource_type, id).await),
        )
        .await
    }

    /// Creates or updates one resource; exactly the rules of [`Store::write`] (which is this
    /// inside its own transaction).
    pub async fn write(&mut self, req: WriteRequest) -> Result<WriteOutcome, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.write(req).await))
            .await
    }

    /// Like [`StoreTx::write`], and saves `index` as the resource's search index rows
    /// (replacing the previous version's) in the same transaction, those `hidden` names under
    /// the tenant's shadow key (restricted content, see `restricted.rs`).
    pub async fn write_indexed(
        &mut self,
        req: WriteRequest,
        index: &[search::IndexEntry],
        hidden: &crate::HiddenRows,
    ) -> Result<WriteOutcome, StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.write_indexed(req, index, hidden).await),
        )
        .await
    }

    /// Deletes (tombstones) one resource; exactly the rules of [`Store::delete`].
    pub async fn delete(
        &mut self,
        resource_type: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<DeleteOutcome, StoreError> {
        self.guarded(async |inner| {
            dispatch!(Inner, inner, t => t.delete(resource_type, id, precondition).await)
        })
        .await
    }

    /// Writes many resources with multi-row statements: the bulk path for import.
    ///
    /// The stored result is the one `writes.len()` calls of [`StoreTx::write`] in the same
    /// order would leave (same bodies and `meta` stamping, versions, history rows in the same
    /// `seq` order, preconditions checked), except that with [`OnUnchanged::KeepCurrent`] an
    /// unconditional write of unchanged content writes nothing. The same resource may appear
    /// several times. Answers one outcome per write, in order. On error nothing of the batch
    /// is kept once the transaction is rolled back (it is aborted; see the module docs).
    pub async fn write_batch(
        &mut self,
        writes: Vec<BatchWrite>,
        on_unchanged: OnUnchanged,
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.write_batch(writes, on_unchanged).await),
        )
        .await
    }

    /// The first page of `query`'s results as this transaction sees them (its own writes
    /// included) and as `viewer` may see them; otherwise like [`Store::search`]. Conditional writes search here, after
    /// [`StoreTx::lock_condition`], so the check and the write are one transaction.
    pub async fn search(
        &mut self,
        viewer: &restrict::Viewer<'_>,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
    ) -> Result<SearchPage, StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.search(viewer, query, registry).await),
        )
        .await
    }

    /// Serialises, until this transaction ends, the transactions that take the same `key`
    /// in the same tenant (see the module documentation). `key` names a condition, e.g.
    /// `Organization?identifier=...` with the criteria in a canonical order; different keys
    /// may rarely share a lock (it is a 64-bit hash), which costs waiting, never correctness.
    /// Take several keys in sorted order: two transactions that take the same two keys in
    /// opposite orders can deadlock, and Postgres then aborts one of them.
    pub async fn lock_condition(&mut self, key: &str) -> Result<(), StoreError> {
        let hash = condition_lock_key(self.tenant(), key);
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.lock_condition(hash, false).await),
        )
        .await
    }

    /// Referential integrity's lock on the resource `rtype/id`, held to the end of this
    /// transaction: shared by each write that references it (and then checks it is live),
    /// exclusive by its delete (which then checks that nothing references it). Whichever
    /// commits first, the other then sees its commit (READ COMMITTED), so a reference to a
    /// deleted resource never commits. On Postgres an advisory lock; on SQLite nothing, as
    /// `BEGIN IMMEDIATE` serialises every write transaction. Take several in sorted order.
    pub async fn lock_referent(
        &mut self,
        rtype: &str,
        id: &str,
        exclusive: bool,
    ) -> Result<(), StoreError> {
        let hash = condition_lock_key(self.tenant(), &format!("referent {rtype}/{id}"));
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.lock_condition(hash, !exclusive).await),
        )
        .await
    }

    /// Up to `limit` resources that reference `rtype/id`, as this transaction sees them
    /// (like [`Store::referrers`]).
    pub async fn referrers(
        &mut self,
        rtype: &str,
        id: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = crate::references::referrers_sql(self.tenant(), rtype, id, limit);
        self.fetch_rows(&sql).await
    }

    /// Replaces the restriction rows of the given resources (written in this transaction, or
    /// citing a stored Restriction that was): their policy, gates, provisions, restricted
    /// parameters and cited Restrictions. Searches, reads and history then filter on them
    /// (see `restricted.rs`).
    pub async fn save_restrictions(
        &mut self,
        writes: &[crate::RestrictionWrite],
    ) -> Result<(), StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.save_restrictions(writes).await))
            .await
    }

    /// The restriction policy kept for `resource_type/id` (a deleted resource keeps its
    /// last), or `None` when it is unrestricted.
    pub async fn policy(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<restrict::Restrictions>, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.policy(resource_type, id).await))
            .await
    }

    /// The policies of those of `keys` (`(type, id)`) that have restricted elements.
    pub async fn element_policies(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String, restrict::Restrictions)>, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.element_policies(keys).await))
            .await
    }

    /// Adds parameters fed by restricted elements (a reindex with a new search parameter):
    /// `(type, id, params)`. Call it before the new index rows are saved, so that they are
    /// never visible unfiltered.
    pub async fn add_restricted_params(
        &mut self,
        rows: &[(String, String, Vec<String>)],
    ) -> Result<(), StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.add_restricted_params(rows).await),
        )
        .await
    }

    /// Who this transaction's changes are by (their change events' agent; fhirdir itself
    /// unless set).
    pub fn set_agent(&mut self, agent: crate::Agent) {
        dispatch!(Inner, &mut self.inner, t => t.set_agent(agent));
    }

    /// Who this transaction's changes are by.
    pub fn agent(&self) -> crate::Agent {
        dispatch!(Inner, &self.inner, t => t.agent().clone())
    }

    /// A Subscription `id` was written with `status`: a client's write makes its delivery
    /// state (or asks for a new handshake); see `subscriptions.rs`.
    pub async fn note_subscription(&mut self, id: &str, status: &str) -> Result<(), StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.note_subscription(id, status).await),
        )
        .await
    }

    /// Subscription `id` was deleted: its delivery state goes.
    pub async fn forget_subscription(&mut self, id: &str) -> Result<(), StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.forget_subscription(id).await))
            .await
    }

    /// Saves a Subscription's delivery state and the events just numbered for it ((its
    /// number, the change event's)), if its status is still `from_status` (the one the
    /// caller read): `false` when a client changed it meanwhile (set it `off`, asked for a
    /// new handshake) or deleted it, whose write then stands.
    pub async fn save_subscription_state(
        &mut self,
        state: &crate::SubscriptionState,
        numbered: &[(i64, i64)],
        from_status: &str,
    ) -> Result<bool, StoreError> {
        self.guarded(async |inner| {
            dispatch!(Inner, inner, t => t.save_subscription_state(state, numbered, from_status).await)
        })
        .await
    }

    /// Moves the feed of `resource_type` (a replica tenant's, [`crate::Upstream`]) to its
    /// event `applied`, committed upstream at `committed_at` (epoch microseconds), in this
    /// transaction, which applies the events up to it. False when the feed was already
    /// there or past it (another applier got there first: roll back).
    pub async fn advance_feed(
        &mut self,
        resource_type: &str,
        applied: i64,
        committed_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.guarded(async |inner| {
            dispatch!(Inner, inner, t => t.advance_feed(resource_type, applied, committed_at).await)
        })
        .await
    }

    /// How many days the tenant keeps its change events.
    pub async fn event_retention_days(&mut self) -> Result<i64, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.event_retention_days().await))
            .await
    }

    /// Sets how many days the tenant keeps its change events (at least 1).
    pub async fn set_event_retention_days(&mut self, days: i64) -> Result<(), StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.set_event_retention_days(days).await),
        )
        .await
    }

    /// Deletes the tenant's change events older than its retention at `now`; answers how many.
    pub async fn trim_events(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.trim_events(now).await))
            .await
    }

    /// The tenant's restriction settings (the defaults when none were set).
    pub async fn restriction_settings(&mut self) -> Result<restrict::Settings, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.restriction_settings().await))
            .await
    }

    /// Replaces the tenant's restriction settings (the caller recomputes what they change).
    pub async fn set_restriction_settings(
        &mut self,
        settings: &restrict::Settings,
    ) -> Result<(), StoreError> {
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.set_restriction_settings(settings).await),
        )
        .await
    }

    /// `(type, id)` of the live resources carrying a `meta.security` confidentiality label.
    pub async fn labelled(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.labelled().await))
            .await
    }

    /// `(type, id)` of the resources whose policy cites the stored Restriction `consent`
    /// (`Consent/id`), as this transaction sees them.
    pub async fn citing(&mut self, consent: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.guarded(async |inner| dispatch!(Inner, inner, t => t.citing(consent).await))
            .await
    }

    /// Records that `networks` (distinct `Organization/id` references) were touched at `at`
    /// by this transaction's writes (see [`crate::Store::network_activity`]).
    pub async fn touch_networks(
        &mut self,
        networks: &[&str],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        if networks.is_empty() {
            return Ok(());
        }
        self.guarded(
            async |inner| dispatch!(Inner, inner, t => t.touch_networks(networks, at).await),
        )
        .await
    }

    /// Makes every operation of the transaction visible at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        if self.aborted {
            // Dropping the backend transaction rolls it back.
            return Err(StoreError::TransactionAborted);
        }
        dispatch!(Inner, self.inner, t => t.commit().await)
    }

    /// Discards every operation of the transaction. Dropping the `StoreTx` does the same
    /// (sqlx queues the `ROLLBACK` on the connection before it is reused).
    pub async fn rollback(self) -> Result<(), StoreError> {
        dispatch!(Inner, self.inner, t => t.rollback().await)
    }
}

/// A stable 64-bit FNV-1a hash of `(tenant, key)`: the same in every fhirdir process and
/// release (std's `DefaultHasher` promises neither), as processes sharing a database must
/// agree on it.
fn condition_lock_key(tenant: &TenantName, key: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    // The 0 byte separates the parts (tenant names never contain one).
    for b in tenant.as_str().bytes().chain([0]).chain(key.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

#[cfg(test)]
mod lock_key_tests {
    use super::*;

    #[test]
    fn condition_lock_key_is_stable_and_separates_tenant_from_key() {
        let t = |s: &str| TenantName::parse(s).unwrap();
        // A fixed value: the key must not change between releases (processes share locks).
        assert_eq!(
            condition_lock_key(&t("default"), "Organization?identifier=x"),
            8146062526475129824
        );
        assert_ne!(
            condition_lock_key(&t("a"), "bc"),
            condition_lock_key(&t("ab"), "c")
        );
    }
}

pub(crate) mod plan;
pub(crate) mod rules;
