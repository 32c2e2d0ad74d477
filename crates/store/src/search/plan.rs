//! A whole search as SQL: the page query (criteria, sort keys, keyset condition, `LIMIT`),
//! the count query for `_total`, and the assembly of fetched rows into a [`SearchPage`].
//!
//! ```sql
//! SELECT c.res_type, c.id, c.version, c.deleted, c.last_updated, c.method, c.content, p.k0, ...
//! FROM (
//!   SELECT s.id, s.k0, ... FROM (
//!     SELECT r.id AS id, <sort key 0> AS k0, ...
//!     FROM resources r
//!     WHERE r.tenant = ? AND r.res_type = ? AND NOT r.deleted AND <criterion> AND ...
//!   ) s
//!   WHERE <keyset condition>
//!   ORDER BY s.k0 IS NULL, s.k0, ..., s.id
//!   LIMIT <count + 1>
//! ) p JOIN resources c ON c.tenant = ? AND c.res_type = ? AND c.id = p.id
//! ORDER BY p.k0 IS NULL, p.k0, ..., p.id
//! ```

use chrono::{DateTime, Utc};
use search::{SearchQuery, Summary, Total};

use super::filter::Cond;
use super::paging::{
    check_cursor, key_alias, keyset, order_by, sort_keys, Key, KeyKind, PageCursor, PageDirection,
    SortValue, MAX_SORT_KEYS,
};
use super::sql::{Alias, Sql};
use super::SearchPage;
use crate::{StoreError, VersionRecord};

/// A fetched row: the record and its sort-key values.
#[derive(Debug, Clone)]
pub(crate) struct PageRow {
    pub record: VersionRecord,
    pub keys: Vec<SortValue>,
}

/// The SQL of one search and what is needed to read its answer.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The page query; `None` when no rows are wanted (`_summary=count`, `_count=0`).
    pub page: Option<Sql>,
    /// The count query, when a total is wanted.
    pub count: Option<Sql>,
    /// How the sort-key columns after the record columns decode.
    pub key_kinds: Vec<KeyKind>,
    page_size: usize,
    direction: Option<PageDirection>,
    /// `_total=none`: report no total even when it is known for free.
    no_total: bool,
}

/// The record columns every query selects, from alias `t`.
pub(crate) fn record_columns(sql: &mut Sql, t: Alias) {
    sql.col(t, "res_type")
        .push(", ")
        .col(t, "id")
        .push(", ")
        .col(t, "version")
        .push(", ")
        .col(t, "deleted")
        .push(", ")
        .col(t, "last_updated")
        .push(", ")
        .col(t, "method")
        .push(", ")
        .content(t)
        .push(" AS content");
}

impl Plan {
    /// Plans `query` for `tenant`, continuing at `cursor` when given.
    pub fn new(
        tenant: &str,
        query: &SearchQuery,
        cursor: Option<&PageCursor>,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        let count_only = query.summary == Some(Summary::Count) || query.count == 0;
        let total_wanted = match query.total {
            Some(Total::None) => count_only && query.summary == Some(Summary::Count),
            Some(Total::Accurate | Total::Estimate) => true,
            None => count_only,
        };
        let count = if total_wanted {
            let mut cond = Cond::new(tenant, now);
            let r = cond.alias();
            let q = cond.alias();
            let mut sql = Sql::new();
            sql.push("SELECT COUNT(*) FROM (");
            push_ids(&mut sql, &mut cond, query, r)?;
            sql.push(") ").alias(q);
            Some(sql)
        } else {
            None
        };
        if count_only {
            return Ok(Plan {
                page: None,
                count,
                key_kinds: Vec::new(),
                page_size: 0,
                direction: None,
                no_total: false,
            });
        }

        let mut cond = Cond::new(tenant, now);
        let r = cond.alias();
        let s = cond.alias();
        let keys = sort_keys(&mut cond, query, r)?;
        if keys.len() > MAX_SORT_KEYS {
            return Err(super::filter::unsupported(format!(
                "at most {MAX_SORT_KEYS} sort keys"
            )));
        }
        if let Some(c) = cursor {
            check_cursor(&keys, c)?;
        }
        // Two steps: the page's ids and sort keys first, from a query that reads no resource
        // body, then the page's bodies by primary key. Selecting the bodies in the same query
        // made the database carry (and sort) every match's body to keep 21 of them.
        let p = cond.alias();
        let c = cond.alias();
        let key_names = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
        let mut sql = Sql::new();
        sql.push("SELECT ");
        record_columns(&mut sql, c);
        for name in key_names.iter().take(keys.len()) {
            sql.push(", ").col(p, name);
        }
        sql.push(" FROM (SELECT ").col(s, "id");
        for name in key_names.iter().take(keys.len()) {
            sql.push(", ").col(s, name);
        }
        sql.push(" FROM (");
        if keys.is_empty() {
            push_ids(&mut sql, &mut cond, query, r)?;
        } else {
            sql.push("SELECT ").col(r, "id").push(" AS id");
            for (i, k) in keys.iter().enumerate() {
                sql.push(", ").append(k.expr.clone());
                key_alias(&mut sql, i);
            }
            sql.push(" FROM resources ").alias(r);
            push_where(&mut sql, &mut cond, query, r)?;
        }
        sql.push(") ").alias(s);
        if let Some(cur) = cursor {
            sql.push(" WHERE ");
            keyset(&mut sql, s, &keys, cur);
        }
        let forward = cursor.is_none_or(|cur| cur.direction == PageDirection::Next);
        order_by(&mut sql, s, &keys, forward);
        let page_size = usize::try_from(query.count).unwrap_or(usize::MAX);
        sql.push(" LIMIT ").int(
            i64::try_from(page_size)
                .unwrap_or(i64::MAX)
                .saturating_add(1),
        );
        sql.push(") ")
            .alias(p)
            .push(" JOIN resources ")
            .alias(c)
            .push(" ON ")
            .scope_rows(c, tenant, query.resource_type.as_str())
            .push(" AND ")
            .col(c, "id")
            .push(" = ")
            .col(p, "id")
            .push(" AND NOT ")
            .col(c, "deleted");
        order_by(&mut sql, p, &keys, forward);
        Ok(Plan {
            page: Some(sql),
            count,
            key_kinds: keys.iter().map(|k: &Key| k.kind).collect(),
            page_size,
            direction: cursor.map(|c| c.direction),
            no_total: query.total == Some(Total::None),
        })
    }

