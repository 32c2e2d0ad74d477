//! Backend-neutral write and history rules: preconditions, version and timestamp
//! assignment, row -> [`VersionRecord`] decoding and the history `WHERE` clause.
//!
//! Both backends call these so that SQLite and Postgres cannot drift apart on semantics; the
//! backend modules own only their SQL text and transaction handling.

use chrono::{DateTime, Utc};

use crate::restricted::Term;
use crate::search::Sql;
use crate::{
    HistoryQuery, HistoryScope, Method, Precondition, StoreError, VersionRecord, WriteKind,
    WriteRequest,
};

/// How often a write re-reads and retries after losing a compare-and-swap race. Every lost
/// race means another writer committed, so this bound is only reached under pathological
/// contention on a single resource; it keeps a write from spinning forever.
pub(crate) const MAX_WRITE_ATTEMPTS: usize = 1000;

/// The tables holding a tenant's data, children first, `tenants` last. `delete_tenant` empties
/// each of them; a migration that adds a tenant-keyed table must add it here.
pub(crate) const TENANT_DATA_TABLES: &[&str] = &[
    "search_string",
    "search_token",
    "search_identifier_type",
    "search_reference",
    "search_date",
    "search_number",
    "search_quantity",
    "search_uri",
    "search_geo",
    "restricted_params",
    "restriction_provisions",
    "restriction_cites",
    "restrictions",
    "tenant_restriction_settings",
    "network_activity",
    "resource_versions",
    "resources",
    "jobs",
    "indexed_search_params",
    "tenant_access",
    "auth_signing_keys",
    "auth_clients",
    "udap_communities",
    "auth_jti",
    "auth_events",
    "change_events",
    "tenant_event_settings",
    "subscription_events",
    "subscription_state",
    "tenant_upstreams",
    "upstream_feeds",
    "harvest_sources",
    "harvested",
    "verification_due",
    "tenant_settings",
];

/// `read` columns (version, deleted, last_updated, method, content, policy) from
/// `tenants LEFT JOIN resources`: all NULL when the tenant exists but the id does not.
pub(crate) type ReadRow = (
    Option<i64>,
    Option<bool>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// `vread` columns (deleted, last_updated, method, content, policy) from
/// `tenants LEFT JOIN resource_versions`.
pub(crate) type VreadRow = (
    Option<bool>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// History columns: seq, res_type, id, version, deleted, last_updated, method, content, policy.
pub(crate) type HistoryRow = (
    i64,
    String,
    String,
    i64,
    bool,
    i64,
    String,
    Option<String>,
    Option<String>,
);

/// Turns the result of the `read` query into the API's answer: no row means no tenant; a
/// resource the scope's viewer may not see is answered like one that does not exist.
pub(crate) fn read_result(
    row: Option<ReadRow>,
    scope: crate::Scope<'_>,
    resource_type: &str,
    id: &str,
) -> Result<Option<VersionRecord>, StoreError> {
    match row {
        None => Err(StoreError::UnknownTenant(scope.tenant().to_string())),
        Some((Some(version), Some(deleted), Some(last_updated), Some(method), content, policy)) => {
            let record = record(
                resource_type.to_owned(),
                id.to_owned(),
                version,
                deleted,
                last_updated,
                &method,
                content,
            )?;
            crate::restricted::apply(record, policy.as_deref(), scope.viewer())
        }
        Some(_) => Ok(None),
    }
}

/// Turns the result of the `vread` query into the API's answer, like [`read_result`].
pub(crate) fn vread_result(
    row: Option<VreadRow>,
    scope: crate::Scope<'_>,
    resource_type: &str,
    id: &str,
    version: i64,
) -> Result<Option<VersionRecord>, StoreError> {
    match row {
        None => Err(StoreError::UnknownTenant(scope.tenant().to_string())),
        Some((Some(deleted), Some(last_updated), Some(method), content, policy)) => {
            let record = record(
                resource_type.to_owned(),
                id.to_owned(),
                version,
                deleted,
                last_updated,
                &method,
                content,
            )?;
            crate::restricted::apply(record, policy.as_deref(), scope.viewer())
        }
        Some(_) => Ok(None),
    }
}

/// Decodes history rows into `(seq, record)` pairs for [`finish_page`], each as `viewer` may
/// see it (the history query leaves out the versions of resources hidden from it; their
/// policy redacts the others).
pub(crate) fn history_records(
    rows: Vec<HistoryRow>,
    viewer: &restrict::Viewer<'_>,
) -> Result<Vec<(i64, VersionRecord)>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for (seq, t, id, version, deleted, lu, method, content, policy) in rows {
        let record = record(t, id, version, deleted, lu, &method, content)?;
        if let Some(record) = crate::restricted::apply(record, policy.as_deref(), viewer)? {
            out.push((seq, record));
        }
    }
    Ok(out)
}

/// The state of the current row that a write or delete decides on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Current {
    pub version: i64,
    pub deleted: bool,
    /// Epoch microseconds.
    pub last_updated: i64,
}

