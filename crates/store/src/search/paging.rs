//! Result order and keyset paging (DESIGN.md section 3: never `OFFSET`).
//!
//! The order is the `_sort` keys (<https://hl7.org/fhir/R4/search.html#sort>), or distance
//! when `near` is used without `_sort`, then the resource id, which makes it total. A sort key
//! is the smallest indexed value of the parameter (largest for `-param`; for dates the lower
//! bound ascending and the upper bound descending); resources without a value come last in
//! both directions. A [`PageCursor`] holds the keys and id of the row a page ends (or
//! starts) at, so the next page is "rows after it" whatever was written meanwhile: rows that
//! were not modified are never skipped nor repeated.

use conformance::SearchParamType;
use search::{Filter, SearchQuery, SearchValue};
use serde::{Deserialize, Serialize};

use super::filter::{unsupported, Cond};
use super::index_rows::Table;
use super::sql::{Alias, Arg, Sql};
use super::values::{distance_squared, KM_PER_DEGREE};
use crate::StoreError;

/// Which way a cursor pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageDirection {
    /// Rows after the position, in result order.
    Next,
    /// Rows before the position (the page is still returned in result order).
    Previous,
}

/// One sort-key value of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortValue {
    /// The row has no value for this key (it sorts last).
    Null,
    Text(String),
    Int(i64),
    Float(f64),
}

/// A keyset paging position: the sort-key values and id of the last row of a page
/// ([`PageDirection::Next`]) or the first ([`PageDirection::Previous`]).
///
/// The store only needs this position; the server binds the cursor to the tenant and the
/// query (e.g. signs `encode()` together with the canonical query) before handing it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageCursor {
    pub direction: PageDirection,
    pub keys: Vec<SortValue>,
    pub id: String,
}

impl PageCursor {
    /// A compact JSON form, e.g. `{"direction":"next","keys":[{"text":"smith"}],"id":"p7"}`.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses [`PageCursor::encode`]'s output.
    pub fn decode(s: &str) -> Result<PageCursor, StoreError> {
        serde_json::from_str(s).map_err(|e| StoreError::InvalidCursor(e.to_string()))
    }
}

/// The SQL type a sort key decodes as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Text,
    Int,
    Float,
}

/// One sort key: its expression over the resource row `r`, type and direction.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub expr: Sql,
    pub kind: KeyKind,
    pub descending: bool,
}

/// The keys ordering `query`'s results before the id.
pub(crate) fn sort_keys(
    cond: &mut Cond<'_>,
    query: &SearchQuery,
    r: Alias,
) -> Result<Vec<Key>, StoreError> {
    let mut keys = Vec::new();
    for k in &query.sort {
        let p = &k.param;
        let agg = |asc: &'static str, desc: &'static str| if k.descending { desc } else { asc };
        let (expr, kind) = match p.code.as_str() {
            "_id" => {
                let mut e = Sql::new();
                e.col(r, "id");
                (e, KeyKind::Text)
            }
            "_lastUpdated" => {
                let mut e = Sql::new();
                e.col(r, "last_updated");
                (e, KeyKind::Int)
            }
            _ => {
                let (table, column, kind): (Table, &'static str, KeyKind) = match p.kind {
                    SearchParamType::String => (Table::String, "value_norm", KeyKind::Text),
                    SearchParamType::Token => (Table::Token, "code", KeyKind::Text),
                    SearchParamType::Uri => (Table::Uri, "value", KeyKind::Text),
                    SearchParamType::Reference => (
                        Table::Reference,
                        "COALESCE(target_type || '/' || target_id, url)",
                        KeyKind::Text,
                    ),
                    SearchParamType::Date => (Table::Date, agg("low", "high"), KeyKind::Int),
                    SearchParamType::Number => (Table::Number, "value", KeyKind::Float),
                    SearchParamType::Quantity => {
                        (Table::Quantity, agg("low", "high"), KeyKind::Float)
                    }
                    _ => return Err(unsupported(format!("cannot sort by `{}`", p.code))),
                };
                let x = cond.alias();
                let mut e = Sql::new();
                e.push("(SELECT ").push(agg("MIN(", "MAX("));
                // Columns are qualified by alias except the reference expression, which only
                // names this subquery's single table.
                if p.kind == SearchParamType::Reference {
                    e.push(column);
                } else {
                    e.col(x, column);
                }
                e.push(") FROM ")
                    .push(table.name())
                    .push(" ")
                    .alias(x)
                    .push(" WHERE ");
                cond.scope(&mut e, x, &query.resource_type, &p.code, (r, "id"));
                e.push(")");
                (e, kind)
            }
        };
        keys.push(Key {
            expr,
            kind,
            descending: k.descending,
        });
    }
    if keys.is_empty() {
        if let Some((_, code, near)) = near_criterion(query) {
            // Nearest first when `near` is used without `_sort`
            // (<https://hl7.org/fhir/R4/location.html#positional>).
            let x = cond.alias();
            let kx = KM_PER_DEGREE * near.latitude.to_radians().cos();
            let mut e = Sql::new();
            e.push("(SELECT MIN(");
            distance_squared(&mut e, x, near.latitude, near.longitude, kx);
            e.push(") FROM search_geo ").alias(x).push(" WHERE ");
            cond.scope(&mut e, x, &query.resource_type, code, (r, "id"));
            e.push(")");
            keys.push(Key {
                expr: e,
                kind: KeyKind::Float,
                descending: false,
            });
        }
    }
    Ok(keys)
}

