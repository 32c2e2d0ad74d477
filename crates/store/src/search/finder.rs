//! The candidate query of `$find-providers` (issue 20): which roles (PractitionerRole or
//! OrganizationAffiliation) qualify, with their provider, the site that puts them in the
//! area and its position, read from the index tables alone, so that a dense city's thousands
//! of roles cost index probes, not bodies. The caller ranks the rows and reads the bodies of
//! one page only.
//!
//! Every table read is tested for what the viewer may see exactly as a search tests it
//! ([`Cond::scope`], [`Cond::filter`], [`Cond::live`]): a hidden role, site or provider, or a
//! hidden element's values, never make a row.
//!
//! With an area the query starts from the cheapest of three sets ([`Start`], chosen by
//! bounded counts in `choose_start`): the sites in its box (`search_geo`), then their roles
//! (`search_reference_target`) and each role's provider; or one role criterion's roles (a
//! network's); or the providers the name criteria find, then their roles. From the last two
//! the roles' sites in the box are found first and the other criteria tested on those rows
//! only, each by a lookup per row. Without an area it starts from the roles' provider
//! references, narrowed by the provider's criteria when there are some (an `IN` set the
//! database builds from their index first).

use chrono::Utc;
use search::Filter;

use super::exec::{fetch_i64, OnSqlx};
use super::filter::{Cond, IdCol};
use super::sql::{Alias, Sql};
use crate::backend::Backend;
use crate::db::SqlDb;
use crate::restricted::{Sight, PLAIN};
use crate::{Scope, Store, StoreError};

/// What to look for; the filters are parsed search criteria of the role and provider types.
#[derive(Clone)]
pub struct RoleQuery<'a> {
    /// `PractitionerRole` or `OrganizationAffiliation`.
    pub role_type: &'a str,
    /// `Practitioner` or `Organization`.
    pub provider_type: &'a str,
    /// The role's reference parameter to its provider (`practitioner`,
    /// `participating-organization`).
    pub provider_param: &'a str,
    /// The role's reference parameter to its sites (`location`).
    pub location_param: &'a str,
    /// Criteria on the role, all of which must hold (network, role code, ...).
    pub role_filters: &'a [Filter],
    /// The specialty on the role: reported per row, and required unless `qualification`
    /// holds instead.
    pub specialty: Option<&'a Filter>,
    /// The specialty on the provider (its qualification), the alternative to `specialty`.
    pub qualification: Option<&'a Filter>,
    /// Criteria on the provider, all of which must hold (not marked inactive).
    pub provider_all: &'a [Filter],
    /// Criteria on the provider, any of which must hold (the ways a name may be found).
    pub provider_any: &'a [Filter],
    /// The area's box, in degrees; the caller measures each returned position exactly.
    pub area: Option<Area>,
    /// Most rows returned.
    pub limit: usize,
}

/// A box, `(lat_min, lat_max, lon_min, lon_max)` in degrees.
pub type Area = (f64, f64, f64, f64);

/// One role that qualifies, through one site when an area was given.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRow {
    pub role_id: String,
    /// `Type/id` of the provider.
    pub provider: String,
    /// The site's id and position, with an area.
    pub site: Option<(String, f64, f64)>,
    /// The role itself has the specialty (not only the provider's qualification).
    pub role_specialty: bool,
}

/// Where the candidate query starts, with an area: the smallest of the sets it can start
/// from, by [`choose_start`] ([`Store::find_roles`]), or as asked ([`Store::find_roles_from`]).
/// Every start gives the same rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Start {
    /// The sites in the area's box, then their roles (and without an area, every role's
    /// provider reference).
    Area,
    /// The roles of one role criterion, `role_filters[i]` (a network's roles), then their
    /// sites.
    Role(usize),
    /// The providers any name criterion (`provider_any`) finds, then their roles and sites.
    Providers,
}

