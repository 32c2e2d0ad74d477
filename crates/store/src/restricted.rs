//! Restricted content inside the store: the one rule of [`restrict::visibility`], applied in
//! every query that reads a tenant's resources, so that what a viewer may not see never takes
//! a place in a page, a total, a chain, a `_has`, an include, a history page, or a
//! conditional write's match.
//!
//! Kept when a resource is written ([`save`], tables of migration 0012): its policy, the
//! [`restrict::Gate`] of the whole resource and of its restricted elements, the provisions of
//! those gates, the search parameters whose values come from restricted elements, and the
//! stored Restrictions it cites.
//!
//! Read in two forms:
//! - in SQL ([`visible_terms`]): appended to every index-row and resource-row access of a search,
//!   a resource whose whole gate is closed to the viewer has no rows, and a resource whose
//!   element gate is closed has no rows for the parameters its restricted elements feed (its
//!   other values still match); nothing is appended for viewers who see everything, so they
//!   pay nothing;
//! - in Rust ([`apply`]): a fetched version is dropped when hidden and redacted when some of
//!   its elements are ([`restrict::redact`]), using the resource's *current* policy, so a
//!   version written before a restriction is hidden like the current one.
//!
//! Index rows of restricted content are kept apart ([`shadow_tenant`]): written under the
//! tenant's shadow key instead of its name, so that the searches of a viewer who may see none
//! of it (anonymous callers) read only the tenant's own key and test nothing per row. Which
//! rows: every row of a resource whose whole gate is not open, and the rows of the parameters
//! its restricted elements feed ([`HiddenRows`]). Written so by the write itself, and moved
//! ([`rekey_statements`]) when a policy changes without a write (a stored Restriction or the
//! tenant's settings changed) or rows are rewritten without one (a reindex).
//!
//! Later channels (bulk export, subscription notifications, `$match`) must read through
//! [`crate::Scope`] and these two functions too; nothing else knows the rule.

use restrict::{Access, Gate, Restrictions, Seer, Viewer, Visibility};

use crate::search::{delete_statements, Alias, Sql, INDEX_TABLES};
use crate::{StoreError, VersionRecord};

/// The pseudo-parameters of `_text` and `_content`: they read the resource body, which holds
/// the restricted elements' values, so a resource with restricted elements never matches them
/// for a viewer its element gate refuses.
pub(crate) const BODY_PARAMS: [&str; 2] = ["_text", "_content"];

/// What a write saves about one resource's restrictions.
#[derive(Debug, Clone, PartialEq)]
pub struct RestrictionWrite {
    pub resource_type: String,
    pub id: String,
    /// Its policy; empty: unrestricted (any rows it had are removed).
    pub policy: Restrictions,
    /// The search parameters fed (partly) by its restricted elements.
    pub params: Vec<String>,
    /// Its first version was just written: it has no rows to replace (an import of new
    /// resources then costs no statement here).
    pub fresh: bool,
    /// Its index rows were not written with this policy (it was recomputed because a stored
    /// Restriction or the tenant's settings changed): they are moved to the keys it gives.
    pub rekey: bool,
}

impl RestrictionWrite {
    /// The index rows this policy keeps under the shadow key.
    pub fn hidden_rows(&self) -> HiddenRows {
        if self.policy.is_empty() {
            HiddenRows::None
        } else if self.policy.whole_gate().access != Access::Open {
            HiddenRows::All
        } else if self.policy.element_gate().access != Access::Open {
            HiddenRows::Params(self.params.clone())
        } else {
            HiddenRows::None
        }
    }
}

/// Which index rows of a resource hold restricted content (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HiddenRows {
    #[default]
    None,
    /// Every row: the whole resource is restricted.
    All,
    /// The rows of these parameters (a composite's component rows, `{code}$…`, with it).
    Params(Vec<String>),
}

impl HiddenRows {
    /// Whether the rows of parameter `param` are hidden.
    pub(crate) fn hides(&self, param: &str) -> bool {
        match self {
            HiddenRows::None => false,
            HiddenRows::All => true,
            HiddenRows::Params(params) => params.iter().any(|p| {
                param
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('$'))
            }),
        }
    }
}

