//! Criteria -> SQL conditions: one boolean condition per [`Filter`], correlated with the
//! resource it tests through an id column, so chains and `_has` nest to any depth
//! (<https://hl7.org/fhir/R4/search.html#chaining>, <https://hl7.org/fhir/R4/search.html#has>).
//!
//! A parameter criterion is `id IN (ids with an index row matching value 1 OR value 2 …)`;
//! `:not` is the `NOT EXISTS` of the same, so resources without any value match it too;
//! `:missing` tests for any row at all. Every subquery repeats the tenant, so no condition
//! can reach another tenant's rows. The per-value conditions live in [`super::values`].
//!
//! Composite parameters pair their components' rows of one element (see
//! [`search::composite`]): rows of component 0 whose `param` starts `{code}$0$`, each other
//! component a row of the same resource with the same element suffix. `:not-in` is the
//! `NOT EXISTS` of `:in`, like `:not`. `_text` / `_content` read the resource body
//! ([`super::text_search`]).

use chrono::{DateTime, Utc};
use conformance::{SearchParamDef, SearchParamType};
use search::{Filter, Modifier, SearchValue};

use super::index_rows::Table;
use super::sql::{Alias, Sql};
use crate::restricted::{Sight, PLAIN};
use crate::StoreError;

/// A column holding a resource id: `alias.column`.
pub(crate) type IdCol = (Alias, &'static str);

/// Index rows that answer a criterion by themselves ([`Cond::index_source`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexSource {
    /// The column holding the matching resource's id.
    pub id: IdCol,
    /// The id may name a resource that does not exist or is deleted (a reference's target);
    /// otherwise the rows belong to the live resource itself.
    pub may_dangle: bool,
}

impl IndexSource {
    fn own(id: IdCol) -> IndexSource {
        IndexSource {
            id,
            may_dangle: false,
        }
    }
}

/// A membership test [`Cond::open`] opened: the visibility test it leaves for after the set
/// (type, id column, parameter), if any.
#[must_use]
pub(crate) struct Opened {
    after: Option<(String, IdCol, String)>,
}

/// Builds conditions for one tenant, handing out fresh table aliases.
#[derive(Debug)]
pub(crate) struct Cond<'t> {
    pub tenant: &'t str,
    /// Who is looking, and under which keys index rows are read: every row access leaves out
    /// what the viewer may not see ([`crate::restricted::visible_terms`]).
    pub sight: &'t Sight,
    /// The instant `ap` on dates is measured from.
    pub now: DateTime<Utc>,
    next_alias: u32,
    /// How the next positive membership test [`Cond::open`] writes is tested per row
    /// ([`Cond::filter_per_row`]); [`PerRow::Off`] for any other.
    per_row: PerRow,
}

/// How a walk ([`Cond::walk_rows`]) tests each row it reads against its inner criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PerRow {
    /// Not a walk's test: a membership test the planner may turn into a join.
    Off,
    /// Against the set of matching ids, built once (`+<id> IN (…)` on SQLite, a hashed
    /// subplan on Postgres): cheap for a small set.
    Set,
    /// By a correlated lookup of the row's id in the inner value's index rows (`EXISTS (…
    /// AND x.id = <id>)`): no set to build first, which for an inner value of tens of
    /// thousands of rows costs more than the walk itself (SQLite).
    Lookup,
}

pub(crate) fn unsupported(what: impl Into<String>) -> StoreError {
    StoreError::UnsupportedSearch(what.into())
}

