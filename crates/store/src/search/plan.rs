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

use super::filter::{Cond, IdCol, IndexSource, PerRow};
use super::paging::{
    check_cursor, key_alias, keyset, near_criterion, order_by, sort_keys, Key, KeyKind, PageCursor,
    PageDirection, SortValue, MAX_SORT_KEYS,
};
use super::sql::{Alias, Dialect, Sql};
use super::values::{distance_squared, KM_PER_DEGREE};
use super::SearchPage;
use crate::restricted::Sight;
use crate::{StoreError, VersionRecord};

/// A fetched row: the record and its sort-key values.
#[derive(Debug, Clone)]
pub(crate) struct PageRow {
    pub record: VersionRecord,
    /// The resource's restriction policy, when the viewer may be refused some of it.
    pub policy: Option<String>,
    pub keys: Vec<SortValue>,
}

/// The SQL of one search and what is needed to read its answer.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The page query; `None` when no rows are wanted (`_summary=count`, `_count=0`).
    pub page: Option<Sql>,
    /// Another page query for the same page, reading resources in id order and testing each
    /// ([`Cond::has_walk`]), with the probe that decides between the two
    /// ([`Plan::choose_page`]).
    pub walk: Option<Walk>,
    /// The count query, when a total is wanted.
    pub count: Option<Sql>,
    /// How the sort-key columns after the record columns decode.
    pub key_kinds: Vec<KeyKind>,
    page_size: usize,
    direction: Option<PageDirection>,
    /// `_total=none`: report no total even when it is known for free.
    no_total: bool,
}

/// The record columns every query selects, from alias `t`, then the resource's restriction
/// policy as `seer` needs it ([`crate::restricted::policy_column`]).
pub(crate) fn record_columns(sql: &mut Sql, t: Alias, seer: &restrict::Seer) {
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
    crate::restricted::policy_column(sql, seer, |sql, c| {
        sql.col(t, c);
    });
}

impl Plan {
    /// Plans `query` for `tenant`, continuing at `cursor` when given.
    pub fn new(
        tenant: &str,
        sight: &Sight,
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
            let mut cond = Cond::new(tenant, sight, now);
            let r = cond.alias();
            let q = cond.alias();
            let mut sql = Sql::new();
            sql.push("SELECT COUNT(*) FROM (");
            push_ids(&mut sql, &mut cond, query, r, None)?;
            sql.push(") ").alias(q);
            Some(sql)
        } else {
            None
        };
        if count_only {
            return Ok(Plan {
                page: None,
                walk: None,
                count,
                key_kinds: Vec::new(),
                page_size: 0,
                direction: None,
                no_total: false,
            });
        }

        let mut cond = Cond::new(tenant, sight, now);
        let r = cond.alias();
        let keys = sort_keys(&mut cond, query, r)?;
        if keys.len() > MAX_SORT_KEYS {
            return Err(super::filter::unsupported(format!(
                "at most {MAX_SORT_KEYS} sort keys"
            )));
        }
        if let Some(c) = cursor {
            check_cursor(&keys, c)?;
        }
        let page = page_sql(&mut cond, query, cursor, &keys, |sql, cond| {
            if keys.is_empty() {
                push_ids(sql, cond, query, r, Some(cursor))
            } else if push_by_distance(sql, cond, query)? {
                Ok(())
            } else {
                sql.push("SELECT ").col(r, "id").push(" AS id");
                for (i, k) in keys.iter().enumerate() {
                    sql.push(", ").append(k.expr.clone());
                    key_alias(sql, i);
                }
                sql.push(" FROM resources ").alias(r);
                push_where(sql, cond, query, r)
            }
        })?;
        let walk = if keys.is_empty() {
            walk(&mut cond, query, cursor, &keys)?
        } else {
            None
        };
        let page_size = usize::try_from(query.count).unwrap_or(usize::MAX);
        Ok(Plan {
            page: Some(page),
            walk,
            count,
            key_kinds: keys.iter().map(|k: &Key| k.kind).collect(),
            page_size,
            direction: cursor.map(|c| c.direction),
            no_total: query.total == Some(Total::None),
        })
    }

    /// The page query to run on `dialect`, given the probe's answer when there is a
    /// [`Walk`]: from [`SCALAR_WALK_FROM`] index rows of the inner value the scalar walk
    /// (Postgres, `_has`), from [`LOOKUP_WALK_FROM`] the walk with a lookup per row (SQLite),
    /// from [`WalkKind::from`] the row-by-row walk, else the set query.
    pub fn choose_page(&self, probed: Option<i64>, dialect: Dialect) -> Option<&Sql> {
        match (&self.walk, probed) {
            (Some(w), Some(n)) => match (&w.scalar, &w.lookup) {
                (Some(scalar), _) if n >= SCALAR_WALK_FROM && dialect == Dialect::Postgres => {
                    Some(scalar)
                }
                (_, Some(lookup)) if n >= LOOKUP_WALK_FROM && dialect == Dialect::Sqlite => {
                    Some(lookup)
                }
                _ if n >= w.kind.from(dialect) => Some(&w.rows),
                _ => self.page.as_ref(),
            },
            _ => self.page.as_ref(),
        }
    }

    /// The probe to run before [`Plan::choose_page`], when the query may walk.
    pub fn probe(&self) -> Option<&Sql> {
        self.walk.as_ref().map(|w| &w.probe)
    }

    /// Turns the fetched rows (one more than the page size when there are more) and the
    /// count into the page, with cursors for the neighbouring pages, each row as `viewer` may
    /// see it ([`crate::restricted::apply`]).
    pub fn finish(
        &self,
        mut rows: Vec<PageRow>,
        total: Option<u64>,
        viewer: &restrict::Viewer,
    ) -> Result<SearchPage, StoreError> {
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
        let matches = crate::restricted::apply_rows(rows, viewer)?;
        Ok(SearchPage {
            matches,
            included: Vec::new(),
            total,
            next,
            previous,
        })
    }
}