/// The SQL of `q` for the viewer of `sight` in `tenant`, starting from `start`.
pub(crate) fn role_rows_sql(
    tenant: &str,
    sight: &Sight,
    q: &RoleQuery,
    start: Start,
) -> Result<Sql, StoreError> {
    let mut cond = Cond::new(tenant, sight, Utc::now());
    // How each criterion is tested on a row. From a few rows (a network's roles, a name's
    // providers) by a lookup per row, where a set would be built from the whole tenant
    // first. From the area's roles: the role's criteria as membership tests the planner may
    // also start from; the provider's (a name's prefix range or Soundex code, a
    // qualification) as nationwide sets probed per row, never where it starts
    // ([`Cond::filter_set`]), or it would look up the sites of every namesake. Without an
    // area, every criterion as a membership test.
    let area = q.area.is_some();
    let start = if area { start } else { Start::Area };
    let few = start != Start::Area;
    let role_test = |cond: &mut Cond, sql: &mut Sql, ty: &str, id, f: &Filter| {
        if few {
            cond.filter_lookup(sql, ty, id, f)
        } else {
            cond.filter(sql, ty, id, f)
        }
    };
    let provider_test = |cond: &mut Cond, sql: &mut Sql, ty: &str, id, f: &Filter| {
        if few {
            cond.filter_lookup(sql, ty, id, f)
        } else if area {
            cond.filter_set(sql, ty, id, f)
        } else {
            cond.filter(sql, ty, id, f)
        }
    };
    let (g, rl, rp) = (cond.alias(), cond.alias(), cond.alias());
    // `FROM …` up to the criteria, and the columns of the role, its provider and its site.
    let mut from = Sql::new();
    let (role, provider, site): (IdCol, IdCol, Option<[IdCol; 3]>) = match (q.area, start) {
        (Some(area), Start::Area) => {
            // Sites in the box, their roles, each role's provider reference.
            from.push("search_geo ")
                .alias(g)
                .push(" JOIN search_reference ")
                .alias(rl)
                .push(" ON ")
                .append(cond.index_scope(rl, q.role_type))
                .push(" AND ")
                .col(rl, "param")
                .push(" = ")
                .text(q.location_param)
                .push(" AND ")
                .col(rl, "target_id")
                .push(" = ")
                .col(g, "id")
                .push(" AND ")
                .col(rl, "target_type")
                .push(" = ")
                .text("Location");
            cond.visible(&mut from, q.role_type, (rl, "id"), Some(q.location_param));
            from.push(" JOIN search_reference ").alias(rp).push(" ON ");
            cond.scope(&mut from, rp, q.role_type, q.provider_param, (rl, "id"));
            from.push(" WHERE ");
            in_area(&mut from, &cond, g, area);
            from.push(" AND ")
                .col(rp, "target_type")
                .push(" = ")
                .text(q.provider_type);
            (
                (rp, "id"),
                (rp, "target_id"),
                Some([(g, "id"), (g, "lat"), (g, "lon")]),
            )
        }
        (Some(area), Start::Role(_) | Start::Providers) => {
            // The started-from roles' sites in the area, first and apart: the criteria below
            // are tested on those rows only (both planners would otherwise test each
            // criterion on every role as soon as its columns are there, before the sites).
            let c = cond.alias();
            from.push("(SELECT ")
                .col(rp, "id")
                .push(" AS id, ")
                .col(rp, "target_id")
                .push(" AS target_id, ")
                .col(g, "id")
                .push(" AS site, ")
                .col(g, "lat")
                .push(" AS lat, ")
                .col(g, "lon")
                .push(" AS lon FROM ");
            match start {
                Start::Role(i) => roles_of_criterion(&mut from, &mut cond, q, i, rp)?,
                _ => roles_of_providers(&mut from, &mut cond, q, rp)?,
            }
            from.join_in_order("search_reference")
                .alias(rl)
                .push(" ON ");
            cond.scope(&mut from, rl, q.role_type, q.location_param, (rp, "id"));
            from.push(" AND ")
                .col(rl, "target_type")
                .push(" = ")
                .text("Location")
                .join_in_order("search_geo")
                .alias(g)
                .push(" ON ")
                .col(g, "id")
                .push(" = ")
                .col(rl, "target_id")
                .push(" WHERE ");
            in_area(&mut from, &cond, g, area);
            if start != Start::Providers {
                from.push(" AND ")
                    .col(rp, "target_type")
                    .push(" = ")
                    .text(q.provider_type);
            }
            // Kept from being merged into the outer query (which would undo the order): a
            // subquery with a LIMIT on SQLite, `OFFSET 0` on Postgres.
            let mut sqlite = Sql::new();
            sqlite.push(" LIMIT -1");
            let mut postgres = Sql::new();
            postgres.push(" OFFSET 0");
            from.dialect(sqlite, postgres)
                .push(") ")
                .alias(c)
                .push(" WHERE TRUE");
            (
                (c, "id"),
                (c, "target_id"),
                Some([(c, "site"), (c, "lat"), (c, "lon")]),
            )
        }
        (None, _) => {
            from.push("search_reference ")
                .alias(rp)
                .push(" WHERE ")
                .append(cond.index_scope(rp, q.role_type))
                .push(" AND ")
                .col(rp, "param")
                .push(" = ")
                .text(q.provider_param);
            cond.visible(&mut from, q.role_type, (rp, "id"), Some(q.provider_param));
            from.push(" AND ")
                .col(rp, "target_type")
                .push(" = ")
                .text(q.provider_type);
            ((rp, "id"), (rp, "target_id"), None)
        }
    };
    let mut sql = Sql::new();
    sql.push("SELECT ")
        .col(role.0, role.1)
        .push(", ")
        .col(provider.0, provider.1)
        .push(", ");
    match site {
        Some(cols) => {
            for (id, name) in cols {
                sql.col(id, name).push(", ");
            }
        }
        None => {
            sql.push(
                "CAST(NULL AS TEXT), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), ",
            );
        }
    }
    match q.specialty {
        Some(f) => {
            let mut flag = Sql::new();
            role_test(&mut cond, &mut flag, q.role_type, role, f)?;
            sql.push("(CASE WHEN ")
                .append(flag)
                .push(" THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END)");
        }
        None => {
            sql.push("CAST(0 AS BIGINT)");
        }
    }
    sql.push(" FROM ").append(from);
    for (i, f) in q.role_filters.iter().enumerate() {
        if start != Start::Role(i) {
            sql.push(" AND ");
            role_test(&mut cond, &mut sql, q.role_type, role, f)?;
        }
    }
    match (q.specialty, q.qualification) {
        (Some(s), Some(p)) => {
            sql.push(" AND (");
            role_test(&mut cond, &mut sql, q.role_type, role, s)?;
            sql.push(" OR ");
            provider_test(&mut cond, &mut sql, q.provider_type, provider, p)?;
            sql.push(")");
        }
        (Some(s), None) => {
            sql.push(" AND ");
            role_test(&mut cond, &mut sql, q.role_type, role, s)?;
        }
        (None, Some(p)) => {
            sql.push(" AND ");
            provider_test(&mut cond, &mut sql, q.provider_type, provider, p)?;
        }
        (None, None) => {}
    }
    if !q.provider_any.is_empty() && start != Start::Providers {
        sql.push(" AND (");
        for (i, f) in q.provider_any.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            provider_test(&mut cond, &mut sql, q.provider_type, provider, f)?;
        }
        sql.push(")");
    }
    for f in q.provider_all {
        sql.push(" AND ");
        provider_test(&mut cond, &mut sql, q.provider_type, provider, f)?;
    }
    // Last, on the rows every criterion kept (it reads the provider's resource row, the
    // costliest test): the provider exists, is live, and the viewer may see it.
    sql.push(" AND ");
    cond.live(&mut sql, q.provider_type, provider);
    sql.push(" LIMIT ")
        .int(i64::try_from(q.limit).unwrap_or(i64::MAX));
    Ok(sql)
}