/// A version ready to be saved: numbers assigned, body stamped and serialised.
#[derive(Debug)]
pub(crate) struct PreparedWrite {
    pub version: i64,
    /// Epoch microseconds.
    pub last_updated: i64,
    pub kind: WriteKind,
    pub body: String,
}

/// Checks `precondition` against the current row.
///
/// `IfMatch(n)` needs a live row at version `n`; `MustNotExist` needs no row at all (a
/// tombstone still holds the id, so its history stays one resource).
pub(crate) fn check_precondition(
    current: Option<&Current>,
    precondition: Precondition,
    resource_type: &str,
    id: &str,
) -> Result<(), StoreError> {
    let conflict = |expected: String| StoreError::VersionConflict {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
        expected,
        current: describe(current),
    };
    match precondition {
        Precondition::None => Ok(()),
        Precondition::IfMatch(n) => match current {
            Some(c) if !c.deleted && c.version == n => Ok(()),
            _ => Err(conflict(n.to_string())),
        },
        Precondition::MustNotExist => match current {
            None => Ok(()),
            Some(_) => Err(conflict("no resource".to_owned())),
        },
    }
}

/// The error for a conditional write whose compare-and-swap found the row changed since it
/// was read: another writer committed in between, so the precondition no longer holds.
pub(crate) fn lost_race(precondition: Precondition, resource_type: &str, id: &str) -> StoreError {
    StoreError::VersionConflict {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
        expected: match precondition {
            Precondition::IfMatch(n) => n.to_string(),
            Precondition::MustNotExist => "no resource".to_owned(),
            Precondition::None => "any".to_owned(),
        },
        current: "changed by a concurrent write".to_owned(),
    }
}

fn describe(current: Option<&Current>) -> String {
    match current {
        None => "no resource".to_owned(),
        Some(c) if c.deleted => format!("{} (deleted)", c.version),
        Some(c) => c.version.to_string(),
    }
}

/// Checks the precondition, then numbers, timestamps, stamps and serialises the new version.
pub(crate) fn prepare_write(
    current: Option<&Current>,
    req: &WriteRequest,
) -> Result<PreparedWrite, StoreError> {
    check_precondition(current, req.precondition, &req.resource_type, &req.id)?;
    let version = next_version(current);
    let last_updated = next_last_updated(current);
    let kind = match current {
        Some(c) if !c.deleted => WriteKind::Updated,
        _ => WriteKind::Created,
    };
    let mut resource = req.resource.clone();
    fhir::stamp_meta(&mut resource, &req.id, version, from_micros(last_updated)?);
    let body = serde_json::to_string(&resource)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialise resource: {e}")))?;
    Ok(PreparedWrite {
        version,
        last_updated,
        kind,
        body,
    })
}

/// The version number after `current` (1 for a new resource).
pub(crate) fn next_version(current: Option<&Current>) -> i64 {
    current.map_or(1, |c| c.version.saturating_add(1))
}

/// Now, truncated to microseconds, but never before the previous version: lastUpdated stays
/// monotonic per resource even if the wall clock steps back, so `_at` and `_since` agree with
/// version order.
pub(crate) fn next_last_updated(current: Option<&Current>) -> i64 {
    let now = Utc::now().timestamp_micros();
    current.map_or(now, |c| now.max(c.last_updated))
}

/// Maps a failed `resource_versions` insert. A duplicate key there can only mean that
/// `resources` and `resource_versions` disagree (the compare-and-swap just succeeded on the
/// current row), so it is reported as corruption rather than as a generic database error.
pub(crate) fn version_insert_error(
    e: sqlx::Error,
    resource_type: &str,
    id: &str,
    version: i64,
) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Corrupt(format!(
            "{resource_type}/{id}/_history/{version} already exists but is not the current version"
        )),
        _ => StoreError::Database(e),
    }
}

/// [`version_insert_error`] for the multi-row history insert of a batch.
pub(crate) fn batch_version_insert_error(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Corrupt(
            "a batch version already exists but is not the current version".to_owned(),
        ),
        _ => StoreError::Database(e),
    }
}

/// Epoch microseconds -> instant; out-of-range values mean a corrupt row, not a panic.
pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} is out of range")))
}

/// Builds a [`VersionRecord`] from stored columns, rejecting rows that break the invariants.
pub(crate) fn record(
    resource_type: String,
    id: String,
    version: i64,
    deleted: bool,
    last_updated: i64,
    method: &str,
    content: Option<String>,
) -> Result<VersionRecord, StoreError> {
    let method = Method::parse(method).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{resource_type}/{id}/_history/{version}: method {method:?}"
        ))
    })?;
    if !deleted && content.is_none() {
        return Err(StoreError::Corrupt(format!(
            "{resource_type}/{id}/_history/{version}: live version without content"
        )));
    }
    Ok(VersionRecord {
        resource_type,
        id,
        version,
        last_updated: from_micros(last_updated)?,
        method,
        deleted,
        // A tombstone never carries a body, whatever the row says.
        body: if deleted { None } else { content },
    })
}