    /// Turns the fetched rows (one more than the page size when there are more) and the
    /// count into the page, with cursors for the neighbouring pages.
    pub fn finish(&self, mut rows: Vec<PageRow>, total: Option<u64>) -> SearchPage {
        let more = rows.len() > self.page_size;
        rows.truncate(self.page_size);
        if self.direction == Some(PageDirection::Previous) {
            // Fetched in reverse order, nearest to the cursor first.
            rows.reverse();
        }
        let at = |row: Option<&PageRow>, direction| {
            row.map(|r| PageCursor {
                direction,
                keys: r.keys.clone(),
                id: r.record.id.clone(),
            })
        };
        let (has_next, has_previous) = match self.direction {
            None => (more, false),
            Some(PageDirection::Next) => (more, true),
            Some(PageDirection::Previous) => (true, more),
        };
        let next = if has_next {
            at(rows.last(), PageDirection::Next)
        } else {
            None
        };
        let previous = if has_previous {
            at(rows.first(), PageDirection::Previous)
        } else {
            None
        };
        // Without `_total`, a first page that holds everything knows the total for free.
        let total = total.or_else(|| {
            (self.direction.is_none() && !more && self.page.is_some() && !self.no_total)
                .then(|| u64::try_from(rows.len()).unwrap_or(u64::MAX))
        });
        SearchPage {
            matches: rows.into_iter().map(|r| r.record).collect(),
            included: Vec::new(),
            total,
            next,
            previous,
        }
    }
}

/// Appends a `SELECT` of the distinct ids (column `id`) of the live resources of the query's
/// type that match every criterion. When the first criterion is a plain one, its index rows are
/// the source ([`Cond::index_source`]) and `resources` is not read; otherwise the rows of
/// `resources` are, as [`push_where`] filters them.
fn push_ids(
    sql: &mut Sql,
    cond: &mut Cond<'_>,
    query: &SearchQuery,
    r: Alias,
) -> Result<(), StoreError> {
    let mut source = Sql::new();
    if let Some(first) = query.criteria.first() {
        if let Some(x) = cond.index_source(&mut source, &query.resource_type, &first.filter)? {
            sql.push("SELECT DISTINCT ")
                .col(x.0, x.1)
                .push(" AS id FROM ")
                .append(source);
            for c in &query.criteria[1..] {
                sql.push(" AND ");
                cond.filter(sql, &query.resource_type, x, &c.filter)?;
            }
            return Ok(());
        }
    }
    sql.push("SELECT ")
        .col(r, "id")
        .push(" AS id FROM resources ")
        .alias(r);
    push_where(sql, cond, query, r)
}

/// Appends ` WHERE` for the resources of the query's type in the tenant that match every
/// criterion (AND across criteria; each criterion ORs its own values).
fn push_where(
    sql: &mut Sql,
    cond: &mut Cond<'_>,
    query: &SearchQuery,
    r: Alias,
) -> Result<(), StoreError> {
    sql.push(" WHERE ")
        .scope_rows(r, cond.tenant, query.resource_type.as_str())
        .push(" AND NOT ")
        .col(r, "deleted");
    for c in &query.criteria {
        sql.push(" AND ");
        cond.filter(sql, &query.resource_type, (r, "id"), &c.filter)?;
    }
    Ok(())
}