/// `near` without `_sort` (nearest first): appends `SELECT x.id AS id, MIN(<distance>) AS k0`
/// over the `search_geo` rows within the distance ([`Cond::near_rows`]), the other criteria
/// on `x.id`, grouped by id, and answers `true`; `false` (nothing appended) when the `near`
/// criterion is not a plain one with one value. The distance is computed from the rows that
/// matched, once each, where the general sort key looked every match's positions up again
/// (`(SELECT MIN(…) FROM search_geo WHERE id = r.id)`): the same value, since a resource's
/// nearest position is one of those within the distance.
fn push_by_distance(
    sql: &mut Sql,
    cond: &mut Cond<'_>,
    query: &SearchQuery,
) -> Result<bool, StoreError> {
    if !query.sort.is_empty() {
        return Ok(false);
    }
    let Some((i, _, n)) = near_criterion(query) else {
        return Ok(false);
    };
    let mut rows = Sql::new();
    let Some(x) = cond.near_rows(&mut rows, &query.resource_type, &query.criteria[i].filter)?
    else {
        return Ok(false);
    };
    let kx = KM_PER_DEGREE * n.latitude.to_radians().cos();
    sql.push("SELECT ").col(x, "id").push(" AS id, MIN(");
    distance_squared(sql, x, n.latitude, n.longitude, kx);
    sql.push(")");
    key_alias(sql, 0);
    sql.push(" FROM ").append(rows);
    for (j, c) in query.criteria.iter().enumerate() {
        if j != i {
            sql.push(" AND ");
            cond.filter(sql, &query.resource_type, (x, "id"), &c.filter)?;
        }
    }
    sql.push(" GROUP BY ").col(x, "id");
    Ok(true)
}

/// From how many index rows of a chain's or `_has` criterion's inner value on the
/// row-by-row walk ([`Cond::walk_rows`]) beats the set of all matches. At 1M resources on
/// Postgres (psql timings; BENCHMARKS.md "Planner walk thresholds"), the set took 9-155 ms for
/// specialties of 862 to 4,727 roles and the walk 5-15 ms; the biggest city (1,799
/// Locations) took 19-28 ms as a set and 3-6 ms walked. Estimated from those: the set costs a
/// lookup (~10 µs) per match, the walk ~0.3 µs per reference row, of which it reads about
/// 21 R / M (R reference rows of the parameter, M matches), so the two meet below M = 400;
/// 200 leaves room for smaller directories, where the walk is relatively cheaper.
pub(crate) const WALK_FROM: i64 = 200;

