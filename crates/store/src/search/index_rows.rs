//! Index rows: how a resource's [`IndexEntry`]s become rows of the `search_*` tables
//! (migration 0002), and the `INSERT` / `DELETE` statements that replace them.
//!
//! The rows always describe the current version of a live resource: the write transaction
//! deletes the old rows and inserts the new ones, and a delete removes them. `_id` and
//! `_lastUpdated` are not stored here: search answers them from the `resources` table, whose
//! values the store itself assigns.

use std::collections::{BTreeMap, HashSet};

use search::{IndexEntry, IndexValue};

use super::sql::{Arg, Sql};
use crate::restricted::HiddenRows;

/// The index tables; `delete_tenant` must empty each of them.
pub(crate) const INDEX_TABLES: &[&str] = &[
    "search_string",
    "search_token",
    "search_identifier_type",
    "search_reference",
    "search_date",
    "search_number",
    "search_quantity",
    "search_uri",
    "search_geo",
];

/// The largest number of values one statement binds: under SQLite's default limit (32,766)
/// and Postgres's (65,535).
const MAX_BINDS: usize = 30_000;

/// One of the index tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Table {
    String,
    Token,
    IdentifierType,
    Reference,
    Date,
    Number,
    Quantity,
    Uri,
    Geo,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::String => "search_string",
            Table::Token => "search_token",
            Table::IdentifierType => "search_identifier_type",
            Table::Reference => "search_reference",
            Table::Date => "search_date",
            Table::Number => "search_number",
            Table::Quantity => "search_quantity",
            Table::Uri => "search_uri",
            Table::Geo => "search_geo",
        }
    }

    /// The value columns, in the order [`row_of`] produces them.
    pub fn value_columns(self) -> &'static str {
        match self {
            Table::String => "value_norm, value_exact",
            Table::Token => "system, code, display",
            Table::IdentifierType => "type_system, type_code, value",
            Table::Reference => {
                "target_type, target_id, version, url, identifier_system, identifier_value"
            }
            Table::Date => "low, high",
            Table::Number => "value, low, high",
            Table::Quantity => "system, code, unit, value, low, high",
            Table::Uri => "value",
            Table::Geo => "lat, lon",
        }
    }
}

/// Whether search answers this parameter from the `resources` table instead of index rows.
pub(crate) fn from_resources_table(code: &str) -> bool {
    matches!(code, "_id" | "_lastUpdated")
}

/// The most bytes of a text value an index row keeps. A btree entry on Postgres holds at most
/// ~2.7 kB, so a longer value (a 3 MB `name.text`) made the write fail; the row keeps the
/// value's first bytes instead, and searches compare the same prefix ([`capped`] on the query
/// side too), so a value longer than this matches every indexed value sharing its first
/// `MAX_INDEXED_BYTES` bytes.
pub(crate) const MAX_INDEXED_BYTES: usize = 1024;

/// `s` cut to at most [`MAX_INDEXED_BYTES`] bytes, on a character boundary.
pub(crate) fn capped(s: &str) -> &str {
    if s.len() <= MAX_INDEXED_BYTES {
        return s;
    }
    let mut end = MAX_INDEXED_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One index row: its table, parameter code and value columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub table: Table,
    pub param: String,
    pub values: Vec<Arg>,
    /// Restricted content: kept under the tenant's shadow key
    /// ([`crate::restricted::shadow_tenant`]).
    pub shadow: bool,
}

impl Row {
    /// The `tenant` column of this row of `tenant`.
    pub fn tenant<'t>(&self, tenant: &'t str, shadow: &'t str) -> &'t str {
        if self.shadow {
            shadow
        } else {
            tenant
        }
    }
}

/// A row compared and hashed by value, without copying it (`Row` holds floats, so it has no
/// `Eq` or `Hash` of its own). Equality is `Row`'s: `-0.0` and `0.0` are equal and hash alike;
/// a NaN never equals itself, so such a row is simply kept, as `Vec::contains` kept it.
struct SameRow<'a>(&'a Row);

impl PartialEq for SameRow<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for SameRow<'_> {}

impl std::hash::Hash for SameRow<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let float = |f: f64| if f == 0.0 { 0 } else { f.to_bits() };
        self.0.table.hash(h);
        self.0.param.hash(h);
        for arg in &self.0.values {
            match arg {
                Arg::Text(s) => s.hash(h),
                Arg::OptText(s) => s.hash(h),
                Arg::Int(i) => i.hash(h),
                Arg::Float(f) => float(*f).hash(h),
                Arg::OptFloat(f) => f.map(float).hash(h),
                Arg::Bool(b) => b.hash(h),
            }
        }
    }
}

