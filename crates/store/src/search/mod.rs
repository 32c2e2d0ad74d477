//! FHIR search execution (<https://hl7.org/fhir/R4/search.html>): the index rows a write
//! saves, and [`Store::search`], which turns a parsed [`search::SearchQuery`] into SQL over
//! them.
//!
//! Modules: [`sql`] (fragments with bound values only), [`index_rows`] (entries -> rows of
//! the `search_*` tables), [`filter`] and [`values`] (criteria -> conditions, chains and
//! `_has` nested), [`paging`] (sort keys and keyset cursors), [`plan`] (the page and count
//! queries), [`include`] (`_include` / `_revinclude` rounds), and [`run`], which runs them on
//! either backend (what differs lives in `crate::sqlite` and `crate::postgres`).
//!
//! What is answered and how:
//! - every parameter type with its prefixes and modifiers, composite parameters (component
//!   rows paired per element), `:in`/`:not-in` over the tenant's own ValueSets
//!   ([`value_sets`]), token `:above`/`:below` over the hierarchy of the tenant's own
//!   CodeSystems ([`code_systems`]; both read first by [`terminology`]), `_text`/`_content`
//!   from the resource body ([`text_search`]);
//! - `_id` and `_lastUpdated` from the `resources` table; `_tag`, `_profile`, `_security`
//!   and `_source` from the index like any token or uri;
//! - deleted resources never match and are never included; every subquery is scoped to the
//!   tenant;
//! - `:contains` and token `:text` use `LIKE` (a pg_trgm GIN index on Postgres, a scan of the
//!   parameter's rows on SQLite); `near` without a distance uses [`DEFAULT_NEAR_KM`].
//!
//! Writing: [`Store::write_indexed`] (`write_index_rows`) and `StoreTx::write_batch`
//! (`write_bulk`) save a resource's [`search::IndexEntry`]s in its write transaction,
//! replacing the previous version's rows; a plain [`Store::write`] is a write with no
//! entries, and a delete removes the rows (`delete_index_rows`), so rows never describe an
//! older version.
//! [`Store::reindex`] / [`Store::reindex_many`] replace rows outside a write (reindex jobs);
//! they do not check the resource's version, so a job must not race writes of the same
//! resource. After a bulk load call [`Store::analyze_search_index`].

mod code_systems;
pub(crate) mod count_cache;
pub(crate) mod exec;
mod filter;
mod finder;
#[cfg(test)]
pub(crate) mod golden_sql;
mod include;
mod index_rows;
mod paging;
mod plan;
pub(crate) mod probe_cache;
pub(crate) mod run;
mod sql;
pub(crate) mod statistics;
pub(crate) mod terminology;
mod text_search;
mod value_sets;
mod values;

use crate::db::RowCols;

pub use finder::{RoleQuery, RoleRow, Start as RoleStart};
pub(crate) use index_rows::{
    delete_statements, insert_statements, rows_by_table, Row as IndexRow, Table, INDEX_TABLES,
};
pub use index_rows::{IndexedResource, NOT_HIDDEN};
pub(crate) use paging::KeyKind;
pub use paging::{PageCursor, PageDirection, SortValue};
pub(crate) use plan::PageRow;
pub(crate) use sql::{Alias, Arg, BindArgs, Dialect, Sql};
pub use values::DEFAULT_NEAR_KM;

/// What a store remembers between its searches: walk probe answers ([`probe_cache`]) and
/// accurate counts ([`count_cache`]). Never used inside a write transaction, whose searches
/// see its own uncommitted rows.
#[derive(Debug, Default)]
pub(crate) struct SearchCaches {
    pub probes: probe_cache::ProbeCache,
    pub counts: count_cache::CountCache,
    pub statistics: statistics::Statistics,
    /// Woken when a write transaction that made change events commits (in this process), so
    /// the subscription worker need not wait for its next poll.
    pub changes: tokio::sync::Notify,
}

use crate::{Store, StoreError, TenantName, VersionRecord};

