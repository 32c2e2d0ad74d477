//! One search value -> a condition on one index row (alias `x`), per parameter type
//! (<https://hl7.org/fhir/R4/search.html#ptypes>): string starts-with / `:exact` /
//! `:contains`, token system|code forms, `:text`, `:of-type`, references and `:identifier`,
//! the nine prefixes over `[low, high)` ranges for dates, numbers and quantities, uri
//! `:above` / `:below` (also on canonical references), token `:in` / `:not-in` over an
//! expanded ValueSet, token `:above` / `:below` over a CodeSystem's closure, and `near`.
//!
//! Index rows keep at most the first `MAX_INDEXED_BYTES` of a text value (`index_rows.rs`),
//! so every text value compared with a row's column (`=`, `IN`, starts-with) goes through
//! [`capped`] first; otherwise a longer value could never find the resource that holds it.
//! The known limit: two values sharing their first `MAX_INDEXED_BYTES` bytes are the same
//! value to the index, so searching for either finds both (nothing re-checks the resource
//! body). `LIKE` patterns (`:contains`, token `:text`) are not capped (a pattern is not a
//! prefix): they see only the stored bytes, so text past the cap is not found.

use conformance::SearchParamDef;
use search::{
    HierarchyRef, Modifier, NearValue, Prefix, QuantityValue, ReferenceValue, SearchValue,
    TokenSystem, TokenValue, ValueSetRef,
};

use super::filter::{unsupported, Cond};
use super::index_rows::capped;
use super::sql::{like_escape, prefix_upper_bound, Alias, Arg, Sql};
use crate::StoreError;

/// Kilometres per degree of latitude (mean Earth radius 6371.0088 km).
pub(crate) const KM_PER_DEGREE: f64 = 6371.0088 * std::f64::consts::PI / 180.0;

/// The radius `near` uses when the request gives none (the spec leaves it to the server).
pub const DEFAULT_NEAR_KM: f64 = 50.0;

