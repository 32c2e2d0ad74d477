//! What a bulk export reads (FHIR Bulk Data 2.0 `$export`): a tenant's resources of one type,
//! a page at a time in id order from a key the job remembers, so a job resumes where it
//! stopped and never holds a transaction (or memory) for more than one page.
//!
//! - [`Store::export_page`]: live resources, as the job's viewer may see them: restricted
//!   content goes through [`crate::restricted::apply`], the rule every read and search
//!   applies (hidden resources are left out, restricted elements removed).
//! - [`Store::deleted_page`]: the ids of tombstones, for a `_since` export's `deleted` files.
//! - [`Store::types_held`]: which types a tenant has rows of, so an export of "every type"
//!   walks only those.
//! - [`Store::change_mark`] and [`Store::late_changes`] (migration 0018): an export's
//!   `transactionTime`, and the writes a `_since` filter on `lastUpdated` alone would miss.
//!
//! A page reports the last key it *scanned*, which the job resumes after: a page whose rows
//! the viewer may not see still moves the job forward.

use restrict::Seer;

use crate::search::Sql;
use crate::{common, Method, Scope, Store, StoreError, TenantName, VersionRecord};

/// Rows changed in `(since, until]` (epoch microseconds; `None`: unbounded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportWindow {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// One page of an export's walk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportPage {
    /// The resources the viewer may see, as it may see them: `(id, JSON text)`.
    pub rows: Vec<(String, String)>,
    /// The last id the page scanned (`None`: the walk of this type is over).
    pub last: Option<String>,
}

/// ` FROM resources r WHERE r.tenant = ? AND r.res_type = ? AND [NOT] r.deleted
/// [AND r.id > ?] [AND r.last_updated ...]`.
fn walk(
    sql: &mut Sql,
    tenant: &str,
    rtype: &str,
    deleted: bool,
    after: Option<&str>,
    w: ExportWindow,
) {
    sql.push(" FROM resources r WHERE r.tenant = ")
        .text(tenant)
        .push(" AND r.res_type = ")
        .text(rtype)
        .push(if deleted {
            " AND r.deleted"
        } else {
            " AND NOT r.deleted"
        });
    if let Some(after) = after {
        sql.push(" AND r.id > ").text(after);
    }
    if let Some(since) = w.since {
        sql.push(" AND r.last_updated > ").int(since);
    }
    if let Some(until) = w.until {
        sql.push(" AND r.last_updated <= ").int(until);
    }
}

/// How long before a `_since` instant [`Store::late_changes`] looks for writes still in
/// flight at it: far longer than any write transaction runs.
pub const LATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// One page of an export's walk read whole ([`Store::export_chunk`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportChunk {
    /// The bodies of the page's unrestricted resources, one per line (no newline after the
    /// last), in no particular order.
    pub text: String,
    /// How many bodies `text` holds.
    pub count: u64,
    /// The page's restricted resources the viewer may see, as it may see them.
    pub rows: Vec<(String, String)>,
    /// The last id the page scanned (`None`: the walk of this type is over).
    pub last: Option<String>,
}

/// `(id, last_updated, content, policy)`.
type ExportRow = (String, i64, Option<String>, Option<String>);

/// The rows `scope`'s viewer may see, as it may see them: `(id, body)`, the body redacted
/// where some elements are hidden, `None` for a tombstone. The shared rule works on version
/// records; only restricted rows pay for one.
fn judged(
    rows: Vec<ExportRow>,
    scope: Scope<'_>,
    rtype: &str,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for (id, last_updated, body, policy) in rows {
        if policy.is_none() {
            out.push((id, body));
            continue;
        }
        let record = VersionRecord {
            resource_type: rtype.to_owned(),
            id,
            version: 0,
            last_updated: common::from_micros(last_updated)?,
            method: if body.is_some() {
                Method::Put
            } else {
                Method::Delete
            },
            deleted: body.is_none(),
            body,
        };
        if let Some(seen) = crate::restricted::apply(record, policy.as_deref(), scope.viewer())? {
            out.push((seen.id, seen.body));
        }
    }
    Ok(out)
}

/// [`judged`] live rows: `(id, JSON text)`.
fn visible(
    rows: Vec<ExportRow>,
    scope: Scope<'_>,
    rtype: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(judged(rows, scope, rtype)?
        .into_iter()
        .filter_map(|(id, body)| body.map(|b| (id, b)))
        .collect())
}