/// The key under which the index rows of `tenant`'s restricted content are kept in place of
/// the tenant's name. A tenant name has no `~` ([`crate::TenantName::parse`]), so no tenant
/// can own it.
pub(crate) fn shadow_tenant(tenant: &str) -> String {
    format!("{tenant}~restricted")
}

/// The rows under the tenant's own key, unfiltered: for probes, which only choose a plan.
pub(crate) static PLAIN: Sight = Sight {
    seer: Seer::Everything,
    shadow: false,
};

/// How the statements of one search see a tenant's restricted content: who looks, and
/// whether they read the shadow key too.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sight {
    pub seer: Seer,
    /// Index rows are read under the shadow key as well as the tenant's own (and tested);
    /// otherwise only under the tenant's own, where no row is restricted.
    pub shadow: bool,
}

impl Sight {
    /// For `seer` in a tenant that holds restricted content (`restricted`) or none: in one
    /// without any, everything there is may be seen and no row is under the shadow key; in
    /// one with some, an anonymous viewer sees none of it and reads none of its rows.
    pub fn new(seer: Seer, restricted: bool) -> Sight {
        match seer {
            _ if !restricted => Sight {
                seer: Seer::Everything,
                shadow: false,
            },
            Seer::Nothing => Sight {
                seer,
                shadow: false,
            },
            seer => Sight { seer, shadow: true },
        }
    }

    /// Appends `x.tenant = ?` (or `x.tenant IN (?, ?)` with the shadow key): the index rows of
    /// `tenant` this sight reads.
    pub fn index_tenant(&self, sql: &mut Sql, x: Alias, tenant: &str) {
        sql.col(x, "tenant");
        if self.shadow {
            sql.push(" IN (")
                .text(tenant)
                .push(", ")
                .text(shadow_tenant(tenant))
                .push(")");
        } else {
            sql.push(" = ").text(tenant);
        }
    }
}