impl<'t> Cond<'t> {
    pub fn new(tenant: &'t str, sight: &'t Sight, now: DateTime<Utc>) -> Cond<'t> {
        Cond {
            tenant,
            sight,
            now,
            next_alias: 0,
            per_row: PerRow::Off,
        }
    }

    pub fn alias(&mut self) -> Alias {
        self.next_alias += 1;
        Alias(self.next_alias)
    }

    /// Appends ` AND …`: the resource `resource_type/<id>` is one the viewer may see and,
    /// with `param`, its rows of that parameter do not come from elements hidden from it
    /// ([`crate::restricted::visible_terms`]; nothing for a viewer who sees everything).
    pub fn visible(&self, sql: &mut Sql, resource_type: &str, id: IdCol, param: Option<&str>) {
        use crate::restricted::{visible_terms, Term};
        let (ty, id) = (Term::Text(resource_type), Term::Col(id.0, id.1));
        visible_terms(sql, self.sight, self.tenant, ty, id, param.map(Term::Text));
    }

    /// `x.tenant = ? AND x.res_type = ?` for index rows `x` of the tenant's resources of
    /// `resource_type`: under the tenant's own key, and its shadow key when the sight reads it
    /// (`x.tenant IN (?, ?)`; see `restricted.rs`).
    pub fn index_scope(&self, x: Alias, resource_type: &str) -> Sql {
        let mut sql = Sql::new();
        self.sight.index_tenant(&mut sql, x, self.tenant);
        sql.push(" AND ")
            .col(x, "res_type")
            .push(" = ")
            .text(resource_type);
        sql
    }

    /// Appends `x.tenant = ? AND x.res_type = ? AND x.param = ? AND x.id = <id>` for the
    /// index rows of `param` of the resource in `id`.
    pub fn scope(&self, sql: &mut Sql, x: Alias, resource_type: &str, param: &str, id: IdCol) {
        sql.append(self.index_scope(x, resource_type))
            .push(" AND ")
            .col(x, "param")
            .push(" = ")
            .text(param)
            .push(" AND ")
            .col(x, "id")
            .push(" = ")
            .col(id.0, id.1);
        self.visible(sql, resource_type, (x, "id"), Some(param));
    }

    /// Opens a membership test of `<id>` in the index rows of `param` in `table` (alias `x`):
    /// `<id> IN (SELECT x.id FROM … WHERE x.tenant = ? AND x.res_type = ? AND x.param = ?`
    /// when `positive`, else the correlated `NOT EXISTS (SELECT 1 FROM … AND x.id = <id>`.
    /// The caller appends further conditions on `x`, then closes with [`Cond::close`].
    ///
    /// For a walk's set ([`PerRow::Set`]) the visibility of the rows ([`Cond::visible`]) is
    /// tested after the set, on `<id>`, rather than on every row that builds the set: the same
    /// answer, since what a viewer may see of a parameter depends on the resource alone, but
    /// tested only for the rows the walk reads before its page is full, where the set may hold
    /// thousands. Elsewhere the set is usually the smaller side (a chain's few targets, each
    /// referenced by many rows), so the test stays inside it.
    ///
    /// `IN` lets SQLite build the (usually small) set of matching ids from the value index
    /// and then look resources up by primary key, instead of probing every resource; both
    /// backends plan it as a semi-join. The negative form stays a correlated `NOT EXISTS`,
    /// which both plan as an anti-join (Postgres's `NOT IN` cannot be).
    fn open(
        &mut self,
        sql: &mut Sql,
        id: IdCol,
        positive: bool,
        (table, x): (&'static str, Alias),
        resource_type: &str,
        param: &str,
    ) -> Opened {
        let per_row = if positive {
            std::mem::replace(&mut self.per_row, PerRow::Off)
        } else {
            PerRow::Off
        };
        let correlated = !positive || per_row == PerRow::Lookup;
        if correlated {
            sql.push(if positive { "EXISTS" } else { "NOT EXISTS" })
                .push(" (SELECT 1 FROM ");
        } else {
            if per_row == PerRow::Set {
                // SQLite: a unary `+` keeps the column from driving an index lookup per value.
                let mut plus = Sql::new();
                plus.push("+");
                sql.dialect(plus, Sql::new());
            }
            sql.col(id.0, id.1)
                .push(" IN (SELECT ")
                .col(x, "id")
                .push(" FROM ");
        }
        self.rows_of_unchecked(sql, (table, x), resource_type, param);
        if per_row != PerRow::Set {
            self.visible(sql, resource_type, (x, "id"), Some(param));
        }
        if correlated {
            sql.push(" AND ").col(x, "id").push(" = ").col(id.0, id.1);
        }
        Opened {
            after: (per_row == PerRow::Set)
                .then(|| (resource_type.to_owned(), id, param.to_owned())),
        }
    }

    /// Closes what [`Cond::open`] opened: `)` and the visibility test it left for after.
    fn close(&self, sql: &mut Sql, opened: Opened) {
        sql.push(")");
        if let Some((resource_type, id, param)) = opened.after {
            self.visible(sql, &resource_type, id, Some(&param));
        }
    }

    /// Appends a condition true when the live (not deleted) resource `resource_type/<id>`
    /// exists; chains and `_has` need it because `:missing=true` and `:not` also match
    /// resources without index rows.
    pub fn live(&mut self, sql: &mut Sql, resource_type: &str, id: IdCol) {
        let l = self.alias();
        sql.push("EXISTS (SELECT 1 FROM resources ")
            .alias(l)
            .push(" WHERE ")
            .scope_rows(l, self.tenant, resource_type)
            .push(" AND ")
            .col(l, "id")
            .push(" = ")
            .col(id.0, id.1)
            .push(" AND NOT ")
            .col(l, "deleted");
        self.visible(sql, resource_type, (l, "id"), None);
        sql.push(")");
    }

    /// [`Cond::filter`] for a plain criterion as a set built once and probed for each row
    /// ([`PerRow::Set`]), which never becomes where the database starts: for a query that
    /// must start elsewhere (the provider finder's sites in an area) whatever the sizes the
    /// planner guesses.
    pub fn filter_set(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        filter: &Filter,
    ) -> Result<(), StoreError> {
        self.filter_per_row(sql, resource_type, id, filter, PerRow::Set)
    }

    /// [`Cond::filter`] for a plain criterion as a correlated lookup of each row's id
    /// ([`PerRow::Lookup`]): for a query that starts from a few rows, which would otherwise
    /// build the criterion's nationwide set first (at 1M resources a specialty's 21,060
    /// roles: 27.8 ms on Postgres to keep three rows, 0.4 ms by lookups).
    pub fn filter_lookup(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        filter: &Filter,
    ) -> Result<(), StoreError> {
        self.filter_per_row(sql, resource_type, id, filter, PerRow::Lookup)
    }

    /// Appends a condition true when resource `resource_type/<id>` matches `filter`.
    pub fn filter(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        filter: &Filter,
    ) -> Result<(), StoreError> {
        match filter {
            Filter::Param {
                param,
                modifier,
                values,
            } => self.param(sql, resource_type, id, param, modifier.as_ref(), values),
            Filter::Chain { param, targets } => {
                let c = self.alias();
                let opened = self.open(
                    sql,
                    id,
                    true,
                    ("search_reference", c),
                    resource_type,
                    &param.code,
                );
                sql.push(" AND ");
                self.chain_targets(sql, c, targets)?;
                self.close(sql, opened);
                Ok(())
            }
            Filter::Has {
                source_type,
                reference,
                filter,
            } => {
                let h = self.alias();
                sql.col(id.0, id.1)
                    .push(" IN (SELECT ")
                    .col(h, "target_id")
                    .push(" FROM ");
                self.has_rows(sql, h, resource_type, source_type, &reference.code, filter)?;
                sql.push(")");
                Ok(())
            }
        }
    }

    /// Appends `(c.target_type = ? AND <target matches>) OR …` on reference row `c`: the
    /// reference points at a live resource of one of `targets` matching its filter.
    fn chain_targets(
        &mut self,
        sql: &mut Sql,
        c: Alias,
        targets: &[search::ChainTarget],
    ) -> Result<(), StoreError> {
        sql.push("(");
        for (i, target) in targets.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { " OR (" });
            sql.col(c, "target_type")
                .push(" = ")
                .text(target.resource_type.as_str())
                .push(" AND ");
            if !needs_index_rows(&target.filter) {
                self.live(sql, &target.resource_type, (c, "target_id"));
                sql.push(" AND ");
            }
            self.filter(sql, &target.resource_type, (c, "target_id"), &target.filter)?;
            sql.push(")");
        }
        sql.push(")");
        Ok(())
    }

    /// Appends `search_reference h WHERE …`: the `reference` rows of live `source_type`
    /// resources matching `filter` that point at a `target_type` resource (`_has`).
    fn has_rows(
        &mut self,
        sql: &mut Sql,
        h: Alias,
        target_type: &str,
        source_type: &str,
        reference: &str,
        filter: &Filter,
    ) -> Result<(), StoreError> {
        self.rows_of(sql, ("search_reference", h), source_type, reference);
        sql.push(" AND ")
            .col(h, "target_type")
            .push(" = ")
            .text(target_type)
            .push(" AND ");
        if !needs_index_rows(filter) {
            self.live(sql, source_type, (h, "id"));
            sql.push(" AND ");
        }
        self.filter(sql, source_type, (h, "id"), filter)
    }

    fn param(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        param: &SearchParamDef,
        modifier: Option<&Modifier>,
        values: &[SearchValue],
    ) -> Result<(), StoreError> {
        match param.code.as_str() {
            "_id" => return id_param(sql, id, modifier, values),
            "_lastUpdated" => return self.last_updated(sql, resource_type, id, modifier, values),
            _ => {}
        }
        if search::is_text_search(param) {
            let texts = values
                .iter()
                .map(|v| match v {
                    SearchValue::Text(t) => Ok(t.as_str()),
                    _ => Err(unsupported(format!("`{}` takes free text", param.code))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.text_search(sql, resource_type, id, param.code == "_text", &texts);
            return Ok(());
        }
        if param.kind == SearchParamType::Composite {
            return self.composite(sql, resource_type, id, param, modifier, values);
        }
        let table = table_for(param, modifier)?;
        if modifier == Some(&Modifier::Missing) {
            sql.push("(");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                let missing = matches!(v, SearchValue::Missing(true));
                let x = self.alias();
                let opened = self.open(
                    sql,
                    id,
                    !missing,
                    (table.name(), x),
                    resource_type,
                    &param.code,
                );
                self.close(sql, opened);
            }
            sql.push(")");
            return Ok(());
        }
        let x = self.alias();
        let negate = matches!(modifier, Some(Modifier::Not | Modifier::NotIn));
        let opened = self.open(
            sql,
            id,
            !negate,
            (table.name(), x),
            resource_type,
            &param.code,
        );
        sql.push(" AND (");
        self.any_value(sql, x, param, modifier, values)?;
        sql.push(")");
        self.close(sql, opened);
        Ok(())
    }

    /// Appends `<table> x WHERE x.tenant = ? AND x.res_type = ? AND x.param = ?`: the index
    /// rows of `param` of the tenant's resources of `resource_type`.
    fn rows_of(
        &self,
        sql: &mut Sql,
        (table, x): (&'static str, Alias),
        resource_type: &str,
        param: &str,
    ) {
        self.rows_of_unchecked(sql, (table, x), resource_type, param);
        self.visible(sql, resource_type, (x, "id"), Some(param));
    }

    /// [`Cond::rows_of`] without the visibility test, for a caller that tests it itself.
    fn rows_of_unchecked(
        &self,
        sql: &mut Sql,
        (table, x): (&'static str, Alias),
        resource_type: &str,
        param: &str,
    ) {
        sql.push(table)
            .push(" ")
            .alias(x)
            .push(" WHERE ")
            .append(self.index_scope(x, resource_type))
            .push(" AND ")
            .col(x, "param")
            .push(" = ")
            .text(param);
    }

    /// Appends `(<value 1>) OR (<value 2>) …` on index row `x`: a criterion's alternatives.
    fn any_value(
        &mut self,
        sql: &mut Sql,
        x: Alias,
        param: &SearchParamDef,
        modifier: Option<&Modifier>,
        values: &[SearchValue],
    ) -> Result<(), StoreError> {
        for (i, v) in values.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { " OR (" });
            self.value(sql, x, param, modifier, v)?;
            sql.push(")");
        }
        Ok(())
    }

    /// For a page's id step: when `filter` can be answered from index rows alone, appends
    /// `<table> x WHERE …` and answers the column of `x` holding the matching resource's id;
    /// `None` (nothing appended) for every other criterion. The criteria so answered:
    /// - a plain positive value (no modifier, or `:exact`) of a parameter with an index table:
    ///   that table's rows of the value, id column `id`;
    /// - a chain: the source's reference rows whose target matches, id column `id`;
    /// - `_has`: the referring resources' reference rows, id column `target_id`; a reference
    ///   may point at nothing, so the caller tests the distinct targets for liveness
    ///   ([`IndexSource::may_dangle`]), once per target instead of once per referring row.
    ///
    /// Index rows exist only for the current version of live resources, so these rows alone
    /// answer the criterion: no `resources` row has to be read, and when the index orders a
    /// value's rows by id (`search_token_code`, migration 0005) the database can read the first
    /// page's ids in order and stop, whatever the number of matches.
    pub fn index_source(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        filter: &Filter,
    ) -> Result<Option<IndexSource>, StoreError> {
        let (param, modifier, values) = match filter {
            Filter::Param {
                param,
                modifier,
                values,
            } => (param, modifier, values),
            Filter::Chain { param, targets } => {
                let c = self.alias();
                self.rows_of(sql, ("search_reference", c), resource_type, &param.code);
                sql.push(" AND ");
                self.chain_targets(sql, c, targets)?;
                return Ok(Some(IndexSource::own((c, "id"))));
            }
            Filter::Has {
                source_type,
                reference,
                filter,
            } => {
                let h = self.alias();
                self.has_rows(sql, h, resource_type, source_type, &reference.code, filter)?;
                return Ok(Some(IndexSource {
                    id: (h, "target_id"),
                    may_dangle: true,
                }));
            }
        };
        let plain = matches!(modifier, None | Some(Modifier::Exact));
        if !plain
            || param.kind == SearchParamType::Composite
            || search::is_text_search(param)
            || matches!(param.code.as_str(), "_id" | "_lastUpdated" | "near")
            || values.is_empty()
        {
            return Ok(None);
        }
        let table = table_for(param, modifier.as_ref())?;
        let x = self.alias();
        self.rows_of(sql, (table.name(), x), resource_type, &param.code);
        sql.push(" AND (");
        self.any_value(sql, x, param, modifier.as_ref(), values)?;
        sql.push(")");
        Ok(Some(IndexSource::own((x, "id"))))
    }

    /// The probe of a walk: `SELECT COUNT(*)` of up to `limit` index rows of `filter`'s
    /// values (a plain indexed criterion), which decides whether the walk pays
    /// ([`super::plan::Plan::choose_page`]); `None` when `filter` has no such rows.
    pub(crate) fn probe(
        &mut self,
        resource_type: &str,
        filter: &Filter,
        limit: Sql,
    ) -> Result<Option<Sql>, StoreError> {
        // A probe only chooses a plan: it counts the rows under the tenant's own key, and so
        // costs no visibility test per row.
        let sight = std::mem::replace(&mut self.sight, &PLAIN);
        let mut rows = Sql::new();
        let source = self.index_source(&mut rows, resource_type, filter);
        self.sight = sight;
        let Some(IndexSource { id: v, .. }) = source? else {
            return Ok(None);
        };
        let q = self.alias();
        let mut probe = Sql::new();
        probe
            .push("SELECT COUNT(*) FROM (SELECT ")
            .col(v.0, v.1)
            .push(" FROM ")
            .append(rows)
            .push(" LIMIT ")
            .append(limit)
            .push(") ")
            .alias(q);
        Ok(Some(probe))
    }

    /// The walk of a plain string criterion (prefix match, no modifier), for Postgres only:
    /// appends `search_string x WHERE …`, the type's string rows read in id order through
    /// `search_string_resource` (which covers `value_norm` on Postgres, migration 0008), each
    /// tested against the values, and answers the id column with the probe `SELECT COUNT(*)`
    /// of up to `limit` index rows of the values. `None` (nothing appended) for any other
    /// criterion.
    ///
    /// Postgres must be kept from serving the values through `search_string_value`:
    /// `COALESCE(<values>, false)` is served by no index and estimated at 0.5, so reading in
    /// id order under the `LIMIT` looks (and is, given the probe) cheap. With the bare range
    /// (or `(…) IS TRUE`, which it estimates from the range's statistics) Postgres read the
    /// whole parameter through the value index in parallel and sorted it for some prefixes:
    /// 411 ms for `name=pri` (8,854 rows) at 1M resources, 3 ms walked.
    ///
    /// Not SQLite: there the wider index attracted the *set* queries of every prefix whenever
    /// its statistics were missing or stale (a database written only through the API), which
    /// then read every string row of the type (`name=` p50 818 ms at 1M), so SQLite keeps the
    /// narrow index and the set query ([`super::plan::WalkKind::Strings`]).
    pub fn string_walk_rows(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        filter: &Filter,
        limit: Sql,
    ) -> Result<Option<(IndexSource, Sql)>, StoreError> {
        let Filter::Param {
            param,
            modifier: None,
            values,
        } = filter
        else {
            return Ok(None);
        };
        if param.kind != SearchParamType::String
            || values.is_empty()
            || search::is_text_search(param)
            || !values
                .iter()
                .all(|v| matches!(v, SearchValue::String { .. }))
        {
            return Ok(None);
        }
        let Some(probe) = self.probe(resource_type, filter, limit)? else {
            return Ok(None);
        };
        let x = self.alias();
        self.rows_of(sql, ("search_string", x), resource_type, &param.code);
        sql.push(" AND COALESCE((");
        self.any_value(sql, x, param, None, values)?;
        sql.push("), false)");
        Ok(Some((IndexSource::own((x, "id")), probe)))
    }

    /// For a search sorted by distance: when `filter` is a plain `near` criterion with one
    /// value, appends `search_geo x WHERE …` (its rows within the distance) and answers `x`,
    /// so the page's ids and distances come from those rows in one pass; `None` (nothing
    /// appended) otherwise. Index rows exist only for live resources, and a resource's
    /// nearest position is within the distance whenever any is, so the minimum over these
    /// rows is the sort key the resource would get from all its positions.
    pub fn near_rows(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        filter: &Filter,
    ) -> Result<Option<Alias>, StoreError> {
        let Filter::Param {
            param,
            modifier: None,
            values,
        } = filter
        else {
            return Ok(None);
        };
        if param.code != "near" || values.len() != 1 {
            return Ok(None);
        }
        let table = table_for(param, None)?;
        let x = self.alias();
        self.rows_of(sql, (table.name(), x), resource_type, &param.code);
        sql.push(" AND (");
        self.any_value(sql, x, param, None, values)?;
        sql.push(")");
        Ok(Some(x))
    }

    /// Appends `filter` on `id` written so that the database tests each row it reads, instead
    /// of reading the rows of each match. With [`PerRow::Set`] against the set of matching
    /// ids, built once (Postgres: `(<id> IN (…)) IS TRUE`, a hashed subplan, since only a bare
    /// `IN` is turned into a join; SQLite: `+<id> IN (…)`, which the planner may not use to
    /// look rows up by each value); with [`PerRow::Lookup`] by a correlated `EXISTS (…)` on
    /// `id`. For `filter` a plain criterion ([`Cond::walk_rows`]).
    fn filter_per_row(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        filter: &Filter,
        per_row: PerRow,
    ) -> Result<(), StoreError> {
        let mut test = Sql::new();
        self.per_row = per_row;
        let built = self.filter(&mut test, resource_type, id, filter);
        self.per_row = PerRow::Off;
        built?;
        let (mut open, mut close) = (Sql::new(), Sql::new());
        open.push("(");
        close.push(") IS TRUE");
        sql.dialect(Sql::new(), open)
            .append(test)
            .dialect(Sql::new(), close);
        Ok(())
    }

    /// The walk of a chain or `_has` first criterion whose inner criterion is a plain indexed
    /// value (one chain target): appends `search_reference x WHERE …`, the reference rows
    /// whose other end matches, tested row by row ([`Cond::filter_per_row`]), and answers
    /// the column of `x` holding the matching resource's id (its rows are read in that
    /// column's order through `search_reference_resource` for a chain and
    /// `search_reference_target` for `_has`), whether that id may dangle, and the probe
    /// `SELECT COUNT(*)` of up to `limit` index rows of the inner value, which decides
    /// whether the walk pays ([`super::plan::Plan::choose_page`]). `None` (nothing appended)
    /// for any other criterion.
    ///
    /// In id order under the page's `LIMIT`, the database stops after the page: when many
    /// resources match, a few thousand rows are read where the set of all matches costs a
    /// lookup per match (`PractitionerRole?location.address-city=<big city>`: 1,799
    /// Locations, 7,879 roles).
    pub fn walk_rows(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        filter: &Filter,
        limit: Sql,
        per_row: PerRow,
    ) -> Result<Option<(IndexSource, Sql)>, StoreError> {
        // The reference rows are the source's, pointing at the target; the inner criterion
        // is on the chain's target (tested on `target_id`) or on the `_has` source (on `id`),
        // and the page's ids are the other end.
        let x = self.alias();
        let (source_type, reference, target_type, inner, (inner_type, tested), source) =
            match filter {
                Filter::Chain { param, targets } => match targets.as_slice() {
                    [t] => (
                        resource_type,
                        param.code.as_str(),
                        t.resource_type.as_str(),
                        &t.filter,
                        (t.resource_type.as_str(), "target_id"),
                        IndexSource::own((x, "id")),
                    ),
                    _ => return Ok(None),
                },
                Filter::Has {
                    source_type,
                    reference,
                    filter,
                } => (
                    source_type.as_str(),
                    reference.code.as_str(),
                    resource_type,
                    &**filter,
                    (source_type.as_str(), "id"),
                    // The target may not exist, or be deleted.
                    IndexSource {
                        id: (x, "target_id"),
                        may_dangle: true,
                    },
                ),
                Filter::Param { .. } => return Ok(None),
            };
        if !matches!(inner, Filter::Param { .. }) {
            return Ok(None);
        }
        let Some(probe) = self.probe(inner_type, inner, limit)? else {
            return Ok(None);
        };
        self.rows_of(sql, ("search_reference", x), source_type, reference);
        sql.push(" AND ")
            .col(x, "target_type")
            .push(" = ")
            .text(target_type)
            .push(" AND ");
        self.filter_per_row(sql, inner_type, (x, tested), inner, per_row)?;
        Ok(Some((source, probe)))
    }

    /// For a `_has` criterion whose inner criterion is a plain indexed value: appends
    /// `(SELECT 1 FROM search_reference h WHERE … AND h.target_id = <id> LIMIT 1) IS NOT NULL`,
    /// a per-resource test, and answers whether it did (nothing appended for any other
    /// criterion).
    ///
    /// A scalar subquery is not turned into a join, so the database evaluates it once per
    /// resource, in the order the outer query reads them (id order): when very many resources
    /// match (`Practitioner?_has:PractitionerRole:practitioner:specialty=<common code>`), the
    /// first page is found after reading a few hundred resources, each through its own few
    /// reference rows, where even [`Cond::walk_rows`] first builds the set of tens of
    /// thousands of matching role ids.
    pub fn has_walk(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        filter: &Filter,
    ) -> Result<bool, StoreError> {
        let Filter::Has {
            source_type,
            reference,
            filter: inner,
        } = filter
        else {
            return Ok(false);
        };
        if !matches!(**inner, Filter::Param { .. }) {
            return Ok(false);
        }
        if self
            .index_source(&mut Sql::new(), source_type, inner)?
            .is_none()
        {
            return Ok(false);
        }
        let h = self.alias();
        sql.push("(SELECT 1 FROM ");
        self.has_rows(sql, h, resource_type, source_type, &reference.code, inner)?;
        sql.push(" AND ")
            .col(h, "target_id")
            .push(" = ")
            .col(id.0, id.1)
            .push(" LIMIT 1) IS NOT NULL");
        Ok(true)
    }

    /// A composite criterion: any alternative matches when one element has every component.
    fn composite(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        param: &SearchParamDef,
        modifier: Option<&Modifier>,
        values: &[SearchValue],
    ) -> Result<(), StoreError> {
        if modifier == Some(&Modifier::Missing) {
            return self.composite_missing(sql, resource_type, id, param, values);
        }
        if let Some(m) = modifier {
            return Err(unsupported(format!(
                "`{}:{}`: composite parameters take no modifiers",
                param.code,
                m.as_str()
            )));
        }
        sql.push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            let SearchValue::Composite(parts) = v else {
                return Err(unsupported(format!(
                    "`{}` takes composite values",
                    param.code
                )));
            };
            self.composite_value(sql, resource_type, id, param, parts)?;
        }
        sql.push(")");
        Ok(())
    }

    /// Composite `:missing`: whether any element has a value of the first component. The
    /// component's type (so its table) is not known here, so every table that can hold one
    /// is asked.
    fn composite_missing(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        param: &SearchParamDef,
        values: &[SearchValue],
    ) -> Result<(), StoreError> {
        const TABLES: [Table; 7] = [
            Table::Token,
            Table::Reference,
            Table::String,
            Table::Quantity,
            Table::Date,
            Table::Number,
            Table::Uri,
        ];
        let prefix = search::composite::component_prefix(&param.code, 0);
        sql.push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            let SearchValue::Missing(missing) = v else {
                return Err(unsupported("`:missing` mixed with other values"));
            };
            sql.push("(");
            for (j, table) in TABLES.iter().enumerate() {
                if j > 0 {
                    sql.push(if *missing { " AND " } else { " OR " });
                }
                let x = self.alias();
                if *missing {
                    sql.push("NOT EXISTS (SELECT 1 FROM ");
                } else {
                    sql.col(id.0, id.1)
                        .push(" IN (SELECT ")
                        .col(x, "id")
                        .push(" FROM ");
                }
                sql.push(table.name())
                    .push(" ")
                    .alias(x)
                    .push(" WHERE ")
                    .append(self.index_scope(x, resource_type));
                self.visible(sql, resource_type, (x, "id"), Some(&param.code));
                sql.push(" AND ");
                if *missing {
                    sql.col(x, "id").push(" = ").col(id.0, id.1).push(" AND ");
                }
                super::values::starts_with(sql, x, "param", &prefix);
                sql.push(")");
            }
            sql.push(")");
        }
        sql.push(")");
        Ok(())
    }

    /// `<id> IN (SELECT x0.id … component 0 matches AND EXISTS (component i of the same
    /// element matches) …)`.
    fn composite_value(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        param: &SearchParamDef,
        parts: &[SearchValue],
    ) -> Result<(), StoreError> {
        let Some(first) = parts.first() else {
            sql.push("1 = 0");
            return Ok(());
        };
        let x0 = self.alias();
        let prefix0 = search::composite::component_prefix(&param.code, 0);
        sql.col(id.0, id.1)
            .push(" IN (SELECT ")
            .col(x0, "id")
            .push(" FROM ")
            .push(component_table(param, first)?.name())
            .push(" ")
            .alias(x0)
            .push(" WHERE ")
            .append(self.index_scope(x0, resource_type));
        self.visible(sql, resource_type, (x0, "id"), Some(&param.code));
        sql.push(" AND ");
        super::values::starts_with(sql, x0, "param", &prefix0);
        sql.push(" AND (");
        self.value(sql, x0, param, None, first)?;
        sql.push(")");
        let suffix_at = i64::try_from(prefix0.chars().count() + 1).unwrap_or(i64::MAX);
        for (i, part) in parts.iter().enumerate().skip(1) {
            let xi = self.alias();
            sql.push(" AND EXISTS (SELECT 1 FROM ")
                .push(component_table(param, part)?.name())
                .push(" ")
                .alias(xi)
                .push(" WHERE ")
                .append(self.index_scope(xi, resource_type))
                .push(" AND ")
                .col(xi, "id")
                .push(" = ")
                .col(x0, "id")
                .push(" AND ")
                .col(xi, "param")
                .push(" = ")
                .text(search::composite::component_prefix(&param.code, i))
                .push(" || substr(")
                .col(x0, "param")
                .push(", CAST(")
                .int(suffix_at)
                .push(" AS INTEGER)) AND (");
            self.value(sql, xi, param, None, part)?;
            sql.push("))");
        }
        sql.push(")");
        Ok(())
    }

    /// `_lastUpdated` compares the stored version's instant, a point `[t, t + 1µs)`.
    fn last_updated(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        modifier: Option<&Modifier>,
        values: &[SearchValue],
    ) -> Result<(), StoreError> {
        if modifier == Some(&Modifier::Missing) {
            return missing_never(sql, values);
        }
        let lu = self.alias();
        sql.push("EXISTS (SELECT 1 FROM resources ")
            .alias(lu)
            .push(" WHERE ")
            .scope_rows(lu, self.tenant, resource_type)
            .push(" AND ")
            .col(lu, "id")
            .push(" = ")
            .col(id.0, id.1);
        self.visible(sql, resource_type, (lu, "id"), None);
        sql.push(" AND (");
        for (i, v) in values.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { " OR (" });
            let SearchValue::Date { prefix, value } = v else {
                return Err(unsupported("_lastUpdated takes dates"));
            };
            let range = if *prefix == search::Prefix::Ap {
                value.range.approximate(self.now)
            } else {
                value.range
            };
            super::values::range(
                sql,
                *prefix,
                (lu, "last_updated"),
                (lu, "last_updated + 1"),
                super::sql::Arg::Int(range.low.timestamp_micros()),
                super::sql::Arg::Int(range.high.timestamp_micros()),
            );
            sql.push(")");
        }
        sql.push("))");
        Ok(())
    }
}