/// Appends the scope of the position rows `g` in `area`'s box, as the viewer may see them.
fn in_area(sql: &mut Sql, cond: &Cond, g: Alias, (lat_min, lat_max, lon_min, lon_max): Area) {
    sql.append(cond.index_scope(g, "Location"))
        .push(" AND ")
        .col(g, "param")
        .push(" = ")
        .text("near")
        .push(" AND ")
        .col(g, "lat")
        .push(" >= ")
        .float(lat_min)
        .push(" AND ")
        .col(g, "lat")
        .push(" <= ")
        .float(lat_max)
        .push(" AND ")
        .col(g, "lon")
        .push(" >= ")
        .float(lon_min)
        .push(" AND ")
        .col(g, "lon")
        .push(" <= ")
        .float(lon_max);
    cond.visible(sql, "Location", (g, "id"), Some("near"));
}

/// Appends the roles of the criterion `role_filters[i]` (distinct ids) and their provider
/// references as `rp`.
fn roles_of_criterion(
    sql: &mut Sql,
    cond: &mut Cond,
    q: &RoleQuery,
    i: usize,
    rp: Alias,
) -> Result<(), StoreError> {
    let f = q
        .role_filters
        .get(i)
        .ok_or_else(|| super::filter::unsupported("no such role criterion"))?;
    let s = cond.alias();
    let mut rows = Sql::new();
    let source = cond
        .index_source(&mut rows, q.role_type, f)?
        .ok_or_else(|| super::filter::unsupported("a role criterion without index rows"))?;
    sql.push("(SELECT DISTINCT ")
        .col(source.id.0, source.id.1)
        .push(" AS id FROM ")
        .append(rows)
        .push(") ")
        .alias(s)
        .join_in_order("search_reference")
        .alias(rp)
        .push(" ON ");
    cond.scope(sql, rp, q.role_type, q.provider_param, (s, "id"));
    Ok(())
}