impl Cond<'_> {
    /// Appends the condition for one OR-alternative on index row `x`.
    pub(crate) fn value(
        &mut self,
        sql: &mut Sql,
        x: Alias,
        param: &SearchParamDef,
        modifier: Option<&Modifier>,
        value: &SearchValue,
    ) -> Result<(), StoreError> {
        match value {
            SearchValue::String { exact, normalized } => {
                match modifier {
                    Some(Modifier::Exact) => {
                        // An exact match has the same folded form, so the condition on
                        // `value_norm` lets the value index find the rows (there is no
                        // index on `value_exact`: migration 0004).
                        sql.col(x, "value_norm")
                            .push(" = ")
                            .text(capped(normalized))
                            .push(" AND ")
                            .col(x, "value_exact")
                            .push(" = ")
                            .text(capped(exact));
                    }
                    Some(Modifier::Contains) => {
                        sql.col(x, "value_norm")
                            .push(" LIKE ")
                            .text(format!("%{}%", like_escape(normalized)))
                            .push(" ESCAPE '\\'");
                    }
                    _ => starts_with(sql, x, "value_norm", capped(normalized)),
                }
                Ok(())
            }
            SearchValue::Token(t) => {
                token(sql, x, ("system", "code"), t);
                Ok(())
            }
            SearchValue::Text(text) => {
                // `:text`: the text starts with the value, or one of its words does.
                sql.push("(")
                    .col(x, "display")
                    .push(" LIKE ")
                    .text(format!("{}%", like_escape(text)))
                    .push(" ESCAPE '\\' OR ")
                    .col(x, "display")
                    .push(" LIKE ")
                    .text(format!("% {}%", like_escape(text)))
                    .push(" ESCAPE '\\')");
                Ok(())
            }
            SearchValue::OfType(o) => {
                sql.col(x, "type_code")
                    .push(" = ")
                    .text(capped(&o.type_code))
                    .push(" AND ")
                    .col(x, "type_system")
                    .push(" = ")
                    .text(capped(&o.type_system))
                    .push(" AND ")
                    .col(x, "value")
                    .push(" = ")
                    .text(capped(&o.value));
                Ok(())
            }
            SearchValue::Reference(r) => match modifier {
                Some(m @ (Modifier::Above | Modifier::Below)) => match &r.url {
                    Some(url) => uri(sql, x, "url", Some(m), url),
                    None => Err(unsupported(format!(
                        "`{}:{}`: on a reference, `:above` / `:below` take a canonical (absolute) \
                         URL and compare it as a uri; R4 defines no hierarchy for `Type/id`",
                        param.code,
                        m.as_str()
                    ))),
                },
                _ => {
                    reference(sql, x, r);
                    Ok(())
                }
            },
            SearchValue::InValueSet(r) => in_value_set(sql, x, r),
            SearchValue::Hierarchy(h) => in_hierarchy(sql, x, h),
            SearchValue::Identifier(t) => {
                token(sql, x, ("identifier_system", "identifier_value"), t);
                Ok(())
            }
            SearchValue::Date { prefix, value } => {
                let r = if *prefix == Prefix::Ap {
                    value.range.approximate(self.now)
                } else {
                    value.range
                };
                range(
                    sql,
                    *prefix,
                    (x, "low"),
                    (x, "high"),
                    Arg::Int(r.low.timestamp_micros()),
                    Arg::Int(r.high.timestamp_micros()),
                );
                Ok(())
            }
            SearchValue::Number { prefix, value } => {
                let (lo, hi) = if *prefix == Prefix::Ap {
                    value.approximate()
                } else {
                    (value.low, value.high)
                };
                range(
                    sql,
                    *prefix,
                    (x, "low"),
                    (x, "high"),
                    Arg::Float(lo),
                    Arg::Float(hi),
                );
                Ok(())
            }
            SearchValue::Quantity(q) => {
                quantity(sql, x, q);
                Ok(())
            }
            SearchValue::Uri(u) => uri(sql, x, "value", modifier, u),
            SearchValue::Near(n) => {
                near(sql, x, n);
                Ok(())
            }
            SearchValue::Missing(_) => Err(unsupported("`:missing` mixed with other values")),
            SearchValue::Composite(_) => Err(unsupported(format!(
                "`{}`: a composite inside a composite",
                param.code
            ))),
        }
    }
}

/// `col >= prefix AND col < next(prefix)`: "starts with" that uses a btree index on both
/// backends (byte order: SQLite's BINARY collation, Postgres `COLLATE "C"`).
pub(crate) fn starts_with(sql: &mut Sql, x: Alias, column: &'static str, prefix: &str) {
    sql.col(x, column).push(" >= ").text(prefix);
    if let Some(upper) = prefix_upper_bound(prefix) {
        sql.push(" AND ").col(x, column).push(" < ").text(upper);
    }
}

/// Token forms (<https://hl7.org/fhir/R4/search.html#token>): `code`, `system|code`,
/// `|code` (no system) and `system|` (any code in the system).
fn token(sql: &mut Sql, x: Alias, (system, code): (&'static str, &'static str), t: &TokenValue) {
    let mut first = true;
    let mut and = |sql: &mut Sql| {
        if !std::mem::take(&mut first) {
            sql.push(" AND ");
        }
    };
    if let Some(c) = &t.code {
        and(sql);
        sql.col(x, code).push(" = ").text(capped(c));
    }
    match &t.system {
        TokenSystem::Any => {}
        TokenSystem::None => {
            and(sql);
            sql.col(x, system).push(" IS NULL");
        }
        TokenSystem::Is(s) => {
            and(sql);
            sql.col(x, system).push(" = ").text(capped(s));
        }
    }
    if first {
        // The parser never yields a token without code and system; match nothing if it did.
        sql.push("1 = 0");
    }
}

/// Reference forms (<https://hl7.org/fhir/R4/search.html#reference>): an absolute URL is
/// compared literally; `Type/id` (or `id` with `:Type`) by type and id; a bare `id` by id
/// in any type; `_history/n` also by version.
fn reference(sql: &mut Sql, x: Alias, r: &ReferenceValue) {
    if let Some(url) = &r.url {
        sql.col(x, "url").push(" = ").text(capped(url));
        return;
    }
    sql.col(x, "target_id")
        .push(" = ")
        .text(capped(r.id.as_deref().unwrap_or_default()));
    if let Some(t) = &r.resource_type {
        sql.push(" AND ")
            .col(x, "target_type")
            .push(" = ")
            .text(t.as_str());
    }
    if let Some(v) = &r.version {
        sql.push(" AND ")
            .col(x, "version")
            .push(" = ")
            .text(capped(v));
    }
}