/// The first top-level `near` value, if any, with the index of its criterion.
pub(crate) fn near_criterion(query: &SearchQuery) -> Option<(usize, &str, &search::NearValue)> {
    query
        .criteria
        .iter()
        .enumerate()
        .find_map(|(i, c)| match &c.filter {
            Filter::Param { param, values, .. } if param.code == "near" => {
                values.iter().find_map(|v| match v {
                    SearchValue::Near(n) => Some((i, param.code.as_str(), n)),
                    _ => None,
                })
            }
            _ => None,
        })
}

/// Checks that `cursor` has one value of the right type per key.
pub(crate) fn check_cursor(keys: &[Key], cursor: &PageCursor) -> Result<(), StoreError> {
    // No id or text the store wrote holds a NUL, and Postgres cannot bind one: a cursor with
    // one was not made here (found by the cursor fuzz target, FUZZING.md).
    let text_with_nul = cursor
        .keys
        .iter()
        .any(|v| matches!(v, SortValue::Text(s) if s.contains('\0')));
    if cursor.id.contains('\0') || text_with_nul {
        return Err(StoreError::InvalidCursor(
            "the cursor holds a NUL character".into(),
        ));
    }
    if keys.len() != cursor.keys.len() {
        return Err(StoreError::InvalidCursor(format!(
            "{} sort values for {} sort keys",
            cursor.keys.len(),
            keys.len()
        )));
    }
    for (k, v) in keys.iter().zip(&cursor.keys) {
        let ok = matches!(
            (k.kind, v),
            (_, SortValue::Null)
                | (KeyKind::Text, SortValue::Text(_))
                | (KeyKind::Int, SortValue::Int(_))
                | (KeyKind::Float, SortValue::Float(_))
        );
        if !ok {
            return Err(StoreError::InvalidCursor(format!(
                "sort value {v:?} does not fit a {:?} key",
                k.kind
            )));
        }
    }
    Ok(())
}

fn bind(v: &SortValue) -> Arg {
    match v {
        SortValue::Null => Arg::OptText(None),
        SortValue::Text(s) => Arg::Text(s.clone()),
        SortValue::Int(n) => Arg::Int(*n),
        SortValue::Float(f) => Arg::Float(*f),
    }
}

/// Key column `s.k<i>` of the wrapped page query.
fn key_col(sql: &mut Sql, s: Alias, i: usize) {
    const NAMES: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    sql.col(s, NAMES[i]);
}

/// The most sort keys a query may have (each is a column of the page query).
pub(crate) const MAX_SORT_KEYS: usize = 8;

/// Appends ` AS k<i>` for the select list.
pub(crate) fn key_alias(sql: &mut Sql, i: usize) {
    const NAMES: [&str; 8] = [
        " AS k0", " AS k1", " AS k2", " AS k3", " AS k4", " AS k5", " AS k6", " AS k7",
    ];
    sql.push(NAMES[i]);
}

/// Appends the keyset condition: rows strictly after (`Next`) or before (`Previous`) the
/// cursor's position in result order, over the columns of the wrapped query `s`.
pub(crate) fn keyset(sql: &mut Sql, s: Alias, keys: &[Key], cursor: &PageCursor) {
    let forward = cursor.direction == PageDirection::Next;
    sql.push("(");
    for i in 0..=keys.len() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        for (j, v) in cursor.keys.iter().enumerate().take(i) {
            // Equal on every earlier key.
            match v {
                SortValue::Null => {
                    key_col(sql, s, j);
                    sql.push(" IS NULL AND ");
                }
                v => {
                    key_col(sql, s, j);
                    sql.push(" = ").bind(bind(v)).push(" AND ");
                }
            }
        }
        if i == keys.len() {
            sql.col(s, "id")
                .push(if forward { " > " } else { " < " })
                .text(cursor.id.as_str());
        } else {
            // Strictly past on key i; NULLs sort last in result order.
            let later = forward != keys[i].descending;
            match (&cursor.keys[i], forward) {
                (SortValue::Null, true) => {
                    sql.push("1 = 0");
                }
                (SortValue::Null, false) => {
                    key_col(sql, s, i);
                    sql.push(" IS NOT NULL");
                }
                (v, true) => {
                    sql.push("(");
                    key_col(sql, s, i);
                    sql.push(" IS NULL OR ");
                    key_col(sql, s, i);
                    sql.push(if later { " > " } else { " < " })
                        .bind(bind(v))
                        .push(")");
                }
                (v, false) => {
                    key_col(sql, s, i);
                    sql.push(if later { " > " } else { " < " }).bind(bind(v));
                }
            }
        }
        sql.push(")");
    }
    sql.push(")");
}

/// Appends the `ORDER BY` list: result order when `forward`, its exact reverse otherwise.
pub(crate) fn order_by(sql: &mut Sql, s: Alias, keys: &[Key], forward: bool) {
    sql.push(" ORDER BY ");
    for (i, k) in keys.iter().enumerate() {
        sql.push("(");
        key_col(sql, s, i);
        sql.push(if forward {
            " IS NULL) ASC, "
        } else {
            " IS NULL) DESC, "
        });
        key_col(sql, s, i);
        sql.push(if forward != k.descending {
            " ASC, "
        } else {
            " DESC, "
        });
    }
    sql.col(s, "id")
        .push(if forward { " ASC" } else { " DESC" });
}