/// Appends the providers any name criterion finds (`provider_any`, distinct ids) and the
/// provider references of their roles as `rp`.
fn roles_of_providers(
    sql: &mut Sql,
    cond: &mut Cond,
    q: &RoleQuery,
    rp: Alias,
) -> Result<(), StoreError> {
    let s = cond.alias();
    sql.push("(").append(providers_union(cond, q)?).push(") ");
    sql.alias(s)
        .join_in_order("search_reference")
        .alias(rp)
        .push(" ON ")
        .append(cond.index_scope(rp, q.role_type))
        .push(" AND ")
        .col(rp, "param")
        .push(" = ")
        .text(q.provider_param)
        .push(" AND ")
        .col(rp, "target_id")
        .push(" = ")
        .col(s, "id")
        .push(" AND ");
    // SQLite: a unary `+` keeps the type from steering the lookup to `search_reference_reverse`
    // (tenant, target type, target first), which SQLite 3.46 preferred, and which then
    // reads every row's table entry, where `search_reference_target` covers the columns.
    let mut plus = Sql::new();
    plus.push("+");
    sql.dialect(plus, Sql::new())
        .col(rp, "target_type")
        .push(" = ")
        .text(q.provider_type);
    cond.visible(sql, q.role_type, (rp, "id"), Some(q.provider_param));
    Ok(())
}

/// `SELECT … AS id FROM … UNION SELECT …`: the distinct providers of every name criterion;
/// an error when one has no index rows to read.
fn providers_union(cond: &mut Cond, q: &RoleQuery) -> Result<Sql, StoreError> {
    let mut union = Sql::new();
    for (i, f) in q.provider_any.iter().enumerate() {
        if i > 0 {
            union.push(" UNION ");
        }
        let mut rows = Sql::new();
        let source = cond
            .index_source(&mut rows, q.provider_type, f)?
            .ok_or_else(|| super::filter::unsupported("a name criterion without index rows"))?;
        union
            .push("SELECT ")
            .col(source.id.0, source.id.1)
            .push(" AS id FROM ")
            .append(rows);
    }
    Ok(union)
}

type Row = (
    String,
    String,
    Option<String>,
    Option<f64>,
    Option<f64>,
    i64,
);

/// The relative cost of starting from one site in the area, one role of a role criterion,
/// or one provider found by name: the index probes each leads to (a site's ~4.5 roles, each
/// tested against every criterion; a role's provider, site and position; a provider's roles
/// and theirs). At 1M generated resources, 25 miles around a city (2,776 sites) took 85 ms
/// from the area and the 3,102 providers named Smith 36 ms from the name (SQLite).
const SITE_COST: i64 = 30;
const ROLE_COST: i64 = 10;
const PROVIDER_COST: i64 = 12;
/// Most sites counted in the area: beyond it any other start is taken when it is cheaper.
const AREA_PROBE: i64 = 20_000;

/// The cheapest start of `q`, from bounded counts of each candidate set's index rows (what
/// any viewer may see: a probe only chooses a plan).
async fn choose_start<B: Backend>(
    conn: &mut crate::backend::Conn<B>,
    tenant: &str,
    q: &RoleQuery<'_>,
) -> Result<Start, StoreError> {
    let Some(area) = q.area else {
        return Ok(Start::Area);
    };
    let mut cond = Cond::new(tenant, &PLAIN, Utc::now());
    let g = cond.alias();
    let mut sites = Sql::new();
    sites
        .push("SELECT ")
        .col(g, "id")
        .push(" FROM search_geo ")
        .alias(g)
        .push(" WHERE ");
    in_area(&mut sites, &cond, g, area);
    let sites = up_to(&mut cond, sites, AREA_PROBE);
    let mut best = (
        fetch_i64(&mut OnSqlx::<B::Db>(conn), &sites).await? * SITE_COST,
        Start::Area,
    );
    for (i, f) in q.role_filters.iter().enumerate() {
        let mut limit = Sql::new();
        limit.int(best.0 / ROLE_COST + 1);
        if let Some(probe) = cond.probe(q.role_type, f, limit)? {
            let cost = fetch_i64(&mut OnSqlx::<B::Db>(conn), &probe).await? * ROLE_COST;
            if cost < best.0 {
                best = (cost, Start::Role(i));
            }
        }
    }
    if !q.provider_any.is_empty() {
        // The distinct providers of every name criterion, up to what would cost more than
        // the best start so far. A criterion without index rows to read cannot be started
        // from (the query then tests it per row).
        let Ok(providers) = providers_union(&mut cond, q) else {
            return Ok(best.1);
        };
        let union = up_to(&mut cond, providers, best.0 / PROVIDER_COST + 1);
        let cost = fetch_i64(&mut OnSqlx::<B::Db>(conn), &union).await? * PROVIDER_COST;
        if cost < best.0 {
            best = (cost, Start::Providers);
        }
    }
    Ok(best.1)
}