/// Whether only resources with index rows of their own can match `filter`: then they are
/// live (index rows exist only for the current version of live resources) and a chain or
/// `_has` need not look the resource up to know it exists. `:missing`, `:not`, `:not-in`,
/// `_id`, `_lastUpdated`, `_text`/`_content` and `_has` (rows of other resources) can match
/// without any.
fn needs_index_rows(filter: &Filter) -> bool {
    match filter {
        Filter::Param {
            param, modifier, ..
        } => {
            !matches!(
                modifier,
                Some(Modifier::Missing | Modifier::Not | Modifier::NotIn)
            ) && !matches!(param.code.as_str(), "_id" | "_lastUpdated")
                && !search::is_text_search(param)
        }
        Filter::Chain { .. } => true,
        Filter::Has { .. } => false,
    }
}

/// `_id` compares the resource id itself; every resource has one, so `:missing=true` never
/// matches.
fn id_param(
    sql: &mut Sql,
    id: IdCol,
    modifier: Option<&Modifier>,
    values: &[SearchValue],
) -> Result<(), StoreError> {
    match modifier {
        Some(Modifier::Missing) => return missing_never(sql, values),
        None | Some(Modifier::Not) => {}
        Some(m) => return Err(unsupported(format!("`_id:{}`", m.as_str()))),
    }
    let mut ids = Vec::new();
    for v in values {
        match v {
            SearchValue::Token(t) => ids.push(t.code.as_deref().unwrap_or_default()),
            _ => return Err(unsupported("`_id` takes ids")),
        }
    }
    sql.col(id.0, id.1);
    sql.push(if modifier == Some(&Modifier::Not) {
        " NOT IN "
    } else {
        " IN "
    });
    sql.text_list(ids);
    Ok(())
}