/// A value of a visibility test: bound text, or a column of the enclosing query.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Term<'a> {
    Text(&'a str),
    Col(Alias, &'static str),
    /// A column written as is (`v.id`, for queries with fixed aliases).
    Raw(&'static str),
}

impl Term<'_> {
    fn push(self, sql: &mut Sql) {
        match self {
            Term::Text(t) => sql.text(t),
            Term::Col(a, c) => sql.col(a, c),
            Term::Raw(c) => sql.push(c),
        };
    }
}

/// Appends ` AND (…)`: the row of `resource_type/<id>` (and, with `param`, its index rows of
/// that parameter) is one `sight`'s viewer may see. Nothing for [`Seer::Everything`], nor for
/// index rows read under the tenant's own key only (none of them is restricted). The type and
/// parameter are bound text for a search's rows, columns for an include's.
pub(crate) fn visible_terms(
    sql: &mut Sql,
    sight: &Sight,
    tenant: &str,
    resource_type: Term,
    id: Term,
    param: Option<Term>,
) {
    let seer = &sight.seer;
    if *seer == Seer::Everything {
        return;
    }
    let body = matches!(param, Some(Term::Text(p)) if BODY_PARAMS.contains(&p));
    if param.is_some() && !body && !sight.shadow {
        // Index rows under the tenant's own key: none of them is restricted.
        return;
    }
    // Each test first asks whether the tenant has such restrictions at all (of the type, and
    // for the parameter, when they are known): an uncorrelated test the databases evaluate once
    // per statement (SQLite `OP_Once`, a Postgres InitPlan), so a tenant, type or parameter
    // without restrictions pays no lookup per row; and the two tests are separate, so a
    // parameter no restricted element feeds never looks at element gates.
    sql.push(" AND (NOT EXISTS (SELECT 1 FROM restrictions rq WHERE rq.tenant = ")
        .text(tenant);
    if let Term::Text(t) = resource_type {
        sql.push(" AND rq.res_type = ").text(t);
    }
    sql.push(" AND rq.whole_access > 0) OR ");
    let uncorrelated = matches!(resource_type, Term::Text(_));
    per_row(sql, uncorrelated, id, "rh.id", |sql, correlated| {
        sql.push("restrictions rh WHERE rh.tenant = ")
            .text(tenant)
            .push(" AND rh.res_type = ");
        resource_type.push(sql);
        if correlated {
            sql.push(" AND rh.id = ");
            id.push(sql);
        }
        sql.push(" AND ");
        closed(sql, seer, 0);
    });
    sql.push(")");
    let Some(param) = param else {
        return;
    };
    // With the type and parameter read from a row (includes), this test is per row, through
    // the (tenant, type, parameter) index.
    sql.push(" AND (NOT EXISTS (SELECT 1 FROM restricted_params rq WHERE rq.tenant = ")
        .text(tenant)
        .push(" AND rq.res_type = ");
    resource_type.push(sql);
    sql.push(" AND rq.param = ");
    param.push(sql);
    sql.push(") OR ");
    let uncorrelated = uncorrelated && matches!(param, Term::Text(_));
    per_row(sql, uncorrelated, id, "rp.id", |sql, correlated| {
        sql.push("restricted_params rp, restrictions rh WHERE rp.tenant = ")
            .text(tenant)
            .push(" AND rp.res_type = ");
        resource_type.push(sql);
        sql.push(" AND rp.param = ");
        param.push(sql);
        if correlated {
            sql.push(" AND rp.id = ");
            id.push(sql);
        }
        sql.push(" AND rh.tenant = rp.tenant AND rh.res_type = rp.res_type AND rh.id = rp.id AND ");
        closed(sql, seer, 1);
    });
    sql.push(")");
}

/// Appends the per-row half of a visibility test: `<id>` is not among the hidden ids that
/// `hidden` selects (it appends `<table> … WHERE <conditions>`, with the id condition when told
/// the test is correlated; `hidden_id` is the hidden ids' column).
///
/// SQLite, when the hidden ids do not depend on the row: `<id> NOT IN (SELECT …)`, a set built
/// once per statement and probed per row, which costs SQLite's virtual machine far less than
/// running a correlated subquery per row (index walks read thousands of rows). Postgres, and
/// any test reading the type or parameter from the row: a correlated `NOT EXISTS`, which
/// Postgres plans as an anti-join whatever the number of hidden ids (its `NOT IN` falls back
/// to rescanning the subquery per row when the set outgrows `work_mem`).
fn per_row(
    sql: &mut Sql,
    uncorrelated: bool,
    id: Term,
    hidden_id: &'static str,
    hidden: impl Fn(&mut Sql, bool),
) {
    let mut exists = Sql::new();
    exists.push("NOT EXISTS (SELECT 1 FROM ");
    hidden(&mut exists, true);
    exists.push(")");
    if !uncorrelated {
        sql.append(exists);
        return;
    }
    let mut set = Sql::new();
    id.push(&mut set);
    set.push(" NOT IN (SELECT ");
    let mut from = Sql::new();
    hidden(&mut from, false);
    set.push(hidden_id).push(" FROM ").append(from).push(")");
    sql.dialect(set, exists);
}

/// A condition on `rh`: gate `gate` (0 whole, 1 elements) is closed to `seer`.
fn closed(sql: &mut Sql, seer: &Seer, gate: i64) {
    let (access, rules) = if gate == 0 {
        ("rh.whole_access", "rh.whole_rules")
    } else {
        ("rh.element_access", "rh.element_rules")
    };
    let Seer::Client {
        organizations,
        purposes,
    } = seer
    else {
        // Anonymous: every gate but an open one is closed.
        sql.push(access).push(" > 0");
        return;
    };
    if organizations.is_empty() {
        // No provision can name a client without an organization.
        sql.push(access).push(" >= ").int(Access::Provisions.code());
        return;
    }
    sql.push("(")
        .push(access)
        .push(" = ")
        .int(Access::Privileged.code())
        .push(" OR (")
        .push(access)
        .push(" = ")
        .int(Access::Provisions.code())
        .push(" AND (EXISTS (SELECT 1 FROM restriction_provisions rv WHERE ");
    matching_provisions(sql, gate, false, organizations, purposes);
    sql.push(") OR (SELECT COUNT(DISTINCT rv.rule) FROM restriction_provisions rv WHERE ");
    matching_provisions(sql, gate, true, organizations, purposes);
    sql.push(") < ").push(rules).push(")))");
}

/// The provisions of `rh`'s gate `gate` that match the client, permits or denies.
fn matching_provisions(
    sql: &mut Sql,
    gate: i64,
    permit: bool,
    organizations: &[String],
    purposes: &[String],
) {
    sql.push(
        "rv.tenant = rh.tenant AND rv.res_type = rh.res_type AND rv.id = rh.id AND rv.gate = ",
    )
    .int(gate)
    .push(if permit {
        " AND rv.permit"
    } else {
        " AND NOT rv.permit"
    })
    .push(" AND rv.actor IN ")
    .text_list(organizations.iter().map(String::as_str))
    .push(" AND (rv.purpose IS NULL");
    if !purposes.is_empty() {
        sql.push(" OR rv.purpose IN ")
            .text_list(purposes.iter().map(String::as_str));
    }
    sql.push(")");
}

/// Appends `, <policy> AS policy` for the record row whose columns `col` writes (`t.tenant`
/// for `col(sql, "tenant")`): its policy when `seer` may be refused some of it, else NULL (no
/// lookup for viewers who see everything).
pub(crate) fn policy_column(sql: &mut Sql, seer: &Seer, col: impl Fn(&mut Sql, &'static str)) {
    if *seer == Seer::Everything {
        sql.push(", NULL AS policy");
        return;
    }
    sql.push(", (SELECT rh.policy FROM restrictions rh WHERE rh.tenant = ");
    col(sql, "tenant");
    sql.push(" AND rh.res_type = ");
    col(sql, "res_type");
    sql.push(" AND rh.id = ");
    col(sql, "id");
    sql.push(") AS policy");
}

/// What `viewer` may see of `record`, whose resource's current policy is `policy` (JSON of
/// [`Restrictions`]; None: unrestricted): None when hidden, the record redacted when some
/// elements are. A policy that cannot be read hides the record (fail closed).
pub(crate) fn apply(
    record: VersionRecord,
    policy: Option<&str>,
    viewer: &Viewer,
) -> Result<Option<VersionRecord>, StoreError> {
    let Some(policy) = policy.filter(|_| !viewer.sees_everything()) else {
        return Ok(Some(record));
    };
    let Ok(policy) = serde_json::from_str::<Restrictions>(policy) else {
        tracing::error!(
            resource = %format!("{}/{}", record.resource_type, record.id),
            "unreadable restriction policy: the resource is hidden"
        );
        return Ok(None);
    };
    match restrict::visibility(&policy, viewer) {
        Visibility::Whole => Ok(Some(record)),
        Visibility::Hidden => Ok(None),
        Visibility::Redacted(paths) => {
            let mut record = record;
            if let Some(body) = &record.body {
                let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
                let mut value: serde_json::Value = serde_json::from_str(body).map_err(corrupt)?;
                restrict::redact(&mut value, &paths);
                record.body = Some(serde_json::to_string(&value).map_err(corrupt)?);
            }
            Ok(Some(record))
        }
    }
}

/// [`apply`] to each row of a page: the records `viewer` may see, as it may see them.
pub(crate) fn apply_rows(
    rows: Vec<crate::search::PageRow>,
    viewer: &Viewer,
) -> Result<Vec<VersionRecord>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.extend(apply(r.record, r.policy.as_deref(), viewer)?);
    }
    Ok(out)
}