/// The row for one entry, or `None` when the entry is answered from the `resources` table.
///
/// A reference without a type (`"reference": "123"`) gets the parameter's only target type
/// when it has exactly one, so chains, `_has` and includes can follow it.
pub(crate) fn row_of(entry: &IndexEntry) -> Option<Row> {
    if from_resources_table(&entry.param.code) {
        return None;
    }
    let text = |s: &str| Arg::Text(capped(s).to_owned());
    let opt = |s: &Option<String>| Arg::OptText(s.as_deref().map(|s| capped(s).to_owned()));
    let (table, values) = match &entry.value {
        IndexValue::String { normalized, exact } => {
            (Table::String, vec![text(normalized), text(exact)])
        }
        IndexValue::Token {
            system,
            code,
            display,
        } => (Table::Token, vec![opt(system), opt(code), opt(display)]),
        IndexValue::IdentifierOfType {
            type_system,
            type_code,
            value,
        } => (
            Table::IdentifierType,
            vec![opt(type_system), text(type_code), text(value)],
        ),
        IndexValue::Reference {
            target_type,
            target_id,
            version,
            url,
            identifier_system,
            identifier_value,
        } => {
            let target_type = match (target_type, target_id, &entry.param.target[..]) {
                (None, Some(_), [only]) if only != "Resource" => Some(only.clone()),
                _ => target_type.clone(),
            };
            (
                Table::Reference,
                vec![
                    Arg::OptText(target_type),
                    opt(target_id),
                    opt(version),
                    opt(url),
                    opt(identifier_system),
                    opt(identifier_value),
                ],
            )
        }
        IndexValue::Date { low, high } => (
            Table::Date,
            vec![
                Arg::Int(low.timestamp_micros()),
                Arg::Int(high.timestamp_micros()),
            ],
        ),
        IndexValue::Number { value, low, high } => (
            Table::Number,
            vec![Arg::Float(*value), Arg::Float(*low), Arg::Float(*high)],
        ),
        IndexValue::Quantity {
            system,
            code,
            unit,
            value,
            low,
            high,
        } => (
            Table::Quantity,
            vec![
                opt(system),
                opt(code),
                opt(unit),
                Arg::OptFloat(*value),
                Arg::Float(*low),
                Arg::Float(*high),
            ],
        ),
        IndexValue::Uri(u) => (Table::Uri, vec![text(u)]),
        IndexValue::Geo { lat, lon } => (Table::Geo, vec![Arg::Float(*lat), Arg::Float(*lon)]),
    };
    Some(Row {
        table,
        param: entry.param.code.clone(),
        values,
        shadow: false,
    })
}

/// One resource's index entries, for the bulk path.
#[derive(Debug, Clone, Copy)]
pub struct IndexedResource<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub entries: &'a [IndexEntry],
    /// Its rows that hold restricted content (see `restricted.rs`).
    pub hidden: &'a HiddenRows,
}

/// [`HiddenRows::None`], for resources without restricted content.
pub static NOT_HIDDEN: HiddenRows = HiddenRows::None;

/// The ids, by type, of the resources whose old rows a write must delete: those with
/// `replace` set. A resource without a live current version before the write has no rows
/// (a delete removes them with the tombstone), so a create skips the `DELETE`s: nine
/// statements per resource on the API path, and on an import's growing tables the
/// statements whose plans went wrong as the tables grew (BENCHMARKS.md "Import"; the plans are in its git history).
pub(crate) fn replaced_ids_by_type<'r>(
    resources: &[IndexedResource<'r>],
    replace: &[bool],
) -> BTreeMap<&'r str, Vec<&'r str>> {
    debug_assert_eq!(resources.len(), replace.len());
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (r, _) in resources
        .iter()
        .zip(replace)
        .filter(|(_, &replace)| replace)
    {
        by_type.entry(r.resource_type).or_default().push(r.id);
    }
    by_type
}

