//! `_include` and `_revinclude` (<https://hl7.org/fhir/R4/search.html#include>).
//!
//! Round 0 applies every include to the page's matches; each later round applies only the
//! `:iterate` ones to the resources the previous round added, up to [`MAX_ROUNDS`] rounds
//! (iteration over cyclic references stops by itself: nothing new is found). Included
//! resources are current, live, and listed once, never repeating a match. `*` follows every
//! reference parameter of the source type (from the registry), and a target type restricts
//! which references are followed.
//!
//! Each query starts from the reference rows of the known resources and joins `resources`
//! by primary key, so its cost follows the page, not the tenant.

use std::collections::HashSet;

use conformance::{Registry, SearchParamType};
use search::{Include, SearchQuery};

use super::plan::record_columns;
use super::sql::{Alias, Sql};
use crate::restricted::{visible_terms, Sight, Term};
use crate::VersionRecord;

/// How many rounds of `:iterate` follow the first one.
pub(crate) const MAX_ROUNDS: usize = 3;

/// Stop adding included resources beyond this many (a guard against huge fan-out).
pub(crate) const MAX_INCLUDED: usize = 10_000;

/// Drives the include rounds: hands out queries, takes their rows.
#[derive(Debug)]
pub(crate) struct Includer<'q> {
    tenant: &'q str,
    /// Who is looking: references from elements hidden from it are not followed, and
    /// resources hidden from it are not included.
    sight: &'q Sight,
    query: &'q SearchQuery,
    registry: &'q Registry,
    seen: HashSet<(String, String)>,
    included: Vec<VersionRecord>,
    /// Resources the current round starts from.
    sources: Vec<(String, String)>,
    /// Resources added during the current round: the next round's sources.
    added: Vec<(String, String)>,
    queue: Vec<Sql>,
    round: usize,
}