/// The tables keyed by (tenant, type, id) that hold what [`save_statements`] saves.
pub(crate) const RESTRICTION_TABLES: &[&str] = &[
    "restrictions",
    "restricted_params",
    "restriction_provisions",
    "restriction_cites",
];

/// Statements replacing the restriction rows of `writes` (all of them removed first, then the
/// restricted ones inserted), on the caller's write transaction. A resource written twice in
/// one batch (an import file may hold two versions) keeps only its last write.
pub(crate) fn save_statements(tenant: &str, writes: &[RestrictionWrite]) -> Vec<Sql> {
    let mut seen = std::collections::HashSet::new();
    let last: Vec<&RestrictionWrite> = writes
        .iter()
        .rev()
        .filter(|w| seen.insert((w.resource_type.as_str(), w.id.as_str())))
        .collect();
    let mut by_type: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for w in last.iter().filter(|w| !w.fresh) {
        by_type.entry(&w.resource_type).or_default().push(&w.id);
    }
    let mut out = Vec::new();
    for (resource_type, ids) in &by_type {
        out.extend(delete_statements(
            RESTRICTION_TABLES,
            tenant,
            resource_type,
            ids,
        ));
    }
    let mut rekeyed: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for w in last.iter().filter(|w| w.rekey) {
        rekeyed.entry(&w.resource_type).or_default().push(&w.id);
    }
    for w in last.into_iter().rev() {
        insert_statements(tenant, w, &mut out);
    }
    for (resource_type, ids) in &rekeyed {
        out.extend(rekey_statements(tenant, resource_type, ids));
    }
    out
}

