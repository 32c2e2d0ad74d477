//! Multi-operation transactions: [`Store::begin`] hands out a [`StoreTx`] in which reads see
//! the transaction's own writes and every write, delete and batch commits together or not at
//! all.
//!
//! [`Store::write`] and [`Store::delete`] are `begin` + one operation + `commit`, so there is
//! one implementation of the write rules (preconditions, version and timestamp assignment,
//! compare-and-swap with retry) per backend, in `sqlite/tx.rs` and `postgres/tx.rs`.
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

use crate::{
    postgres, sqlite, DeleteOutcome, Precondition, SearchPage, Store, StoreError, TenantName,
    VersionRecord, WriteOutcome, WriteRequest,
};

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
    Sqlite(sqlite::tx::SqliteTx),
    Postgres(postgres::tx::PgTx),
}

impl Inner {
    fn set_busy(&mut self, busy: bool) {
        match self {
            Inner::Sqlite(t) => t.set_busy(busy),
            Inner::Postgres(t) => t.set_busy(busy),
        }
    }
}

macro_rules! dispatch_tx {
    ($self:ident, $t:ident => $e:expr) => {{
        if $self.aborted {
            return Err(StoreError::TransactionAborted);
        }
        // Dropped before this operation returns, the transaction's connection is closed
        // rather than reused (held.rs).
        $self.inner.set_busy(true);
        let result = match &mut $self.inner {
            Inner::Sqlite($t) => $e,
            Inner::Postgres($t) => $e,
        };
        $self.inner.set_busy(false);
        if result.is_err() {
            $self.aborted = true;
        }
        result
    }};
}

impl Store {
    /// Opens a transaction on `tenant`'s data. Answers [`StoreError::UnknownTenant`] when the
    /// tenant does not exist; the tenant cannot be deleted while the transaction is open.
    pub async fn begin(&self, tenant: &TenantName) -> Result<StoreTx, StoreError> {
        let inner = match self {
            Store::Sqlite(s) => Inner::Sqlite(s.begin(tenant).await?),
            Store::Postgres(s) => Inner::Postgres(s.begin(tenant).await?),
        };
        Ok(StoreTx {
            inner,
            aborted: false,
        })
    }
}

impl StoreTx {
    /// The tenant this transaction works on.
    pub fn tenant(&self) -> &TenantName {
        match &self.inner {
            Inner::Sqlite(t) => t.tenant(),
            Inner::Postgres(t) => t.tenant(),
        }
    }

    /// The current version of a resource as this transaction sees it (its own writes
    /// included); like [`Store::read`].
    pub async fn read(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        dispatch_tx!(self, t => t.read(resource_type, id).await)
    }

    /// Creates or updates one resource; exactly the rules of [`Store::write`] (which is this
    /// inside its own transaction).
    pub async fn write(&mut self, req: WriteRequest) -> Result<WriteOutcome, StoreError> {
        dispatch_tx!(self, t => t.write(req).await)
    }

    /// Like [`StoreTx::write`], and saves `index` as the resource's search index rows
    /// (replacing the previous version's) in the same transaction.
    pub async fn write_indexed(
        &mut self,
        req: WriteRequest,
        index: &[search::IndexEntry],
    ) -> Result<WriteOutcome, StoreError> {
        dispatch_tx!(self, t => t.write_indexed(req, index).await)
    }