/// `SELECT COUNT(*)` of the first `limit` rows of `select`.
fn up_to(cond: &mut Cond, select: Sql, limit: i64) -> Sql {
    let a = cond.alias();
    let mut sql = Sql::new();
    sql.push("SELECT COUNT(*) FROM (")
        .append(select)
        .push(" LIMIT ")
        .int(limit)
        .push(") ")
        .alias(a);
    sql
}

async fn role_rows<B: Backend>(
    store: &B,
    scope: Scope<'_>,
    q: &RoleQuery<'_>,
    start: Option<Start>,
) -> Result<Vec<RoleRow>, StoreError> {
    let tenant = scope.tenant();
    let mut tx = store.begin_read().await?;
    let limit = store.limit_search(&mut tx).await?;
    let conn: &mut crate::backend::Conn<B> = &mut tx;
    let sight =
        crate::rows::tenant_sight(&mut OnSqlx::<B::Db>(conn), tenant, scope.viewer()).await?;
    let start = match start {
        Some(s) => s,
        None => choose_start::<B>(conn, tenant.as_str(), q).await?,
    };
    let sql = role_rows_sql(tenant.as_str(), &sight, q, start)?;
    let rows: Vec<Row> = B::Db::fetch_all(conn, &sql).await?;
    B::search_finished(limit);
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(role_id, provider_id, site, lat, lon, flag)| RoleRow {
            role_id,
            provider: format!("{}/{provider_id}", q.provider_type),
            site: match (site, lat, lon) {
                (Some(s), Some(lat), Some(lon)) => Some((s, lat, lon)),
                _ => None,
            },
            role_specialty: flag != 0,
        })
        .collect())
}

impl Store {
    /// The roles that qualify for `q`, as `scope`'s viewer may see them (at most
    /// `q.limit` rows; a role appears once per site in the area).
    pub async fn find_roles(
        &self,
        scope: impl Into<Scope<'_>>,
        q: &RoleQuery<'_>,
    ) -> Result<Vec<RoleRow>, StoreError> {
        let scope = scope.into();
        dispatch!(self, s => role_rows(s, scope, q, None).await)
    }

    /// [`Store::find_roles`] from `start` rather than the cheapest start: the same rows, at
    /// another cost (for tests and measurements). A start `q` cannot have (a role criterion
    /// or names without index rows) is an [`StoreError::UnsupportedSearch`]; without an area
    /// there is one start, the roles' provider references, whatever `start` says.
    pub async fn find_roles_from(
        &self,
        scope: impl Into<Scope<'_>>,
        q: &RoleQuery<'_>,
        start: Start,
    ) -> Result<Vec<RoleRow>, StoreError> {
        let scope = scope.into();
        dispatch!(self, s => role_rows(s, scope, q, Some(start)).await)
    }
}

/// Ids per statement of [`Store::index_strings`].
const IDS_PER_STATEMENT: usize = 500;

/// `SELECT id, value_norm` of the string index rows of `param` of the resources `ids`, as
/// `sight`'s viewer may see them.
pub(crate) fn index_strings_sql(
    tenant: &str,
    sight: &Sight,
    resource_type: &str,
    param: &str,
    ids: &[&str],
) -> Sql {
    let mut cond = Cond::new(tenant, sight, Utc::now());
    let x = cond.alias();
    let mut sql = Sql::new();
    sql.push("SELECT ")
        .col(x, "id")
        .push(", ")
        .col(x, "value_norm")
        .push(" FROM search_string ")
        .alias(x)
        .push(" WHERE ")
        .append(cond.index_scope(x, resource_type))
        .push(" AND ")
        .col(x, "param")
        .push(" = ")
        .text(param)
        .push(" AND ")
        .col(x, "id")
        .push(" IN ")
        .text_list(ids.iter().copied());
    cond.visible(&mut sql, resource_type, (x, "id"), Some(param));
    sql
}

