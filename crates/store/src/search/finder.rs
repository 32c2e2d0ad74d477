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
//! With an area the query starts from the sites in its box (`search_geo`), then their roles
//! (`search_reference_target`), then each role's provider; without one, from the roles'
//! provider references, narrowed by the provider's criteria when there are some (an `IN`
//! set the database builds from their index first).

use chrono::Utc;
use search::Filter;

use super::filter::Cond;
use super::sql::Sql;
use crate::backend::Backend;
use crate::db::SqlDb;
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
    /// The area's box, `(lat_min, lat_max, lon_min, lon_max)`, in degrees; the caller
    /// measures each returned position exactly.
    pub area: Option<(f64, f64, f64, f64)>,
    /// Most rows returned.
    pub limit: usize,
}

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

/// The SQL of `q` for the viewer `seer` in `tenant`.
pub(crate) fn role_rows_sql(
    tenant: &str,
    seer: &restrict::Seer,
    q: &RoleQuery,
) -> Result<Sql, StoreError> {
    let mut cond = Cond::new(tenant, seer, Utc::now());
    // Every criterion is a set the database builds once from its index. The role's (a
    // network's roles, a specialty's) may be where it starts, when they are smaller than the
    // area's roles. The provider's (a name's prefix range or Soundex code, a qualification)
    // are nationwide: with an area they are probed for each site's role and never where it
    // starts ([`Cond::filter_set`]), or it would look up the sites of every namesake.
    let area = q.area.is_some();
    let provider_test = |cond: &mut Cond, sql: &mut Sql, ty: &str, id, f: &Filter| {
        if area {
            cond.filter_set(sql, ty, id, f)
        } else {
            cond.filter(sql, ty, id, f)
        }
    };
    let (g, rl, rp) = (cond.alias(), cond.alias(), cond.alias());
    let mut sql = Sql::new();
    sql.push("SELECT ")
        .col(rp, "id")
        .push(", ")
        .col(rp, "target_id")
        .push(", ");
    if q.area.is_some() {
        sql.col(g, "id")
            .push(", ")
            .col(g, "lat")
            .push(", ")
            .col(g, "lon")
            .push(", ");
    } else {
        sql.push(
            "CAST(NULL AS TEXT), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), ",
        );
    }
    match q.specialty {
        Some(f) => {
            let mut flag = Sql::new();
            cond.filter(&mut flag, q.role_type, (rp, "id"), f)?;
            sql.push("(CASE WHEN ")
                .append(flag)
                .push(" THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END)");
        }
        None => {
            sql.push("CAST(0 AS BIGINT)");
        }
    }
    sql.push(" FROM ");
    match q.area {
        Some((lat_min, lat_max, lon_min, lon_max)) => {
            // Sites in the box, their roles, each role's provider reference.
            sql.push("search_geo ")
                .alias(g)
                .push(" JOIN search_reference ")
                .alias(rl)
                .push(" ON ")
                .scope_rows(rl, tenant, q.role_type)
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
            cond.visible(&mut sql, q.role_type, (rl, "id"), Some(q.location_param));
            sql.push(" JOIN search_reference ").alias(rp).push(" ON ");
            cond.scope(&mut sql, rp, q.role_type, q.provider_param, (rl, "id"));
            sql.push(" WHERE ")
                .scope_rows(g, tenant, "Location")
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
            cond.visible(&mut sql, "Location", (g, "id"), Some("near"));
        }
        None => {
            sql.push("search_reference ")
                .alias(rp)
                .push(" WHERE ")
                .scope_rows(rp, tenant, q.role_type)
                .push(" AND ")
                .col(rp, "param")
                .push(" = ")
                .text(q.provider_param);
            cond.visible(&mut sql, q.role_type, (rp, "id"), Some(q.provider_param));
        }
    }
    sql.push(" AND ")
        .col(rp, "target_type")
        .push(" = ")
        .text(q.provider_type);
    for f in q.role_filters {
        sql.push(" AND ");
        cond.filter(&mut sql, q.role_type, (rp, "id"), f)?;
    }
    match (q.specialty, q.qualification) {
        (Some(s), Some(p)) => {
            sql.push(" AND (");
            cond.filter(&mut sql, q.role_type, (rp, "id"), s)?;
            sql.push(" OR ");
            provider_test(&mut cond, &mut sql, q.provider_type, (rp, "target_id"), p)?;
            sql.push(")");
        }
        (Some(s), None) => {
            sql.push(" AND ");
            cond.filter(&mut sql, q.role_type, (rp, "id"), s)?;
        }
        (None, Some(p)) => {
            sql.push(" AND ");
            provider_test(&mut cond, &mut sql, q.provider_type, (rp, "target_id"), p)?;
        }
        (None, None) => {}
    }
    if !q.provider_any.is_empty() {
        sql.push(" AND (");
        for (i, f) in q.provider_any.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            provider_test(&mut cond, &mut sql, q.provider_type, (rp, "target_id"), f)?;
        }
        sql.push(")");
    }
    for f in q.provider_all {
        sql.push(" AND ");
        provider_test(&mut cond, &mut sql, q.provider_type, (rp, "target_id"), f)?;
    }
    // Last, on the rows every criterion kept (it reads the provider's resource row, the
    // costliest test): the provider exists, is live, and the viewer may see it.
    sql.push(" AND ");
    cond.live(&mut sql, q.provider_type, (rp, "target_id"));
    sql.push(" LIMIT ")
        .int(i64::try_from(q.limit).unwrap_or(i64::MAX));
    Ok(sql)
}