/// From how many index rows of a `_has` criterion's inner value the scalar walk
/// ([`Cond::has_walk`]) beats the row-by-row walk on Postgres, which first builds the set of
/// every matching source id. At 1M resources (psql timings): specialties of 28,202 to
/// 42,045 roles took 29-37 ms walked row by row and 4-8 ms walked per target; 4,556 to
/// 4,727 roles took 9-15 ms row by row and 23-34 ms per target. The crossing between was
/// not measured; 12,000 is interpolated. On SQLite the scalar walk is never chosen: it
/// measured 593 ms p50 at 1M (`fhirdir-bench search`, shape (d); the plan was not examined).
pub(crate) const SCALAR_WALK_FROM: i64 = 12_000;

/// From how many index rows of a chain's or `_has` criterion's inner value SQLite walks with
/// a lookup per row ([`PerRow::Lookup`]) instead of testing each row against the set of the
/// inner value's ids, which it builds before the walk starts. `sqlite3` at 1M resources,
/// `Practitioner?_has:PractitionerRole:practitioner:specialty=` (warm, three runs): the set
/// test took 3-5 ms for specialties of 862 to 9,356 roles and 10 ms for 42,045; the lookup
/// 45-60 ms for 862 (it reads ~500 rows per match), 10-37 for 2,741, 3-12 for 4,739, 1-7
/// for 9,356 and 0.5-1 for 42,045. The crossing is between 4,739 and 9,356.
pub(crate) const LOOKUP_WALK_FROM: i64 = 8_000;

/// The walking alternatives of a page query.
#[derive(Debug)]
pub(crate) struct Walk {
    /// `SELECT COUNT(*)` of up to [`LOOKUP_WALK_FROM`] (SQLite) or [`SCALAR_WALK_FROM`] (Postgres)
    /// index rows of the inner value, or [`STRING_WALK_FROM`] rows of the string values.
    pub probe: Sql,
    /// The reference rows in id order, each tested against the set of the inner value's
    /// ids ([`Cond::walk_rows`], [`PerRow::Set`]).
    pub rows: Sql,
    /// The same walk, each row tested by a lookup in the inner value's index rows
    /// ([`PerRow::Lookup`]); SQLite, from [`LOOKUP_WALK_FROM`]. `None` for a string walk.
    pub lookup: Option<Sql>,
    /// The target type in id order, each resource tested ([`Cond::has_walk`]; `_has` only).
    pub scalar: Option<Sql>,
    pub kind: WalkKind,
}

/// What a [`Walk`] reads in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkKind {
    /// The reference rows of a chain or `_has` ([`Cond::walk_rows`]), on both backends.
    References,
    /// The type's string rows, for a plain string prefix ([`Cond::string_walk_rows`]).
    Strings,
}

impl WalkKind {
    /// From how many probed rows the walk is chosen on `dialect`.
    fn from(self, dialect: Dialect) -> i64 {
        match (self, dialect) {
            (WalkKind::References, _) => WALK_FROM,
            (WalkKind::Strings, Dialect::Postgres) => STRING_WALK_FROM,
            (WalkKind::Strings, Dialect::Sqlite) => SQLITE_STRING_WALK_FROM,
        }
    }
}

/// From how many index rows of a plain string criterion's values the walk of the type's
/// string rows in id order ([`Cond::string_walk_rows`]) beats the set of all matches. psql
/// timings at 1M resources (349,333 Practitioners, BENCHMARKS.md "Planner walk thresholds"):
/// the set of `name=bro` (6,417 rows) took 2.9-3.5 ms and its walk 3.0-6.0; `pri` (8,854)
/// 6.7-7.1 against 2.2-3.2; `mar` (29,338) 19-22 against 1.3-2.1. The crossing is near 7,000
/// rows at that size; it moves lower for fewer resources of the type (a page then needs
/// fewer rows walked), which this constant does not follow.
pub(crate) const STRING_WALK_FROM: i64 = 8_000;

/// [`STRING_WALK_FROM`] on SQLite, where the walk reads each row's value from the table
/// (its `search_string_resource` index holds no value) and the set query is cheaper than on
/// Postgres. `sqlite3` at 1M resources (`Practitioner?name=`, best of five, ms, walk against
/// set): `mar` (29,338 rows) 0.95 / 4.17, `ste` (20,798) 1.16 / 2.89, `jos` (18,050) 2.19 /
/// 2.60, `jac` (15,334) 1.94 / 1.98, `pat` (14,772) 2.96 / 1.99, `don` (11,764) 2.84 / 1.61,
/// `rya` (6,148) 6.00 / 0.75.
pub(crate) const SQLITE_STRING_WALK_FROM: i64 = 16_000;