async fn index_strings<B: Backend>(
    store: &B,
    scope: Scope<'_>,
    resource_type: &str,
    param: &str,
    ids: &[&str],
) -> Result<Vec<(String, String)>, StoreError> {
    let tenant = scope.tenant();
    let mut tx = store.begin_read().await?;
    let conn: &mut crate::backend::Conn<B> = &mut tx;
    let sight =
        crate::rows::tenant_sight(&mut OnSqlx::<B::Db>(conn), tenant, scope.viewer()).await?;
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let sql = index_strings_sql(tenant.as_str(), &sight, resource_type, param, chunk);
        out.extend(B::Db::fetch_all::<(String, String)>(conn, &sql).await?);
    }
    tx.commit().await?;
    Ok(out)
}

impl Store {
    /// The normalized values (`value_norm`) of the string parameter `param` of the resources
    /// `ids` of `resource_type`, as `scope`'s viewer may see them: `(id, value)` rows (the
    /// finder reads the providers' names this way, without their bodies).
    pub async fn index_strings(
        &self,
        scope: impl Into<Scope<'_>>,
        resource_type: &str,
        param: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let scope = scope.into();
        dispatch!(self, s => index_strings(s, scope, resource_type, param, ids).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conformance::Registry;
    use search::SearchQuery;

    fn filters(rt: &str, query: &str) -> Vec<Filter> {
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let q = SearchQuery::parse(rt, &pairs, &Registry::builtin()).expect("query parses");
        q.criteria.into_iter().map(|c| c.filter).collect()
    }

    /// The candidate SQL of the two common shapes from each start, as golden files (see `golden_sql.rs`).
    #[test]
    fn candidate_sql_matches_the_golden_files() {
        let role = filters(
            "PractitionerRole",
            "network=Organization/n1&active:not=false",
        );
        let specialty = filters("PractitionerRole", "specialty=207Q00000X");
        let qualification = filters("Practitioner", "qualification-code=207Q00000X");
        let names = filters("Practitioner", "name=smi&phonetic=smith");
        let provider_all = filters("Practitioner", "active:not=false");
        let area = Some((41.4, 42.1, -73.2, -72.2));
        let base = RoleQuery {
            role_type: "PractitionerRole",
            provider_type: "Practitioner",
            provider_param: "practitioner",
            location_param: "location",
            role_filters: &role,
            specialty: specialty.first(),
            qualification: qualification.first(),
            provider_all: &provider_all,
            provider_any: &[],
            area,
            limit: 20_001,
        };
        let named = RoleQuery {
            role_filters: &role[1..],
            specialty: None,
            qualification: None,
            provider_any: &names,
            ..base.clone()
        };
        let cases = [
            (
                "finder_specialty_area",
                restrict::Seer::Everything,
                base.clone(),
                Start::Area,
            ),
            (
                "finder_specialty_network_area",
                restrict::Seer::Everything,
                base.clone(),
                Start::Role(0),
            ),
            (
                "finder_specialty_area_anonymous",
                restrict::Seer::Nothing,
                base.clone(),
                Start::Area,
            ),
            (
                "finder_name_area",
                restrict::Seer::Everything,
                named.clone(),
                Start::Providers,
            ),
            (
                "finder_name_area_anonymous",
                restrict::Seer::Nothing,
                named,
                Start::Providers,
            ),
            (
                "finder_name",
                restrict::Seer::Everything,
                RoleQuery {
                    role_filters: &role[..1],
                    specialty: None,
                    qualification: None,
                    provider_any: &names,
                    area: None,
                    ..base.clone()
                },
                Start::Area,
            ),
        ];
        for (name, seer, q, start) in cases {
            // Anonymous in a tenant with restricted content; otherwise in one without.
            let restricted = seer == restrict::Seer::Nothing;
            let (text, args) = role_rows_sql("default", &Sight::new(seer, restricted), &q, start)
                .expect("sql")
                .debug();
            let got = format!("-- {name}\n{text}\n-- binds: {args:?}\n");
            crate::search::golden_sql::check_golden(name, &got);
        }
    }
}
