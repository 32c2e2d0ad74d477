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
        .text(q.provider_type)
        .push(" AND ");
    // The provider exists, is live, and the viewer may see it.
    cond.live(&mut sql, q.provider_type, (rp, "target_id"));
    for f in q.role_filters {
        sql.push(" AND ");
        cond.filter(&mut sql, q.role_type, (rp, "id"), f)?;
    }
    match (q.specialty, q.qualification) {
        (Some(s), Some(p)) => {
            sql.push(" AND (");
            cond.filter(&mut sql, q.role_type, (rp, "id"), s)?;
            sql.push(" OR ");
            cond.filter(&mut sql, q.provider_type, (rp, "target_id"), p)?;
            sql.push(")");
        }
        (Some(s), None) => {
            sql.push(" AND ");
            cond.filter(&mut sql, q.role_type, (rp, "id"), s)?;
        }
        (None, Some(p)) => {
            sql.push(" AND ");
            cond.filter(&mut sql, q.provider_type, (rp, "target_id"), p)?;
        }
        (None, None) => {}
    }
    if !q.provider_any.is_empty() {
        sql.push(" AND (");
        for (i, f) in q.provider_any.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            cond.filter(&mut sql, q.provider_type, (rp, "target_id"), f)?;
        }
        sql.push(")");
    }
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