/// One page of search results (<https://hl7.org/fhir/R4/search.html#return>).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The matches on this page, in result order (`Bundle.entry.search.mode = match`).
    pub matches: Vec<VersionRecord>,
    /// Resources added by `_include` / `_revinclude` (`search.mode = include`): current,
    /// live, each once, none of them a match of this page.
    pub included: Vec<VersionRecord>,
    /// How many resources match in all pages: counted for `_total=accurate|estimate` and
    /// `_summary=count` (estimate is exact here), known for free when a first page holds
    /// every match, otherwise `None`.
    pub total: Option<u64>,
    /// Position after this page's last match, when more may follow.
    pub next: Option<PageCursor>,
    /// Position before this page's first match, when this is not the first page.
    pub previous: Option<PageCursor>,
}

impl Store {
    /// Runs `query` within `scope` (its tenant) and returns one page: the first, or the one `page` points at.
    ///
    /// `registry` is the tenant's search parameter registry (it resolves `_include=T:*`).
    /// Answers [`StoreError::UnknownTenant`] for a tenant that does not exist,
    /// [`StoreError::UnsupportedSearch`] for criteria the store cannot evaluate, and
    /// [`StoreError::InvalidCursor`] for a cursor whose sort keys do not fit the query.
    pub async fn search(
        &self,
        scope: impl Into<crate::Scope<'_>>,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
        page: Option<&PageCursor>,
    ) -> Result<SearchPage, StoreError> {
        let scope = scope.into();
        dispatch!(self, s => run::search(s, scope, query, registry, page).await)
    }

    /// Replaces the index rows of one resource with `entries`, in one transaction (a
    /// reindex; writes made through [`Store::write`] index themselves).
    pub async fn reindex(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
        entries: &[search::IndexEntry],
    ) -> Result<(), StoreError> {
        self.reindex_many(
            tenant,
            &[IndexedResource {
                resource_type,
                id,
                entries,
                hidden: &crate::search::index_rows::NOT_HIDDEN,
            }],
        )
        .await
    }

    /// Replaces the index rows of many resources in one transaction, with multi-row
    /// statements (the bulk path for import and reindex jobs).
    pub async fn reindex_many(
        &self,
        tenant: &TenantName,
        resources: &[IndexedResource<'_>],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => run::reindex(s, tenant, resources).await)
    }
}

impl Store {
    /// Refreshes the query planner's statistics of the search index tables (`ANALYZE`).
    ///
    /// Call it after a bulk import: until Postgres's autovacuum gets to freshly filled tables
    /// (about a minute), the planner believes they are empty and may pick nested loops that
    /// turn a millisecond search into seconds. On SQLite it fills `sqlite_stat1`.
    pub async fn analyze_search_index(&self) -> Result<(), StoreError> {
        dispatch!(self, s => run::maintain(s, "ANALYZE ").await)
    }

    /// [`Store::analyze_search_index`] at the end of a bulk load; on Postgres a `VACUUM
    /// (ANALYZE)`, which also fills the visibility map, so searches read the index tables with
    /// index-only scans instead of visiting the heap for every row (until autovacuum gets
    /// there, which on insert-only tables can take long).
    pub async fn optimize_after_bulk_load(&self) -> Result<(), StoreError> {
        dispatch!(self, s => run::optimize_after_load(s).await)
    }
}

/// Decodes a row of `record_columns` (the policy in column 7, sort keys from column 8 when `key_kinds` is not
/// empty), whichever driver read it.
pub(crate) fn decode_row(row: &impl RowCols, key_kinds: &[KeyKind]) -> Result<PageRow, StoreError> {
    let method: String = row.col(5)?;
    let record = crate::common::record(
        row.col(0)?,
        row.col(1)?,
        row.col(2)?,
        row.col(3)?,
        row.col(4)?,
        &method,
        row.col::<Option<String>>(6)?,
    )?;
    let policy = row.col::<Option<String>>(7)?;
    let mut keys = Vec::with_capacity(key_kinds.len());
    for (i, kind) in key_kinds.iter().enumerate() {
        let col = 8 + i;
        let v = match kind {
            KeyKind::Text => row.col::<Option<String>>(col)?.map(SortValue::Text),
            KeyKind::Int => row.col::<Option<i64>>(col)?.map(SortValue::Int),
            KeyKind::Float => row.col::<Option<f64>>(col)?.map(SortValue::Float),
        };
        keys.push(v.unwrap_or(SortValue::Null));
    }
    Ok(PageRow {
        record,
        policy,
        keys,
    })
}
