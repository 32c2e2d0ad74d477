//! History interactions (<https://hl7.org/fhir/R4/http.html#history>): instance, type and
//! system, with `_since`, `_at`, `_count` and keyset paging.

use chrono::{DateTime, NaiveDate, Utc};
use fhir::{BundleBuilder, BundleEntry};
use serde_json::json;
use store::{HistoryQuery, HistoryScope, VersionRecord};

use crate::auth::access::{Interaction, ALL_TYPES};
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::QueryPairs;
use crate::App;

/// Parameters history understands; anything else is reported as unsupported.
const KNOWN: &[&str] = &["_count", "_since", "_at", "_cursor", "_format"];

/// Parses a FHIR `instant` or `dateTime`. Partial dates (`2020`, `2020-05`, `2020-05-01`)
/// mean the start of that period, in UTC; a time without a timezone is rejected because it
/// names no instant.
pub fn parse_instant(name: &str, raw: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.to_utc());
    }
    let padded = match raw.len() {
        4 => format!("{raw}-01-01"),
        7 => format!("{raw}-01"),
        _ => raw.to_owned(),
    };
    NaiveDate::parse_from_str(&padded, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{name}={raw:?} is not a FHIR instant (e.g. 2026-01-31T12:00:00Z) or date (2026-01-31)"
            ))
        })
}

fn parse_count(app: &App, raw: Option<&str>) -> Result<u32> {
    match raw {
        None => Ok(app.settings.default_count),
        Some(v) => v
            .parse::<u32>()
            .map(|n| n.min(app.settings.max_count))
            .map_err(|_| Error::invalid(format!("_count={v:?} is not a non-negative integer"))),
    }
}

/// Builds the history Bundle for `scope` as JSON text.
pub async fn history(ctx: &RequestCtx, scope: HistoryScope, q: &QueryPairs) -> Result<String> {
    match &scope {
        HistoryScope::System => ctx.authorize(ALL_TYPES, Interaction::Search)?,
        HistoryScope::Type(t) => ctx.authorize(t, Interaction::Search)?,
        HistoryScope::Instance(t, _) => ctx.authorize(t, Interaction::Read)?,
    }
    let (app, tenant) = (ctx.app(), ctx.tenant());
    if let Some((k, _)) = q.0.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "history does not support the parameter {k:?}; supported: _count, _since, _at"
        )));
    }
    let count = parse_count(app, q.get("_count"))?;
    let since = q
        .get("_since")
        .map(|v| parse_instant("_since", v))
        .transpose()?;
    // `_at` is a period at the value's precision: `2026-11-21` is that whole day.
    let at = q
        .get("_at")
        .map(|v| {
            search::parse_date(v)
                .map(|d| store::AtPeriod {
                    start: d.range.low,
                    end: d.range.high,
                })
                .map_err(|e| Error::invalid(format!("_at: {e}")))
        })
        .transpose()?;
    let base = app.tenant_base(tenant);
    // The cursor is bound to the tenant, the history level and the criteria, so it cannot
    // be replayed elsewhere or forged (DESIGN section 3).
    let mut criteria: Vec<(String, String)> =
        q.0.iter()
            .filter(|(k, _)| k != "_cursor")
            .cloned()
            .collect();
    if !criteria.iter().any(|(k, _)| k == "_count") {
        criteria.push(("_count".into(), count.to_string()));
    }
    let criteria_text = serde_urlencoded::to_string(&criteria).unwrap_or_default();
    let scope_text = match &scope {
        HistoryScope::System => "_history".to_owned(),
        HistoryScope::Type(t) => format!("{t}/_history"),
        HistoryScope::Instance(t, id) => format!("{t}/{id}/_history"),
    };
    let before_seq = q
        .get("_cursor")
        .map(|c| {
            app.cursors
                .open(c, tenant, &scope_text, &criteria_text)?
                .parse::<i64>()
                .map_err(|_| Error::invalid("the paging cursor is not valid here"))
        })
        .transpose()?;
    let path = match &scope {
        HistoryScope::System => format!("{base}/_history"),
        HistoryScope::Type(t) => format!("{base}/{t}/_history"),
        HistoryScope::Instance(t, id) => format!("{base}/{t}/{id}/_history"),
    };
    let query = HistoryQuery {
        scope,
        since,
        at,
        count,
        before_seq,
    };
    let page = app.store.history(ctx.scope(), &query).await?;

    // Links repeat the caller's criteria so every page is self-describing.
    let url = |seq: Option<i64>| match seq {
        Some(seq) => {
            let token = app
                .cursors
                .seal(tenant, &scope_text, &criteria_text, &seq.to_string());
            format!("{path}?{criteria_text}&_cursor={token}")
        }
        None => format!("{path}?{criteria_text}"),
    };
    let mut bundle = BundleBuilder::new("history")
        .total(Some(page.total))
        .timestamp(fhir::meta::format_instant(Utc::now()))
        .link("self", url(before_seq))
        .link("first", url(None));
    if let Some(next) = page.next_before_seq {
        bundle = bundle.link("next", url(Some(next)));
    }
    for r in &page.entries {
        bundle.entry(history_entry(&base, r)?);
    }
    Ok(bundle.to_json_string())
}

fn history_entry(base: &str, r: &VersionRecord) -> Result<BundleEntry> {
    let url = format!("{}/{}", r.resource_type, r.id);
    let resource = r
        .body
        .as_ref()
        .map(|b| serde_json::value::RawValue::from_string(b.clone()))
        .transpose()
        .map_err(|e| Error::internal(format!("stored body of {url} is not JSON: {e}")))?;
    let status = match r.method {
        store::Method::Post => "201 Created",
        store::Method::Delete => "204 No Content",
        _ if r.version == 1 => "201 Created",
        _ => "200 OK",
    };
    Ok(BundleEntry {
        full_url: Some(format!("{base}/{url}")),
        resource,
        request: Some(json!({
            "method": r.method.as_str(),
            "url": if r.method == store::Method::Post { r.resource_type.clone() } else { url.clone() },
        })),
        response: Some(json!({
            "status": status,
            "etag": format!("W/\"{}\"", r.version),
            "lastModified": fhir::meta::format_instant(r.last_updated),
        })),
        search: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_partial_dates() {
        assert_eq!(
            parse_instant("_since", "2026-01-02T03:04:05+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-01-02T02:04:05+00:00"
        );
        assert_eq!(
            parse_instant("_since", "2026").unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_instant("_since", "2026-03").unwrap().to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
        for bad in ["yesterday", "2026-13-01", "2026-01-01T10:00:00", ""] {
            assert!(parse_instant("_since", bad).is_err(), "{bad}");
        }
    }
}