/// For a query without sort keys whose first criterion is a chain or `_has` over a plain
/// value, or (Postgres only) a plain string value: the page queries that walk ([`Walk`]),
/// the other criteria as usual.
fn walk(
    cond: &mut Cond<'_>,
    query: &SearchQuery,
    cursor: Option<&PageCursor>,
    keys: &[Key],
) -> Result<Option<Walk>, StoreError> {
    let Some(first) = query.criteria.first() else {
        return Ok(None);
    };
    let mut limit = Sql::new();
    let (mut sqlite, mut postgres) = (Sql::new(), Sql::new());
    sqlite.int(LOOKUP_WALK_FROM);
    postgres.int(SCALAR_WALK_FROM);
    limit.dialect(sqlite, postgres);
    let mut source = Sql::new();
    let mut kind = WalkKind::References;
    let rt = &query.resource_type;
    let mut found = cond.walk_rows(&mut source, rt, &first.filter, limit, PerRow::Set)?;
    if found.is_none() {
        kind = WalkKind::Strings;
        let mut limit = Sql::new();
        let (mut sqlite, mut postgres) = (Sql::new(), Sql::new());
        sqlite.int(SQLITE_STRING_WALK_FROM);
        postgres.int(STRING_WALK_FROM);
        limit.dialect(sqlite, postgres);
        found = cond.string_walk_rows(&mut source, &query.resource_type, &first.filter, limit)?;
    }
    let Some((src, probe)) = found else {
        return Ok(None);
    };
    let rows = walk_page(cond, query, cursor, keys, src, source)?;
    let lookup = if kind == WalkKind::References {
        let mut source = Sql::new();
        match cond.walk_rows(&mut source, rt, &first.filter, Sql::new(), PerRow::Lookup)? {
            Some((src, _)) => Some(walk_page(cond, query, cursor, keys, src, source)?),
            None => None,
        }
    } else {
        None
    };

    let r = cond.alias();
    let mut test = Sql::new();
    let scalar = if cond.has_walk(&mut test, &query.resource_type, (r, "id"), &first.filter)? {
        Some(page_sql(cond, query, cursor, keys, |sql, cond| {
            sql.push("SELECT ")
                .col(r, "id")
                .push(" AS id FROM resources ")
                .alias(r)
                .push(" WHERE ")
                .scope_rows(r, cond.tenant, query.resource_type.as_str())
                .push(" AND NOT ")
                .col(r, "deleted");
            cond.visible(sql, &query.resource_type, (r, "id"), None);
            sql.push(" AND ").append(test);
            for c in &query.criteria[1..] {
                sql.push(" AND ");
                cond.filter(sql, &query.resource_type, (r, "id"), &c.filter)?;
            }
            Ok(())
        })?)
    } else {
        None
    };
    Ok(Some(Walk {
        probe,
        rows,
        lookup,
        scalar,
        kind,
    }))
}

/// The page query of a walk over `source` (rows whose `src.id` column holds the page's ids,
/// in that column's order).
fn walk_page(
    cond: &mut Cond<'_>,
    query: &SearchQuery,
    cursor: Option<&PageCursor>,
    keys: &[Key],
    src: IndexSource,
    source: Sql,
) -> Result<Sql, StoreError> {
    page_sql(cond, query, cursor, keys, |sql, cond| {
        let x = src.id;
        sql.push("SELECT DISTINCT ")
            .col(x.0, x.1)
            .push(" AS id FROM ")
            .append(source);
        if src.may_dangle {
            sql.push(" AND ");
            cond.live(sql, &query.resource_type, x);
        }
        for c in &query.criteria[1..] {
            sql.push(" AND ");
            cond.filter(sql, &query.resource_type, x, &c.filter)?;
        }
        push_page_inside(sql, x, query, cursor);
        Ok(())
    })
}

/// `LIMIT` of a page query: one more than the page, to know whether there is a next page.
fn page_limit(query: &SearchQuery) -> i64 {
    i64::from(query.count).saturating_add(1)
}