/// `SELECT` of the [`ExportRow`]s of `rtype` in `window` after `after`, live or tombstones
/// (`deleted`), with the policy their resource has (kept after a delete, as for its history):
/// the one row shape every export query here reads.
fn export_rows(
    scope: Scope<'_>,
    rtype: &str,
    deleted: bool,
    after: Option<&str>,
    window: ExportWindow,
) -> Sql {
    let seer = Seer::of(scope.viewer());
    let mut sql = Sql::new();
    sql.push("SELECT r.id, r.last_updated, ");
    if deleted {
        sql.push("NULL");
    } else {
        sql.content_col("r.content");
    }
    crate::restricted::policy_column(&mut sql, &seer, |sql, c| {
        sql.push("r.").push(c);
    });
    walk(
        &mut sql,
        scope.tenant().as_str(),
        rtype,
        deleted,
        after,
        window,
    );
    sql
}

/// The ids of tombstone rows whose resource `scope`'s viewer may see (a deleted resource the
/// viewer could not see is not announced to it either).
fn unhidden(
    rows: Vec<ExportRow>,
    scope: Scope<'_>,
    rtype: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(judged(rows, scope, rtype)?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

impl Store {
    /// The one row of an aggregate `sql`, on the reader pool.
    async fn read_row<T: crate::db::FromCols>(&self, sql: &Sql) -> Result<T, StoreError> {
        let row = self.read_optional(sql).await?;
        Ok(row.ok_or(sqlx::Error::RowNotFound)?)
    }

    /// Up to `limit` live resources of `rtype` after id `after` in `window`, as `scope`'s
    /// viewer may see them (see the module documentation).
    pub async fn export_page(
        &self,
        scope: Scope<'_>,
        rtype: &str,
        after: Option<&str>,
        window: ExportWindow,
        limit: u32,
    ) -> Result<ExportPage, StoreError> {
        let mut sql = export_rows(scope, rtype, false, after, window);
        sql.push(" ORDER BY r.id LIMIT ").int(i64::from(limit));
        let rows: Vec<ExportRow> = self.read_all(&sql).await?;
        let last = if rows.len() < limit as usize {
            None
        } else {
            rows.last().map(|r| r.0.clone())
        };
        Ok(ExportPage {
            rows: visible(rows, scope, rtype)?,
            last,
        })
    }

    /// [`Store::export_page`] for a walk that needs no row apart (no filter, no subset): the
    /// page's unrestricted bodies come back joined by the database, one value for the whole
    /// page, which spares the per-row cost of the driver (most of an export's time on
    /// SQLite); restricted ones are read and judged row by row as everywhere else.
    pub async fn export_chunk(
        &self,
        scope: Scope<'_>,
        rtype: &str,
        after: Option<&str>,
        window: ExportWindow,
        limit: u32,
    ) -> Result<ExportChunk, StoreError> {
        let tenant = scope.tenant().as_str();
        let seer = Seer::of(scope.viewer());
        // The page's bounds: its size and its last key, from the primary key alone.
        let mut bounds = Sql::new();
        bounds.push("SELECT COUNT(*), MAX(p.id) FROM (SELECT r.id");
        walk(&mut bounds, tenant, rtype, false, after, window);
        bounds
            .push(" ORDER BY r.id LIMIT ")
            .int(i64::from(limit))
            .push(") p");
        let (scanned, max): (i64, Option<String>) = self.read_row(&bounds).await?;
        let Some(max) = max else {
            return Ok(ExportChunk::default());
        };
        let in_page = |sql: &mut Sql| {
            walk(sql, tenant, rtype, false, after, window);
            sql.push(" AND r.id <= ").text(max.as_str());
        };
        let restricted = " EXISTS (SELECT 1 FROM restrictions rh WHERE rh.tenant = r.tenant \
                          AND rh.res_type = r.res_type AND rh.id = r.id)";
        let mut joined = Sql::new();
        joined.push("SELECT COUNT(*), ");
        // No ORDER BY in the aggregate: the lines' order within a page does not matter (the
        // walk resumes by key), and sorting a page of bodies would cost more than reading it.
        let mut sqlite = Sql::new();
        sqlite.push("group_concat(r.content, char(10))");
        let mut postgres = Sql::new();
        postgres.push("string_agg(r.content::text, chr(10))");
        joined.dialect(sqlite, postgres);
        in_page(&mut joined);
        // Restrictions matter only to a viewer who may be refused some, in a type that has any.
        let judged = seer != Seer::Everything && {
            let mut any = Sql::new();
            any.push("SELECT EXISTS (SELECT 1 FROM restrictions WHERE tenant = ")
                .text(tenant)
                .push(" AND res_type = ")
                .text(rtype)
                .push(")");
            let (any,): (bool,) = self.read_row(&any).await?;
            any
        };
        if judged {
            joined.push(" AND NOT").push(restricted);
        }
        let (count, text): (i64, Option<String>) = self.read_row(&joined).await?;
        let mut rows = Vec::new();
        if judged {
            let mut one_by_one = export_rows(scope, rtype, false, after, window);
            one_by_one.push(" AND r.id <= ").text(max.as_str());
            one_by_one
                .push(" AND")
                .push(restricted)
                .push(" ORDER BY r.id");
            let found: Vec<ExportRow> = self.read_all(&one_by_one).await?;
            rows = visible(found, scope, rtype)?;
        }
        Ok(ExportChunk {
            text: text.unwrap_or_default(),
            count: u64::try_from(count).unwrap_or(0),
            rows,
            last: (scanned >= i64::from(limit)).then_some(max),
        })
    }

    /// The live resources of `rtype` among `ids` in `window`, as `scope`'s viewer may see
    /// them, in id order (a Group export's members and their compartments).
    pub async fn export_by_ids(
        &self,
        scope: Scope<'_>,
        rtype: &str,
        ids: &[&str],
        window: ExportWindow,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut sql = export_rows(scope, rtype, false, None, window);
            sql.push(" AND r.id IN ")
                .text_list(chunk.iter().copied())
                .push(" ORDER BY r.id");
            let rows: Vec<ExportRow> = self.read_all(&sql).await?;
            out.extend(visible(rows, scope, rtype)?);
        }
        Ok(out)
    }

    /// Up to `limit` ids of deleted resources of `rtype` after `after` in `window`.
    /// `None` as the last key: the walk is over.
    pub async fn deleted_page(
        &self,
        scope: Scope<'_>,
        rtype: &str,
        after: Option<&str>,
        window: ExportWindow,
        limit: u32,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let mut sql = export_rows(scope, rtype, true, after, window);
        sql.push(" ORDER BY r.id LIMIT ").int(i64::from(limit));
        let rows: Vec<ExportRow> = self.read_all(&sql).await?;
        let last = if rows.len() < limit as usize {
            None
        } else {
            rows.last().map(|r| r.0.clone())
        };
        Ok((unhidden(rows, scope, rtype)?, last))
    }

    /// Takes a mark in `tenant`'s changes: a time (epoch microseconds) such that every change
    /// committed so far is at or before it and every later one will be after it. It is taken
    /// under the tenant's change counter lock, which a write holds from numbering its changes
    /// to its commit, so it waits for such a write (migration 0018).
    pub async fn change_mark(&self, tenant: &TenantName) -> Result<i64, StoreError> {
        let mut sql = Sql::new();
        sql.push("INSERT INTO change_counters (tenant, last, noted) VALUES (")
            .text(tenant.as_str())
            .push(", 0, ")
            .int(chrono::Utc::now().timestamp_micros())
            .push(") ON CONFLICT (tenant) DO UPDATE SET noted = ");
        crate::events::later(&mut sql).push(" RETURNING noted");
        let (noted,): (i64,) = self.fetch_one(&sql).await?;
        Ok(noted)
    }

    /// The resources of `tenant` changed by a write that committed after `since` (a mark)
    /// although its `lastUpdated` is at or before it: a write in flight at that instant, which
    /// a `_since` export must still include. Writes that took longer than [`LATE_WINDOW`] are
    /// not looked for; nor are those whose events were trimmed (the tenant's event retention).
    pub async fn late_changes(
        &self,
        tenant: &TenantName,
        since: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let window = i64::try_from(LATE_WINDOW.as_micros()).unwrap_or(i64::MAX);
        let mut sql = Sql::new();
        sql.push("SELECT DISTINCT res_type, id FROM change_events WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND at > ")
            .int(since.saturating_sub(window))
            .push(" AND at <= ")
            .int(since)
            .push(" AND noted > ")
            .int(since)
            .push(" ORDER BY res_type, id");
        self.read_all(&sql).await
    }

    /// The ids among `ids` of `rtype` that are deleted, in `window`.
    pub async fn deleted_among(
        &self,
        scope: Scope<'_>,
        rtype: &str,
        ids: &[&str],
        window: ExportWindow,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut sql = export_rows(scope, rtype, true, None, window);
            sql.push(" AND r.id IN ")
                .text_list(chunk.iter().copied())
                .push(" ORDER BY r.id");
            let rows: Vec<ExportRow> = self.read_all(&sql).await?;
            out.extend(unhidden(rows, scope, rtype)?);
        }
        Ok(out)
    }

    /// The resource types `tenant` has rows of (live or deleted), in name order.
    pub async fn types_held(&self, tenant: &TenantName) -> Result<Vec<String>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT DISTINCT res_type FROM resources WHERE tenant = ")
            .text(tenant.as_str())
            .push(" ORDER BY res_type");
        let rows: Vec<(String,)> = self.read_all(&sql).await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }
}