/// Statements moving the index rows of `ids` (of `resource_type`) to the keys their saved
/// policies give (the module documentation): every row back under the tenant's own key, then
/// those of a resource whose whole gate is not open, or of a parameter in its
/// `restricted_params`, under the shadow key. Run after the policies are saved.
pub(crate) fn rekey_statements(tenant: &str, resource_type: &str, ids: &[&str]) -> Vec<Sql> {
    let shadow = shadow_tenant(tenant);
    let mut out = Vec::new();
    for chunk in ids.chunks(MAX_REKEYED) {
        for table in INDEX_TABLES {
            let mut sql = Sql::new();
            sql.push("UPDATE ")
                .push(table)
                .push(" SET tenant = ")
                .text(tenant)
                .push(" WHERE tenant = ")
                .text(&shadow)
                .push(" AND res_type = ")
                .text(resource_type)
                .push(" AND id IN ")
                .text_list(chunk.iter().copied());
            out.push(sql);
            // `table` names the row being updated inside the subqueries (both databases
            // accept the table's own name there).
            let mut sql = Sql::new();
            sql.push("UPDATE ")
                .push(table)
                .push(" SET tenant = ")
                .text(&shadow)
                .push(" WHERE tenant = ")
                .text(tenant)
                .push(" AND res_type = ")
                .text(resource_type)
                .push(" AND id IN ")
                .text_list(chunk.iter().copied())
                .push(" AND (EXISTS (SELECT 1 FROM restrictions rh WHERE rh.tenant = ")
                .text(tenant)
                .push(" AND rh.res_type = ")
                .push(table)
                .push(".res_type AND rh.id = ")
                .push(table)
                .push(".id AND rh.whole_access > 0) OR EXISTS (SELECT 1 FROM restricted_params rp WHERE rp.tenant = ")
                .text(tenant)
                .push(" AND rp.res_type = ")
                .push(table)
                .push(".res_type AND rp.id = ")
                .push(table)
                .push(".id AND (rp.param = ")
                .push(table)
                .push(".param OR substr(")
                .push(table)
                .push(".param, 1, length(rp.param) + 1) = rp.param || '$')))");
            out.push(sql);
        }
    }
    out
}

/// Most ids one [`rekey_statements`] statement binds.
const MAX_REKEYED: usize = 1_000;

fn insert_statements(tenant: &str, w: &RestrictionWrite, out: &mut Vec<Sql>) {
    let key = |sql: &mut Sql| {
        sql.text(tenant)
            .push(", ")
            .text(&w.resource_type)
            .push(", ")
            .text(&w.id);
    };
    for consent in w.policy.cites() {
        let mut sql = Sql::new();
        sql.push("INSERT INTO restriction_cites (tenant, res_type, id, consent_id) VALUES (");
        key(&mut sql);
        sql.push(", ").text(consent).push(")");
        out.push(sql);
    }
    if w.policy.is_empty() {
        return;
    }
    let (whole, elements) = (w.policy.whole_gate(), w.policy.element_gate());
    let policy = serde_json::to_string(&w.policy).unwrap_or_else(|_| "{".to_owned());
    let mut sql = Sql::new();
    sql.push(
        "INSERT INTO restrictions (tenant, res_type, id, policy, whole_access, whole_rules, \
         element_access, element_rules) VALUES (",
    );
    key(&mut sql);
    sql.push(", ")
        .text(&policy)
        .push(", ")
        .int(whole.access.code())
        .push(", ")
        .int(whole.rules)
        .push(", ")
        .int(elements.access.code())
        .push(", ")
        .int(elements.rules)
        .push(")");
    out.push(sql);
    if elements.access != Access::Open {
        let mut params: Vec<&str> = w.params.iter().map(String::as_str).collect();
        params.extend(BODY_PARAMS);
        params.sort_unstable();
        params.dedup();
        for param in params {
            let mut sql = Sql::new();
            sql.push("INSERT INTO restricted_params (tenant, res_type, id, param) VALUES (");
            key(&mut sql);
            sql.push(", ").text(param).push(")");
            out.push(sql);
        }
    }
    for (gate, g) in [(0, &whole), (1, &elements)] {
        provision_statements(&key, gate, g, out);
    }
}