    /// Deletes (tombstones) one resource; exactly the rules of [`Store::delete`].
    pub async fn delete(
        &mut self,
        resource_type: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<DeleteOutcome, StoreError> {
        dispatch_tx!(self, t => t.delete(resource_type, id, precondition).await)
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
        dispatch_tx!(self, t => t.write_batch(writes, on_unchanged).await)
    }

    /// The first page of `query`'s results as this transaction sees them (its own writes
    /// included); otherwise like [`Store::search`]. Conditional writes search here, after
    /// [`StoreTx::lock_condition`], so the check and the write are one transaction.
    pub async fn search(
        &mut self,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
    ) -> Result<SearchPage, StoreError> {
        dispatch_tx!(self, t => t.search(query, registry).await)
    }

    /// Serialises, until this transaction ends, the transactions that take the same `key`
    /// in the same tenant (see the module documentation). `key` names a condition, e.g.
    /// `Organization?identifier=...` with the criteria in a canonical order; different keys
    /// may rarely share a lock (it is a 64-bit hash), which costs waiting, never correctness.
    /// Take several keys in sorted order: two transactions that take the same two keys in
    /// opposite orders can deadlock, and Postgres then aborts one of them.
    pub async fn lock_condition(&mut self, key: &str) -> Result<(), StoreError> {
        let hash = condition_lock_key(self.tenant(), key);
        dispatch_tx!(self, t => t.lock_condition(hash).await)
    }

    /// Makes every operation of the transaction visible at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        if self.aborted {
            // Dropping the backend transaction rolls it back.
            return Err(StoreError::TransactionAborted);
        }
        match self.inner {
            Inner::Sqlite(t) => t.commit().await,
            Inner::Postgres(t) => t.commit().await,
        }
    }

    /// Discards every operation of the transaction. Dropping the `StoreTx` does the same
    /// (sqlx queues the `ROLLBACK` on the connection before it is reused).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            Inner::Sqlite(t) => t.rollback().await,
            Inner::Postgres(t) => t.rollback().await,
        }
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

/// Backend-neutral batch planning, shared by the two backends' `write_batch`.
pub(crate) mod plan {
    use std::collections::{HashMap, HashSet};

    use crate::common::{self, Current};
    use crate::{OnUnchanged, Precondition, StoreError, VersionRecord, WriteKind, WriteRequest};

    /// `(resource type, id)`.
    pub(crate) type Key = (String, String);

    /// The current row of a resource, as the batch needs it.
    #[derive(Debug, Clone)]
    pub(crate) struct CurrentRow {
        pub current: Current,
        pub method: String,
        /// Fetched only for [`OnUnchanged::KeepCurrent`].
        pub content: Option<String>,
    }

    /// What the batch does for one write.
    #[derive(Debug)]
    pub(crate) enum Planned {
        /// Nothing to write: the answer is the current version.
        Unchanged(VersionRecord),
        /// A new version replacing `expected` (`None`: no row yet).
        Write {
            expected: Option<Current>,
            new: common::PreparedWrite,
        },
    }

    /// For a write, whether the resource may have index rows to replace (a live current
    /// version); `None` when nothing is written.
    pub(crate) fn replaces_rows(planned: &Planned) -> Option<bool> {
        match planned {
            Planned::Write { expected, .. } => Some(expected.is_some_and(|c| !c.deleted)),
            Planned::Unchanged(_) => None,
        }
    }