impl<'q> Includer<'q> {
    pub fn new(
        tenant: &'q str,
        sight: &'q Sight,
        query: &'q SearchQuery,
        registry: &'q Registry,
        matches: &[VersionRecord],
    ) -> Includer<'q> {
        let keys: Vec<(String, String)> = matches
            .iter()
            .map(|m| (m.resource_type.clone(), m.id.clone()))
            .collect();
        Includer {
            tenant,
            sight,
            query,
            registry,
            seen: keys.iter().cloned().collect(),
            included: Vec::new(),
            sources: Vec::new(),
            added: keys,
            queue: Vec::new(),
            round: 0,
        }
    }

    /// The next query to run, or `None` when every round is done.
    pub fn next_query(&mut self) -> Option<Sql> {
        loop {
            if let Some(sql) = self.queue.pop() {
                return Some(sql);
            }
            if self.round > MAX_ROUNDS
                || self.added.is_empty()
                || self.included.len() >= MAX_INCLUDED
            {
                return None;
            }
            self.sources = std::mem::take(&mut self.added);
            let first = self.round == 0;
            self.round += 1;
            for inc in &self.query.include {
                if first || inc.iterate {
                    if let Some(sql) = self.forward(inc) {
                        self.queue.push(sql);
                    }
                }
            }
            for inc in &self.query.revinclude {
                if first || inc.iterate {
                    if let Some(sql) = self.reverse(inc) {
                        self.queue.push(sql);
                    }
                }
            }
        }
    }

    /// Takes the rows of the last query.
    pub fn add(&mut self, records: Vec<VersionRecord>) {
        for r in records {
            if self.included.len() >= MAX_INCLUDED {
                break;
            }
            let key = (r.resource_type.clone(), r.id.clone());
            if self.seen.insert(key.clone()) {
                self.added.push(key);
                self.included.push(r);
            }
        }
    }

    pub fn into_included(self) -> Vec<VersionRecord> {
        self.included
    }

    /// The reference parameter codes an include follows from `source_type`: the one named,
    /// or every reference parameter of the type for `*`.
    fn params(&self, inc: &Include, source_type: &str) -> Vec<String> {
        match &inc.param {
            Some(p) => vec![p.code.clone()],
            None => self
                .registry
                .for_type(source_type)
                .filter(|p| p.kind == SearchParamType::Reference)
                .map(|p| p.code.clone())
                .collect(),
        }
    }

    /// ` AND …`: reference row `x` belongs to a resource the viewer may see and does not
    /// come from an element hidden from it (so a hidden reference is never followed).
    fn source_visible(&self, sql: &mut Sql, x: Alias) {
        let (ty, id, param) = (
            Term::Col(x, "res_type"),
            Term::Col(x, "id"),
            Term::Col(x, "param"),
        );
        visible_terms(sql, self.sight, self.tenant, ty, id, Some(param));
    }

    /// `_include`: the resources that the sources' references point at.
    fn forward(&self, inc: &Include) -> Option<Sql> {
        let mut types: Vec<&str> = self
            .sources
            .iter()
            .map(|(t, _)| t.as_str())
            .filter(|t| inc.source_type.as_deref().is_none_or(|s| s == *t))
            .collect();
        types.sort_unstable();
        types.dedup();
        if types.is_empty() {
            return None;
        }
        let (x, k, t) = (Alias(1), Alias(2), Alias(3));
        let mut sql = Sql::new();
        sql.push("SELECT ");
        record_columns(&mut sql, t, &self.sight.seer);
        sql.push(" FROM (SELECT DISTINCT ")
            .col(x, "target_type")
            .push(" AS tt, ")
            .col(x, "target_id")
            .push(" AS ti FROM search_reference ")
            .alias(x)
            .push(" WHERE ");
        self.sight.index_tenant(&mut sql, x, self.tenant);
        sql.push(" AND ")
            .col(x, "target_id")
            .push(" IS NOT NULL AND (");
        for (i, ty) in types.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            let ids = self
                .sources
                .iter()
                .filter(|(st, _)| st == ty)
                .map(|(_, id)| id.as_str());
            sql.push("(")
                .col(x, "res_type")
                .push(" = ")
                .text(*ty)
                .push(" AND ")
                .col(x, "id")
                .push(" IN ")
                .text_list(ids)
                .push(" AND ")
                .col(x, "param")
                .push(" IN ")
                .text_list(self.params(inc, ty).iter().map(String::as_str))
                .push(")");
        }
        sql.push(")");
        if let Some(target) = &inc.target_type {
            sql.push(" AND ")
                .col(x, "target_type")
                .push(" = ")
                .text(target.as_str());
        }
        self.source_visible(&mut sql, x);
        sql.push(") ")
            .alias(k)
            .join_resources()
            .alias(t)
            .push(" ON ")
            .col(t, "tenant")
            .push(" = ")
            .text(self.tenant)
            .push(" AND ")
            .col(t, "res_type")
            .push(" = ")
            .col(k, "tt")
            .push(" AND ")
            .col(t, "id")
            .push(" = ")
            .col(k, "ti")
            .push(" WHERE NOT ")
            .col(t, "deleted");
        let (t_type, t_id) = (Term::Col(t, "res_type"), Term::Col(t, "id"));
        visible_terms(&mut sql, self.sight, self.tenant, t_type, t_id, None);
        sql.push(" ORDER BY ")
            .col(t, "res_type")
            .push(", ")
            .col(t, "id");
        Some(sql)
    }

    /// `_revinclude`: the resources whose references point at the sources.
    fn reverse(&self, inc: &Include) -> Option<Sql> {
        let mut targets: Vec<&str> = self
            .sources
            .iter()
            .map(|(t, _)| t.as_str())
            .filter(|t| inc.target_type.as_deref().is_none_or(|s| s == *t))
            .collect();
        targets.sort_unstable();
        targets.dedup();
        if targets.is_empty() {
            return None;
        }
        let (x, k, t) = (Alias(1), Alias(2), Alias(3));
        let mut sql = Sql::new();
        sql.push("SELECT ");
        record_columns(&mut sql, t, &self.sight.seer);
        sql.push(" FROM (SELECT DISTINCT ")
            .col(x, "res_type")
            .push(" AS st, ")
            .col(x, "id")
            .push(" AS si FROM search_reference ")
            .alias(x)
            .push(" WHERE ");
        self.sight.index_tenant(&mut sql, x, self.tenant);
        if let Some(source) = &inc.source_type {
            sql.push(" AND ")
                .col(x, "res_type")
                .push(" = ")
                .text(source.as_str())
                .push(" AND ")
                .col(x, "param")
                .push(" IN ")
                .text_list(self.params(inc, source).iter().map(String::as_str));
        }
        sql.push(" AND (");
        for (i, ty) in targets.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            let ids = self
                .sources
                .iter()
                .filter(|(st, _)| st == ty)
                .map(|(_, id)| id.as_str());
            sql.push("(")
                .col(x, "target_type")
                .push(" = ")
                .text(*ty)
                .push(" AND ")
                .col(x, "target_id")
                .push(" IN ")
                .text_list(ids)
                .push(")");
        }
        sql.push(")");
        self.source_visible(&mut sql, x);
        sql.push(") ")
            .alias(k)
            .join_resources()
            .alias(t)
            .push(" ON ")
            .col(t, "tenant")
            .push(" = ")
            .text(self.tenant)
            .push(" AND ")
            .col(t, "res_type")
            .push(" = ")
            .col(k, "st")
            .push(" AND ")
            .col(t, "id")
            .push(" = ")
            .col(k, "si")
            .push(" WHERE NOT ")
            .col(t, "deleted")
            .push(" ORDER BY ")
            .col(t, "res_type")
            .push(", ")
            .col(t, "id");
        Some(sql)
    }
}