/// Appends the page's keyset on `id` (` AND id > <cursor>`), ` ORDER BY id` and its `LIMIT`,
/// for a `SELECT DISTINCT` of ids in id order, inside it: there the database stops after the
/// page. Around a DISTINCT it would otherwise produce every match before sorting (SQLite
/// sorted all 168k `gender=female` ids in a temporary b-tree for every page at 1M, 20-40 ms;
/// Postgres sees the order through the DISTINCT, but not that a walk's ids come in order).
fn push_page_inside(sql: &mut Sql, id: IdCol, query: &SearchQuery, cursor: Option<&PageCursor>) {
    let forward = cursor.is_none_or(|c| c.direction == PageDirection::Next);
    if let Some(c) = cursor {
        sql.push(" AND ")
            .col(id.0, id.1)
            .push(if forward { " > " } else { " < " })
            .text(c.id.as_str());
    }
    sql.push(" ORDER BY ")
        .col(id.0, id.1)
        .push(if forward { " ASC" } else { " DESC" })
        .push(" LIMIT ")
        .int(page_limit(query));
}

/// The page query around `inner`, a `SELECT` of ids (column `id`) and sort keys (`k0`…):
///
/// Two steps: the page's ids and sort keys first, from a query that reads no resource body,
/// then the page's bodies by primary key. Selecting the bodies in the same query made the
/// database carry (and sort) every match's body to keep 21 of them.
fn page_sql(
    cond: &mut Cond<'_>,
    query: &SearchQuery,
    cursor: Option<&PageCursor>,
    keys: &[Key],
    inner: impl FnOnce(&mut Sql, &mut Cond<'_>) -> Result<(), StoreError>,
) -> Result<Sql, StoreError> {
    let s = cond.alias();
    let p = cond.alias();
    let c = cond.alias();
    let key_names = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    let mut sql = Sql::new();
    sql.push("SELECT ");
    record_columns(&mut sql, c, &cond.sight.seer);
    for name in key_names.iter().take(keys.len()) {
        sql.push(", ").col(p, name);
    }
    sql.push(" FROM (SELECT ").col(s, "id");
    for name in key_names.iter().take(keys.len()) {
        sql.push(", ").col(s, name);
    }
    sql.push(" FROM (");
    inner(&mut sql, cond)?;
    sql.push(") ").alias(s);
    if let Some(cur) = cursor {
        sql.push(" WHERE ");
        keyset(&mut sql, s, keys, cur);
    }
    let forward = cursor.is_none_or(|cur| cur.direction == PageDirection::Next);
    order_by(&mut sql, s, keys, forward);
    sql.push(" LIMIT ").int(page_limit(query));
    sql.push(") ")
        .alias(p)
        .join_resources()
        .alias(c)
        .push(" ON ")
        .scope_rows(c, cond.tenant, query.resource_type.as_str())
        .push(" AND ")
        .col(c, "id")
        .push(" = ")
        .col(p, "id")
        .push(" AND NOT ")
        .col(c, "deleted");
    order_by(&mut sql, p, keys, forward);
    Ok(sql)
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
    page: Option<Option<&PageCursor>>,
) -> Result<(), StoreError> {
    let mut source = Sql::new();
    if let Some(first) = query.criteria.first() {
        if let Some(src) = cond.index_source(&mut source, &query.resource_type, &first.filter)? {
            let x = src.id;
            if src.may_dangle {
                // Distinct targets first, then liveness and the other criteria per target:
                // ordered by id under the page's LIMIT, the tests stop at the page.
                let d = cond.alias();
                sql.push("SELECT ")
                    .col(d, "id")
                    .push(" AS id FROM (SELECT DISTINCT ")
                    .col(x.0, x.1)
                    .push(" AS id FROM ")
                    .append(source)
                    .push(") ")
                    .alias(d)
                    .push(" WHERE ");
                cond.live(sql, &query.resource_type, (d, "id"));
                for c in &query.criteria[1..] {
                    sql.push(" AND ");
                    cond.filter(sql, &query.resource_type, (d, "id"), &c.filter)?;
                }
                return Ok(());
            }
            sql.push("SELECT DISTINCT ")
                .col(x.0, x.1)
                .push(" AS id FROM ")
                .append(source);
            for c in &query.criteria[1..] {
                sql.push(" AND ");
                cond.filter(sql, &query.resource_type, x, &c.filter)?;
            }
            if let Some(cursor) = page {
                push_page_inside(sql, x, query, cursor);
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
    cond.visible(sql, &query.resource_type, (r, "id"), None);
    for c in &query.criteria {
        sql.push(" AND ");
        cond.filter(sql, &query.resource_type, (r, "id"), &c.filter)?;
    }
    Ok(())
}