    /// Splits `len` writes into runs of at most `max` in which no resource appears twice, so
    /// each run can be planned from one read of the current rows and written with one
    /// multi-row upsert.
    pub(crate) fn runs(requests: &[&WriteRequest], max: usize) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for (i, r) in requests.iter().enumerate() {
            let key = (r.resource_type.as_str(), r.id.as_str());
            if i - start >= max || seen.contains(&key) {
                out.push(start..i);
                start = i;
                seen.clear();
            }
            seen.insert(key);
        }
        if start < requests.len() {
            out.push(start..requests.len());
        }
        out
    }

    /// Plans one run (no resource twice) against the current rows read for it.
    pub(crate) fn plan_run(
        requests: &[&WriteRequest],
        currents: &HashMap<Key, CurrentRow>,
        on_unchanged: OnUnchanged,
    ) -> Result<Vec<Planned>, StoreError> {
        requests
            .iter()
            .map(|req| {
                let row = currents.get(&(req.resource_type.clone(), req.id.clone()));
                if on_unchanged == OnUnchanged::KeepCurrent
                    && req.precondition == Precondition::None
                {
                    if let Some(record) = row.and_then(|row| unchanged(req, row)) {
                        return Ok(Planned::Unchanged(record));
                    }
                }
                let expected = row.map(|r| r.current);
                let new = common::prepare_write(expected.as_ref(), req)?;
                Ok(Planned::Write { expected, new })
            })
            .collect()
    }

    /// The current version when `req` would store the same content, else `None`.
    fn unchanged(req: &WriteRequest, row: &CurrentRow) -> Option<VersionRecord> {
        if row.current.deleted {
            return None;
        }
        let stored = row.content.as_deref()?;
        let last_updated = common::from_micros(row.current.last_updated).ok()?;
        // Stamp the candidate exactly as the current version was stamped: then the only
        // differences left are real ones.
        let mut candidate = req.resource.clone();
        fhir::stamp_meta(&mut candidate, &req.id, row.current.version, last_updated);
        let stored_value: serde_json::Value = serde_json::from_str(stored).ok()?;
        if stored_value != serde_json::Value::Object(candidate) {
            return None;
        }
        common::record(
            req.resource_type.clone(),
            req.id.clone(),
            row.current.version,
            false,
            row.current.last_updated,
            &row.method,
            Some(stored.to_owned()),
        )
        .ok()
    }

    /// The outcome of a planned write once saved.
    pub(crate) fn outcome(
        req: WriteRequest,
        new: common::PreparedWrite,
    ) -> Result<crate::WriteOutcome, StoreError> {
        Ok(crate::WriteOutcome {
            kind: new.kind,
            record: VersionRecord {
                resource_type: req.resource_type,
                id: req.id,
                version: new.version,
                last_updated: common::from_micros(new.last_updated)?,
                method: req.method,
                deleted: false,
                body: Some(new.body),
            },
        })
    }

    /// The answer for an unchanged write.
    pub(crate) fn unchanged_outcome(record: VersionRecord) -> crate::BatchOutcome {
        crate::BatchOutcome {
            outcome: crate::WriteOutcome {
                kind: WriteKind::Updated,
                record,
            },
            unchanged: true,
        }
    }

    /// The answer for a written version of a batch.
    pub(crate) fn written(outcome: crate::WriteOutcome) -> crate::BatchOutcome {
        crate::BatchOutcome {
            outcome,
            unchanged: false,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::Method;

        fn req(id: &str) -> WriteRequest {
            let mut resource = serde_json::Map::new();
            resource.insert("resourceType".into(), "Practitioner".into());
            WriteRequest {
                resource_type: "Practitioner".into(),
                id: id.into(),
                resource,
                precondition: Precondition::None,
                method: Method::Put,
            }
        }

        #[test]
        fn runs_split_on_repeats_and_size() {
            let reqs = [req("a"), req("b"), req("a"), req("c"), req("d")];
            let refs: Vec<&WriteRequest> = reqs.iter().collect();
            assert_eq!(runs(&refs, 10), vec![0..2, 2..5]);
            assert_eq!(runs(&refs, 2), vec![0..2, 2..4, 4..5]);
            assert!(runs(&[], 10).is_empty());
        }

        #[test]
        fn unchanged_ignores_version_and_last_updated_only() {
            let mut r = req("a");
            r.resource.insert("active".into(), true.into());
            let stored = serde_json::json!({"active": true, "resourceType": "Practitioner",
                "id": "a", "meta": {"versionId": "4", "lastUpdated": "2020-01-01T00:00:00.000000Z"}});
            let row = |content: &serde_json::Value| CurrentRow {
                current: Current {
                    version: 4,
                    deleted: false,
                    last_updated: 1_577_836_800_000_000,
                },
                method: "PUT".into(),
                content: Some(content.to_string()),
            };
            let same = unchanged(&r, &row(&stored)).map(|rec| rec.version);
            assert_eq!(same, Some(4), "key order and meta stamps do not matter");
            let mut other = stored.clone();
            other["active"] = false.into();
            assert!(unchanged(&r, &row(&other)).is_none());
            let mut tagged = stored.clone();
            tagged["meta"]["tag"] = serde_json::json!([{"code": "x"}]);
            assert!(unchanged(&r, &row(&tagged)).is_none(), "other meta counts");
            let mut deleted = row(&stored);
            deleted.current.deleted = true;
            assert!(unchanged(&r, &deleted).is_none());
        }
    }
}