/// The prefix rules of [`Prefix::matches`] over the row's `[lo, hi)` and the search range
/// `[s_lo, s_hi)` (<https://hl7.org/fhir/R4/search.html#prefix>).
pub(crate) fn range(
    sql: &mut Sql,
    prefix: Prefix,
    lo: (Alias, &'static str),
    hi: (Alias, &'static str),
    s_lo: Arg,
    s_hi: Arg,
) {
    let contains = |sql: &mut Sql| {
        sql.push("(")
            .col(lo.0, lo.1)
            .push(" >= ")
            .bind(s_lo.clone())
            .push(" AND ")
            .col(hi.0, hi.1)
            .push(" <= ")
            .bind(s_hi.clone())
            .push(")");
    };
    match prefix {
        Prefix::Eq => contains(sql),
        Prefix::Ne => {
            sql.push("NOT ");
            contains(sql);
        }
        Prefix::Gt => {
            sql.col(hi.0, hi.1).push(" > ").bind(s_hi.clone());
        }
        Prefix::Lt => {
            sql.col(lo.0, lo.1).push(" < ").bind(s_lo.clone());
        }
        Prefix::Ge => {
            sql.col(hi.0, hi.1)
                .push(" > ")
                .bind(s_hi.clone())
                .push(" OR ");
            contains(sql);
        }
        Prefix::Le => {
            sql.col(lo.0, lo.1)
                .push(" < ")
                .bind(s_lo.clone())
                .push(" OR ");
            contains(sql);
        }
        Prefix::Sa => {
            sql.col(lo.0, lo.1).push(" >= ").bind(s_hi.clone());
        }
        Prefix::Eb => {
            sql.col(hi.0, hi.1).push(" <= ").bind(s_lo.clone());
        }
        Prefix::Ap => {
            sql.col(lo.0, lo.1)
                .push(" < ")
                .bind(s_hi.clone())
                .push(" AND ")
                .col(hi.0, hi.1)
                .push(" > ")
                .bind(s_lo.clone());
        }
    }
}

/// A quantity: the number's prefix over the range, then the unit: `system|code` must both
/// match; `||code` matches the code or the human unit.
fn quantity(sql: &mut Sql, x: Alias, q: &QuantityValue) {
    let (lo, hi) = if q.prefix == Prefix::Ap {
        q.number.approximate()
    } else {
        (q.number.low, q.number.high)
    };
    sql.push("(");
    range(
        sql,
        q.prefix,
        (x, "low"),
        (x, "high"),
        Arg::Float(lo),
        Arg::Float(hi),
    );
    sql.push(")");
    if let Some(s) = &q.system {
        sql.push(" AND ")
            .col(x, "system")
            .push(" = ")
            .text(capped(s));
    }
    if let Some(c) = &q.code {
        let c = capped(c);
        sql.push(" AND ");
        if q.system.is_some() {
            sql.col(x, "code").push(" = ").text(c);
        } else {
            sql.push("(")
                .col(x, "code")
                .push(" = ")
                .text(c)
                .push(" OR ")
                .col(x, "unit")
                .push(" = ")
                .text(c)
                .push(")");
        }
    }
}

/// Token `:in`: the row's `system|code` is in the expanded ValueSet (enumerated codes by
/// system, or any code of a whole system but its excluded ones). Rows without a system are
/// never in a ValueSet.
fn in_value_set(sql: &mut Sql, x: Alias, r: &ValueSetRef) -> Result<(), StoreError> {
    let Some(e) = &r.expansion else {
        return Err(unsupported(format!(
            "ValueSet `{}` was not expanded before the search",
            r.text
        )));
    };
    if e.is_empty() {
        sql.push("1 = 0");
        return Ok(());
    }
    sql.push("(");
    let mut first = true;
    let mut or = |sql: &mut Sql| {
        if !std::mem::take(&mut first) {
            sql.push(" OR ");
        }
    };
    for (system, codes) in &e.codes {
        or(sql);
        sql.push("(");
        system_codes(sql, x, system, codes.iter().map(String::as_str));
        sql.push(")");
    }
    for (system, excluded) in &e.systems {
        or(sql);
        sql.push("(")
            .col(x, "system")
            .push(" = ")
            .text(capped(system))
            .push(" AND ")
            .col(x, "code")
            .push(" IS NOT NULL");
        if !excluded.is_empty() {
            sql.push(" AND ")
                .col(x, "code")
                .push(" NOT IN ")
                .text_list(excluded.iter().map(|c| capped(c)));
        }
        sql.push(")");
    }
    sql.push(")");
    Ok(())
}

/// Token `:above` / `:below`: the system, and a code of the closure the store computed.
fn in_hierarchy(sql: &mut Sql, x: Alias, h: &HierarchyRef) -> Result<(), StoreError> {
    let Some(codes) = &h.closure else {
        return Err(unsupported(format!(
            "the hierarchy of `{}|{}` was not read before the search",
            h.system, h.code
        )));
    };
    if codes.is_empty() {
        sql.push("1 = 0");
        return Ok(());
    }
    system_codes(sql, x, &h.system, codes.iter().map(String::as_str));
    Ok(())
}

/// `x.system = ? AND x.code IN (…)`: one of `codes` of `system` (an expanded ValueSet's
/// enumerated codes, a CodeSystem closure), each compared as the index stores it.
fn system_codes<'c>(
    sql: &mut Sql,
    x: Alias,
    system: &str,
    codes: impl IntoIterator<Item = &'c str>,
) {
    sql.col(x, "system")
        .push(" = ")
        .text(capped(system))
        .push(" AND ")
        .col(x, "code")
        .push(" IN ")
        .text_list(codes.into_iter().map(capped));
}

/// Uri equality, `:below` (the value or anything under it as a path) and `:above` (the value
/// or any of its parent paths) (<https://hl7.org/fhir/R4/search.html#uri>), on `column`.
fn uri(
    sql: &mut Sql,
    x: Alias,
    column: &'static str,
    modifier: Option<&Modifier>,
    u: &str,
) -> Result<(), StoreError> {
    match modifier {
        None => {
            sql.col(x, column).push(" = ").text(capped(u));
        }
        Some(Modifier::Below) => {
            if u.ends_with('/') {
                starts_with(sql, x, column, capped(u));
            } else {
                sql.push("(")
                    .col(x, column)
                    .push(" = ")
                    .text(capped(u))
                    .push(" OR (");
                starts_with(sql, x, column, capped(&format!("{u}/")));
                sql.push("))");
            }
        }
        Some(Modifier::Above) => {
            // A parent longer than the cap is stored as its first bytes: compare those.
            let parents: Vec<&str> = uri_parents(u).into_iter().map(capped).collect();
            sql.col(x, column).push(" IN ").text_list(parents);
        }
        Some(m) => return Err(unsupported(format!("`:{}` on uri", m.as_str()))),
    }
    Ok(())
}

/// `u` and each of its parent paths, with and without the trailing `/`, never shorter than
/// the authority (`http://host`).
fn uri_parents(u: &str) -> Vec<&str> {
    let start = u.find("://").map_or(0, |i| i + 3);
    let mut out = vec![u];
    for (i, _) in u.match_indices('/').filter(|(i, _)| *i >= start) {
        out.push(&u[..i]);
        out.push(&u[..=i]);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `near`: a bounding box on (lat, lon) that the index serves, then the equirectangular
/// distance (`cos(lat0)` computed here, so the SQL is plain arithmetic and runs on SQLite
/// without math functions). Across the antimeridian the box is split in two. Within a few
/// hundred kilometres the approximation is within about 1% of the great-circle distance.
fn near(sql: &mut Sql, x: Alias, n: &NearValue) {
    let d = n.distance_km.unwrap_or(DEFAULT_NEAR_KM);
    let kx = KM_PER_DEGREE * n.latitude.to_radians().cos();
    let dlat = d / KM_PER_DEGREE;
    let dlon = if kx > 1e-9 { d / kx } else { 360.0 };
    sql.col(x, "lat")
        .push(" >= ")
        .float(n.latitude - dlat)
        .push(" AND ")
        .col(x, "lat")
        .push(" <= ")
        .float(n.latitude + dlat);
    if dlon < 180.0 {
        // Longitude boxes, shifted by ±360° where the box crosses the antimeridian.
        let (lo, hi) = (n.longitude - dlon, n.longitude + dlon);
        let mut boxes = vec![(lo.max(-180.0), hi.min(180.0))];
        if lo < -180.0 {
            boxes.push((lo + 360.0, 180.0));
        }
        if hi > 180.0 {
            boxes.push((-180.0, hi - 360.0));
        }
        sql.push(" AND (");
        for (i, (lo, hi)) in boxes.into_iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(")
                .col(x, "lon")
                .push(" >= ")
                .float(lo)
                .push(" AND ")
                .col(x, "lon")
                .push(" <= ")
                .float(hi)
                .push(")");
        }
        sql.push(")");
    }
    sql.push(" AND ");
    distance_squared(sql, x, n.latitude, n.longitude, kx);
    sql.push(" <= ").float(d * d);
}

/// The squared equirectangular distance in km² between row `x` and (lat0, lon0); the
/// longitude difference is taken the short way round (within ±180°).
pub(crate) fn distance_squared(sql: &mut Sql, x: Alias, lat0: f64, lon0: f64, kx: f64) {
    let dlon = |sql: &mut Sql| {
        sql.push("(CASE WHEN ")
            .col(x, "lon")
            .push(" - ")
            .float(lon0)
            .push(" > 180 THEN ")
            .col(x, "lon")
            .push(" - ")
            .float(lon0 + 360.0)
            .push(" WHEN ")
            .col(x, "lon")
            .push(" - ")
            .float(lon0)
            .push(" < -180 THEN ")
            .col(x, "lon")
            .push(" - ")
            .float(lon0 - 360.0)
            .push(" ELSE ")
            .col(x, "lon")
            .push(" - ")
            .float(lon0)
            .push(" END)");
    };
    let dlat = |sql: &mut Sql| {
        sql.push("(")
            .col(x, "lat")
            .push(" - ")
            .float(lat0)
            .push(")");
    };
    sql.push("((");
    dlat(sql);
    sql.push(" * ").float(KM_PER_DEGREE).push(") * (");
    dlat(sql);
    sql.push(" * ").float(KM_PER_DEGREE).push(") + (");
    dlon(sql);
    sql.push(" * ").float(kx).push(") * (");
    dlon(sql);
    sql.push(" * ").float(kx).push("))");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parents_walk_up_the_path() {
        assert_eq!(
            uri_parents("http://acme.org/fhir/ValueSet/1"),
            vec![
                "http://acme.org",
                "http://acme.org/",
                "http://acme.org/fhir",
                "http://acme.org/fhir/",
                "http://acme.org/fhir/ValueSet",
                "http://acme.org/fhir/ValueSet/",
                "http://acme.org/fhir/ValueSet/1",
            ]
        );
    }

    #[test]
    fn every_prefix_binds_its_bounds() {
        for p in [
            Prefix::Eq,
            Prefix::Ne,
            Prefix::Gt,
            Prefix::Lt,
            Prefix::Ge,
            Prefix::Le,
            Prefix::Sa,
            Prefix::Eb,
            Prefix::Ap,
        ] {
            let mut sql = Sql::new();
            range(
                &mut sql,
                p,
                (Alias(1), "low"),
                (Alias(1), "high"),
                Arg::Int(10),
                Arg::Int(20),
            );
            let (text, args) = sql.debug();
            assert!(
                !text.contains("10") && !text.contains("20"),
                "{p:?}: {text}"
            );
            assert!(!args.is_empty(), "{p:?}");
        }
    }
}