/// Appends ` WHERE ...` selecting the versions `query` asks for in `tenant` (alias `v`).
///
/// `with_cursor` adds the keyset condition `seq < before_seq`; the total count leaves it out.
/// Every value is bound, never formatted into the SQL text.
pub(crate) fn push_history_where(
    sql: &mut Sql,
    tenant: &str,
    seer: &restrict::Seer,
    query: &HistoryQuery,
    with_cursor: bool,
) {
    sql.push(" WHERE v.tenant = ").text(tenant);
    // Every version of a resource hidden now is hidden, those written before its
    // restriction included.
    let (ty, id) = (Term::Raw("v.res_type"), Term::Raw("v.id"));
    let sight = crate::restricted::Sight::new(seer.clone(), true);
    crate::restricted::visible_terms(sql, &sight, tenant, ty, id, None);
    match &query.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => {
            sql.push(" AND v.res_type = ").text(t.as_str());
        }
        HistoryScope::Instance(t, id) => {
            sql.push(" AND v.res_type = ").text(t.as_str());
            sql.push(" AND v.id = ").text(id.as_str());
        }
    }
    if let Some(since) = query.since {
        sql.push(" AND v.last_updated >= ")
            .int(since.timestamp_micros());
    }
    if let Some(at) = query.at {
        // Current at some point of [start, end): written before the end, and not superseded
        // by a later version written by the start (lastUpdated is monotonic per resource,
        // so version order works).
        sql.push(" AND v.last_updated < ")
            .int(at.end.timestamp_micros());
        sql.push(
            " AND NOT EXISTS (SELECT 1 FROM resource_versions w \
             WHERE w.tenant = v.tenant AND w.res_type = v.res_type AND w.id = v.id \
             AND w.version > v.version AND w.last_updated <= ",
        )
        .int(at.start.timestamp_micros())
        .push(")");
    }
    if with_cursor {
        if let Some(before) = query.before_seq {
            sql.push(" AND v.seq < ").int(before);
        }
    }
}

/// The SQL `LIMIT` for a page: one row more than asked, to learn whether a next page exists.
pub(crate) fn page_limit(count: u32) -> i64 {
    i64::from(count) + 1
}

/// Cuts the extra look-ahead row off a page and computes the cursor of the next page.
pub(crate) fn finish_page(
    mut rows: Vec<(i64, VersionRecord)>,
    count: u32,
    total: i64,
) -> crate::HistoryPage {
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let has_more = rows.len() > count;
    rows.truncate(count);
    let next_before_seq = if has_more {
        rows.last().map(|(seq, _)| *seq)
    } else {
        None
    };
    crate::HistoryPage {
        entries: rows.into_iter().map(|(_, r)| r).collect(),
        total: u64::try_from(total).unwrap_or(0),
        next_before_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(version: i64, deleted: bool) -> Current {
        Current {
            version,
            deleted,
            last_updated: 0,
        }
    }

    #[test]
    fn if_match_needs_a_live_row_at_that_version() {
        let ok = |c: Option<Current>, n| {
            check_precondition(c.as_ref(), Precondition::IfMatch(n), "Patient", "a").is_ok()
        };
        assert!(ok(Some(cur(3, false)), 3));
        assert!(!ok(Some(cur(3, false)), 2));
        assert!(!ok(Some(cur(3, true)), 3));
        assert!(!ok(None, 1));
    }

    #[test]
    fn must_not_exist_rejects_tombstones_too() {
        let ok = |c: Option<Current>| {
            check_precondition(c.as_ref(), Precondition::MustNotExist, "Patient", "a").is_ok()
        };
        assert!(ok(None));
        assert!(!ok(Some(cur(1, false))));
        assert!(!ok(Some(cur(2, true))));
    }

    #[test]
    fn last_updated_never_goes_back() {
        let future = Utc::now().timestamp_micros() + 60_000_000;
        let c = Current {
            version: 1,
            deleted: false,
            last_updated: future,
        };
        assert_eq!(next_last_updated(Some(&c)), future);
        assert!(next_last_updated(None) < future);
    }

    #[test]
    fn record_rejects_bad_rows_instead_of_panicking() {
        let r = |deleted, micros, method: &str, content: Option<&str>| {
            record(
                "Patient".into(),
                "a".into(),
                1,
                deleted,
                micros,
                method,
                content.map(str::to_owned),
            )
        };
        assert!(r(false, 0, "PUT", Some("{}")).is_ok());
        assert!(matches!(
            r(false, 0, "GET", Some("{}")),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            r(false, 0, "PUT", None),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            r(false, i64::MAX, "PUT", Some("{}")),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(r(true, 0, "DELETE", Some("{}")).unwrap().body, None);
    }
}