/// `DELETE` statements removing every row of `tables` (keyed by tenant, type and id: the
/// index tables, [`crate::restricted::RESTRICTION_TABLES`]) of the given resources of one type,
/// under the tenant's own key and its shadow key ([`crate::restricted::shadow_tenant`]).
pub(crate) fn delete_statements(
    tables: &[&'static str],
    tenant: &str,
    resource_type: &str,
    ids: &[&str],
) -> Vec<Sql> {
    let shadow = crate::restricted::shadow_tenant(tenant);
    let mut out = Vec::new();
    for chunk in ids.chunks(MAX_BINDS - 3) {
        for table in tables {
            let mut sql = Sql::new();
            sql.push("DELETE FROM ")
                .push(table)
                .push(" WHERE tenant IN (")
                .text(tenant)
                .push(", ")
                .text(&shadow)
                .push(") AND res_type = ")
                .text(resource_type)
                .push(" AND id IN ")
                .text_list(chunk.iter().copied());
            out.push(sql);
        }
    }
    out
}

/// The rows of `resources` by table, as (resource type, id, row). Identical rows of one
/// resource are kept once, and a resource listed twice keeps only its last entries (a batch
/// may write a resource twice).
pub(crate) fn rows_by_table<'r>(
    resources: &[IndexedResource<'r>],
) -> BTreeMap<Table, Vec<(&'r str, &'r str, Row)>> {
    let mut by_table: BTreeMap<Table, Vec<(&'r str, &'r str, Row)>> = BTreeMap::new();
    let mut seen = HashSet::new();
    let last_first = resources
        .iter()
        .rev()
        .filter(|r| seen.insert((r.resource_type, r.id)));
    for r in last_first {
        // A set, not `Vec::contains`: a resource with 50,000 identifiers must cost linear time.
        let mut rows: Vec<Row> = r.entries.iter().filter_map(row_of).collect();
        if *r.hidden != HiddenRows::None {
            for row in &mut rows {
                row.shadow = r.hidden.hides(&row.param);
            }
        }
        let mut unique = HashSet::with_capacity(rows.len());
        let first: Vec<bool> = rows.iter().map(|row| unique.insert(SameRow(row))).collect();
        drop(unique);
        for (row, _) in rows.into_iter().zip(first).filter(|(_, first)| *first) {
            by_table
                .entry(row.table)
                .or_default()
                .push((r.resource_type, r.id, row));
        }
    }
    by_table
}

/// Multi-row `INSERT` statements for the rows of `resources` (see [`rows_by_table`]),
/// chunked under the bind limit. SQLite's write path (Postgres writes rows with `COPY`,
/// `pg_copy.rs`).
///
/// `OR FAIL`, not SQLite's default `ABORT`: a multi-row statement that may abort inside a
/// transaction makes SQLite copy every page it touches into a statement journal first, so
/// that it can undo the statement alone (`subjournalPageIfRequired`, with its allocations,
/// was a tenth of the writer's profile). The store never goes on after a failed statement:
/// the caller's whole transaction rolls back, so undoing the statement alone buys nothing.
pub(crate) fn insert_statements(tenant: &str, resources: &[IndexedResource<'_>]) -> Vec<Sql> {
    let by_table = rows_by_table(resources);
    let shadow = crate::restricted::shadow_tenant(tenant);
    let mut out = Vec::new();
    for (table, rows) in by_table {
        let per_row = rows.first().map_or(1, |(_, _, r)| r.values.len() + 4);
        for chunk in rows.chunks((MAX_BINDS / per_row).max(1)) {
            let mut sql = Sql::new();
            sql.push("INSERT OR FAIL INTO ")
                .push(table.name())
                .push(" (tenant, res_type, id, param, ")
                .push(table.value_columns())
                .push(") VALUES ");
            for (i, (resource_type, id, row)) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.text(row.tenant(tenant, &shadow))
                    .push(", ")
                    .text(*resource_type)
                    .push(", ")
                    .text(*id)
                    .push(", ")
                    .text(row.param.as_str());
                for v in &row.values {
                    sql.push(", ").bind(v.clone());
                }
                sql.push(")");
            }
            out.push(sql);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(resource: serde_json::Value) -> Vec<IndexEntry> {
        search::Extractor::new(conformance::Registry::builtin()).extract(&resource)
    }

    #[test]
    fn rows_skip_id_and_last_updated_and_deduplicate() {
        let e = entries(serde_json::json!({
            "resourceType": "Practitioner", "id": "p1",
            "meta": {"lastUpdated": "2020-01-01T00:00:00Z"},
            "name": [{"family": "Smith"}, {"family": "Smith"}]
        }));
        assert!(e.iter().any(|e| e.param.code == "_id"));
        let stmts = insert_statements(
            "default",
            &[IndexedResource {
                resource_type: "Practitioner",
                id: "p1",
                entries: &e,
                hidden: &NOT_HIDDEN,
            }],
        );
        let texts: Vec<String> = stmts.iter().map(|s| s.debug().0).collect();
        assert!(
            texts.iter().all(|t| !t.contains("search_date")),
            "{texts:?}"
        );
        let string_insert = stmts
            .iter()
            .find(|s| s.debug().0.starts_with("INSERT OR FAIL INTO search_string"))
            .map(|s| s.debug().1)
            .unwrap_or_default();
        let smiths = string_insert
            .iter()
            .filter(|a| **a == Arg::Text("smith".into()))
            .count();
        // `family` and `name` each index the family name once, though the resource repeats
        // it; `phonetic` indexes its Soundex code, once.
        assert_eq!(smiths, 2, "{string_insert:?}");
        let codes = string_insert
            .iter()
            .filter(|a| **a == Arg::Text("S530".into()))
            .count();
        assert_eq!(codes, 2, "value_norm and value_exact: {string_insert:?}");
    }

    #[test]
    fn a_resource_listed_twice_keeps_its_last_entries() {
        let old =
            entries(serde_json::json!({"resourceType": "Organization", "id": "o", "name": "Old"}));
        let new =
            entries(serde_json::json!({"resourceType": "Organization", "id": "o", "name": "New"}));
        let item = |entries| IndexedResource {
            resource_type: "Organization",
            id: "o",
            entries,
            hidden: &NOT_HIDDEN,
        };
        let args: Vec<Arg> = insert_statements("default", &[item(&old), item(&new)])
            .iter()
            .flat_map(|s| s.debug().1)
            .collect();
        assert!(args.contains(&Arg::Text("new".into())), "{args:?}");
        assert!(!args.contains(&Arg::Text("old".into())), "{args:?}");
    }

    #[test]
    fn value_columns_match_the_row_shapes() {
        let e = entries(serde_json::json!({
            "resourceType": "InsurancePlan", "id": "i",
            "name": "Plan", "identifier": [{"value": "1", "type": {"coding": [{"code": "NPI"}]}}],
            "period": {"start": "2020"},
            "ownedBy": {"reference": "Organization/o"},
            "plan": [{"generalCost": [{"groupSize": 3, "cost": {"value": 1, "currency": "USD"}}]}]
        }));
        let rows = rows_by_table(&[IndexedResource {
            resource_type: "InsurancePlan",
            id: "i",
            entries: &e,
            hidden: &NOT_HIDDEN,
        }]);
        assert!(rows.len() >= 6, "{:?}", rows.keys());
        for (table, rows) in rows {
            for (_, _, row) in rows {
                assert_eq!(
                    row.values.len(),
                    table.value_columns().split(',').count(),
                    "{table:?}"
                );
            }
        }
    }

    #[test]
    fn untyped_references_take_the_only_target_type() {
        let e = entries(serde_json::json!({
            "resourceType": "PractitionerRole", "id": "r1",
            "practitioner": {"reference": "p1"}
        }));
        let row = e
            .iter()
            .filter(|e| e.param.code == "practitioner")
            .find_map(row_of)
            .map(|r| r.values);
        assert_eq!(
            row.and_then(|v| v.first().cloned()),
            Some(Arg::OptText(Some("Practitioner".into())))
        );
    }

    #[test]
    fn large_batches_stay_under_the_bind_limit() {
        let e = entries(serde_json::json!({
            "resourceType": "Location", "id": "l",
            "name": "A", "address": {"city": "Ann Arbor"},
            "position": {"latitude": 42.0, "longitude": -83.0}
        }));
        let ids: Vec<String> = (0..20_000).map(|i| format!("l{i}")).collect();
        let items: Vec<IndexedResource<'_>> = ids
            .iter()
            .map(|id| IndexedResource {
                resource_type: "Location",
                id,
                entries: &e,
                hidden: &NOT_HIDDEN,
            })
            .collect();
        for s in insert_statements("default", &items) {
            assert!(s.bind_count() <= MAX_BINDS, "{}", s.bind_count());
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        for s in delete_statements(INDEX_TABLES, "default", "Location", &refs) {
            assert!(s.bind_count() <= MAX_BINDS);
        }
    }
}