fn provision_statements(key: &dyn Fn(&mut Sql), gate: i64, g: &Gate, out: &mut Vec<Sql>) {
    for p in &g.provisions {
        let mut sql = Sql::new();
        sql.push(
            "INSERT INTO restriction_provisions (tenant, res_type, id, gate, rule, permit, \
             actor, purpose) VALUES (",
        );
        key(&mut sql);
        sql.push(", ")
            .int(gate)
            .push(", ")
            .int(p.rule)
            .push(", ")
            .bool(p.permit)
            .push(", ")
            .text(&p.actor)
            .push(", ")
            .opt_text(p.purpose.clone())
            .push(")");
        out.push(sql);
    }
}

/// `SELECT res_type, id, policy` of those of `ids` (of `resource_type`) with restricted
/// elements.
pub(crate) fn element_policies(tenant: &str, resource_type: &str, ids: &[&str]) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT res_type, id, policy FROM restrictions WHERE tenant = ")
        .text(tenant)
        .push(" AND res_type = ")
        .text(resource_type)
        .push(" AND element_access > 0 AND id IN ")
        .text_list(ids.iter().copied());
    sql
}

/// Adds a restricted parameter of a resource (kept if already there).
pub(crate) fn add_param(tenant: &str, resource_type: &str, id: &str, param: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("INSERT INTO restricted_params (tenant, res_type, id, param) VALUES (")
        .text(tenant)
        .push(", ")
        .text(resource_type)
        .push(", ")
        .text(id)
        .push(", ")
        .text(param)
        .push(") ON CONFLICT DO NOTHING");
    sql
}

/// `SELECT settings` of the tenant's restriction settings.
pub(crate) fn settings_of(tenant: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT settings FROM tenant_restriction_settings WHERE tenant = ")
        .text(tenant);
    sql
}

/// Replaces the tenant's restriction settings.
pub(crate) fn set_settings(tenant: &str, settings: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("INSERT INTO tenant_restriction_settings (tenant, settings) VALUES (")
        .text(tenant)
        .push(", ")
        .text(settings)
        .push(") ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings");
    sql
}

/// `SELECT DISTINCT res_type, id` of the live resources with a confidentiality label
/// (`_security` index rows of the v3 Confidentiality system).
pub(crate) fn labelled(tenant: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT DISTINCT res_type, id FROM search_token WHERE tenant IN (")
        .text(tenant)
        .push(", ")
        .text(shadow_tenant(tenant))
        .push(") AND param = '_security' AND system = ")
        .text(restrict::CONFIDENTIALITY_SYSTEM)
        .push(" ORDER BY res_type, id");
    sql
}

/// `SELECT policy` of one resource.
pub(crate) fn policy_of(tenant: &str, resource_type: &str, id: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT policy FROM restrictions WHERE tenant = ")
        .text(tenant)
        .push(" AND res_type = ")
        .text(resource_type)
        .push(" AND id = ")
        .text(id);
    sql
}

/// `SELECT res_type, id` of the resources citing the stored Restriction `consent`
/// (`Consent/id`).
pub(crate) fn citing(tenant: &str, consent: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT res_type, id FROM restriction_cites WHERE tenant = ")
        .text(tenant)
        .push(" AND consent_id = ")
        .text(consent)
        .push(" ORDER BY res_type, id");
    sql
}