/// The index table holding a composite component's rows, from the component value's type.
fn component_table(param: &SearchParamDef, v: &SearchValue) -> Result<Table, StoreError> {
    Ok(match v {
        SearchValue::String { .. } => Table::String,
        SearchValue::Token(_) => Table::Token,
        SearchValue::Reference(_) => Table::Reference,
        SearchValue::Date { .. } => Table::Date,
        SearchValue::Number { .. } => Table::Number,
        SearchValue::Quantity(_) => Table::Quantity,
        SearchValue::Uri(_) => Table::Uri,
        _ => {
            return Err(unsupported(format!(
                "`{}`: a component of this type",
                param.code
            )))
        }
    })
}

/// `:missing` on a value every resource has: `true` never matches, `false` always does.
fn missing_never(sql: &mut Sql, values: &[SearchValue]) -> Result<(), StoreError> {
    let any_present = values
        .iter()
        .any(|v| matches!(v, SearchValue::Missing(false)));
    sql.push(if any_present { "1 = 1" } else { "1 = 0" });
    Ok(())
}

/// The index table a criterion reads, or why it cannot be answered.
pub(crate) fn table_for(
    param: &SearchParamDef,
    modifier: Option<&Modifier>,
) -> Result<Table, StoreError> {
    use SearchParamType as T;
    let code = &param.code;
    let no = |what: &str| Err(unsupported(format!("`{code}`: {what}")));
    match (param.kind, modifier) {
        (T::String, _) => Ok(Table::String),
        (T::Token, Some(Modifier::OfType)) => Ok(Table::IdentifierType),
        (T::Token, _) => Ok(Table::Token),
        (T::Reference, _) => Ok(Table::Reference),
        (T::Date, _) => Ok(Table::Date),
        (T::Number, _) => Ok(Table::Number),
        (T::Quantity, _) => Ok(Table::Quantity),
        (T::Uri, _) => Ok(Table::Uri),
        (T::Special, _) if code == "near" => Ok(Table::Geo),
        (T::Special, _) => no("this special parameter has no index"),
        (T::Composite, _) => no("composite values are matched per component"),
    }
}