type Row = (
    String,
    String,
    Option<String>,
    Option<f64>,
    Option<f64>,
    i64,
);

async fn role_rows<B: Backend>(
    store: &B,
    scope: Scope<'_>,
    q: &RoleQuery<'_>,
) -> Result<Vec<RoleRow>, StoreError> {
    let tenant = scope.tenant();
    let seer = restrict::Seer::of(scope.viewer());
    let sql = role_rows_sql(tenant.as_str(), &seer, q)?;
    let mut tx = store.begin_read().await?;
    let limit = store.limit_search(&mut tx).await?;
    let conn: &mut crate::backend::Conn<B> = &mut tx;
    crate::rows::require_tenant::<B>(conn, tenant).await?;
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
        dispatch!(self, s => role_rows(s, scope, q).await)
    }
}

/// Ids per statement of [`Store::index_strings`].
const IDS_PER_STATEMENT: usize = 500;

/// `SELECT id, value_norm` of the string index rows of `param` of the resources `ids`, as
/// `seer` may see them.
pub(crate) fn index_strings_sql(
    tenant: &str,
    seer: &restrict::Seer,
    resource_type: &str,
    param: &str,
    ids: &[&str],
) -> Sql {
    let mut cond = Cond::new(tenant, seer, Utc::now());
    let x = cond.alias();
    let mut sql = Sql::new();
    sql.push("SELECT ")
        .col(x, "id")
        .push(", ")
        .col(x, "value_norm")
        .push(" FROM search_string ")
        .alias(x)
        .push(" WHERE ")
        .scope_rows(x, tenant, resource_type)
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
    let seer = restrict::Seer::of(scope.viewer());
    let mut tx = store.begin_read().await?;
    let conn: &mut crate::backend::Conn<B> = &mut tx;
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let sql = index_strings_sql(tenant.as_str(), &seer, resource_type, param, chunk);
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

    /// The candidate SQL of the two common shapes, as golden files (see `golden_sql.rs`).
    #[test]
    fn candidate_sql_matches_the_golden_files() {
        let role = filters(
            "PractitionerRole",
            "network=Organization/n1&active:not=false",
        );
        let specialty = filters("PractitionerRole", "specialty=207Q00000X");
        let qualification = filters("Practitioner", "qualification-code=207Q00000X");
        let names = filters("Practitioner", "name=smith&phonetic=smith&name=smi");
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
        let cases = [
            (
                "finder_specialty_area",
                restrict::Seer::Everything,
                base.clone(),
            ),
            (
                "finder_specialty_area_anonymous",
                restrict::Seer::Nothing,
                base.clone(),
            ),
            (
                "finder_name_area",
                restrict::Seer::Everything,
                RoleQuery {
                    role_filters: &role[1..],
                    specialty: None,
                    qualification: None,
                    provider_any: &names,
                    ..base.clone()
                },
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
            ),
        ];
        for (name, seer, q) in cases {
            let (text, args) = role_rows_sql("default", &seer, &q).expect("sql").debug();
            let got = format!("-- {name}\n{text}\n-- binds: {args:?}\n");
            crate::search::golden_sql::check_golden(name, &got);
        }
    }
}
