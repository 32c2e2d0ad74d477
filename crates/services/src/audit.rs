//! AuditEvent (<https://hl7.org/fhir/R4/auditevent.html>), served from the tenant's change
//! events (`store::ChangeEvent`) rather than stored twice: one AuditEvent per version written
//! or deleted, whatever path wrote it. Read (`AuditEvent/change-{n}`) and searched with the
//! standard parameters; never written by clients (the access rule answers 405).
//!
//! Who may read them: a client whose scopes grant AuditEvent (the audit trail is not public,
//! whatever the tenant's anonymous read setting), and only the events of resources it may
//! see now (restricted content: a hidden resource's events are hidden as its history is).
//!
//! Shape (R4 AuditEvent, as NDH asks for writes): `type` `rest`, `subtype` the interaction
//! (restful-interaction `create`, `update`, `patch`, `delete`), `action` C/U/D, `recorded`
//! the version's `lastUpdated`, `outcome` 0, one `agent` (`requestor`, the client's id as
//! `who.identifier`, or "anonymous", or fhirdir itself for an import), `source` the server,
//! and one `entity` whose `what` is the versioned reference of the version written (the
//! tombstone's for a delete).

use fhir::{BundleBuilder, BundleEntry, IssueType};
use search::value::Prefix;
use serde_json::{json, Value};
use store::{Agent, ChangeAction, ChangeEvent, EventFilter, EventOrder, Method, VersionRecord};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::Prefer;

/// The resource type served from change events.
pub const AUDIT_EVENT: &str = "AuditEvent";

/// Ids are `change-{event number}`.
const ID_PREFIX: &str = "change-";

/// Paging: the next page holds the events numbered below this (newest first) or above it.
const CURSOR: &str = "_cursor";

const EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";

/// The search parameters served, for the CapabilityStatement and the error that lists them.
pub const PARAMS: &[(&str, &str)] = &[
    ("entity", "reference"),
    ("agent", "reference"),
    ("altid", "token"),
    ("date", "date"),
    ("type", "token"),
    ("subtype", "token"),
    ("action", "token"),
    ("outcome", "token"),
];

/// `AuditEvent/{id}`; 404 for an id that is no event of the tenant the caller may see.
pub async fn read(ctx: &RequestCtx, id: &str) -> Result<VersionRecord> {
    ctx.authorize(AUDIT_EVENT, Interaction::Read)?;
    let not_found = || Error::not_found(format!("{AUDIT_EVENT}/{id} is not known"));
    let number: i64 = id
        .strip_prefix(ID_PREFIX)
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0 && *n < i64::MAX)
        .ok_or_else(not_found)?;
    let mut filter = EventFilter {
        after_number: Some(number - 1),
        below_number: Some(number + 1),
        ..EventFilter::default()
    };
    if !readable_only(ctx, &mut filter) {
        return Err(not_found());
    }
    let store = &ctx.app().store;
    let event = store
        .change_events(ctx.scope(), &filter, EventOrder::OldestFirst, 1)
        .await?
        .pop()
        .ok_or_else(not_found)?;
    Ok(record(ctx, &event))
}

/// Narrows `filter` to the events of the types the caller may read: an AuditEvent names the
/// resource, its version and who wrote it, which a client whose scopes do not reach that type
/// may not learn. `false` when no type is left (nothing can match).
fn readable_only(ctx: &RequestCtx, filter: &mut EventFilter) -> bool {
    let readable: Vec<&str> = fhir::RESOURCE_TYPES
        .iter()
        .copied()
        .filter(|t| ctx.may(t, Interaction::Read))
        .collect();
    if readable.len() == fhir::RESOURCE_TYPES.len() {
        return true;
    }
    if filter.resource_types.is_empty() {
        filter.resource_types = readable.iter().map(|t| (*t).to_owned()).collect();
    } else {
        filter
            .resource_types
            .retain(|t| readable.contains(&t.as_str()));
    }
    !filter.resource_types.is_empty()
}

/// The AuditEvent of `event` as a stored version (its only version, 1).
fn record(ctx: &RequestCtx, event: &ChangeEvent) -> VersionRecord {
    VersionRecord {
        resource_type: AUDIT_EVENT.to_owned(),
        id: format!("{ID_PREFIX}{}", event.number),
        version: 1,
        last_updated: event.at,
        method: Method::Post,
        deleted: false,
        body: Some(audit_event(ctx, event).to_string()),
    }
}

fn audit_event(ctx: &RequestCtx, e: &ChangeEvent) -> Value {
    let recorded = fhir::meta::format_instant(e.at);
    let (action, subtype) = match (e.action, e.method) {
        (ChangeAction::Delete, _) => ("D", "delete"),
        (_, Method::Patch) => ("U", "patch"),
        (ChangeAction::Create, _) => ("C", "create"),
        (ChangeAction::Update, _) => ("U", "update"),
    };
    let who = match &e.agent {
        Agent::Client(id) => json!({"identifier": {"value": id}, "display": id}),
        Agent::Anonymous => json!({"display": "anonymous"}),
        Agent::System => json!({"display": "fhirdir"}),
    };
    let mut agent = json!({"who": who, "requestor": true});
    if let Agent::Client(id) = &e.agent {
        agent["altId"] = json!(id);
    }
    json!({
        "resourceType": AUDIT_EVENT,
        "id": format!("{ID_PREFIX}{}", e.number),
        "meta": {"versionId": "1", "lastUpdated": recorded},
        "type": {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": INTERACTION, "code": subtype}],
        "action": action,
        "recorded": recorded,
        "outcome": "0",
        "agent": [agent],
        "source": {
            "site": ctx.tenant().as_str(),
            "observer": {"display": "fhirdir"},
            "type": [{
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server"
            }]
        },
        "entity": [{
            "what": {"reference": format!("{}/{}/_history/{}", e.resource_type, e.id, e.version)},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object"
            }
        }]
    })
}

/// What a search asks for, parsed.
struct AuditQuery {
    filter: EventFilter,
    /// A criterion no event can meet (`action=R`, `outcome=8`): nothing matches.
    none: bool,
    order: EventOrder,
    count: u32,
    total: bool,
    count_only: bool,
    /// The understood parameters, for the links.
    canonical: Vec<(String, String)>,
}

/// `GET|POST AuditEvent?...`: newest first unless `_sort=date`.
pub async fn search(
    ctx: &RequestCtx,
    pairs: Vec<(String, String)>,
    prefer: Prefer,
) -> Result<String> {
    ctx.authorize(AUDIT_EVENT, Interaction::Search)?;
    let app = ctx.app();
    let base = ctx.base();
    let mut q = parse(
        &base,
        &pairs,
        prefer,
        app.settings.default_count,
        app.settings.max_count,
    )?;
    q.none |= !readable_only(ctx, &mut q.filter);
    let cursor = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == CURSOR)
        .map(|(_, v)| v.parse::<i64>())
        .transpose()
        .map_err(|_| Error::invalid("the paging cursor is not valid here"))?;
    let mut filter = q.filter.clone();
    match (q.order, cursor) {
        (EventOrder::NewestFirst, Some(c)) => filter.below_number = Some(c),
        (EventOrder::OldestFirst, Some(c)) => filter.after_number = Some(c),
        (_, None) => {}
    }
    let store = &app.store;
    let total = match (q.none, q.total || q.count_only) {
        (true, _) => Some(0),
        (false, true) => Some(store.count_change_events(ctx.scope(), &q.filter).await?),
        (false, false) => None,
    };
    let events = if q.none || q.count_only {
        Vec::new()
    } else {
        store
            .change_events(ctx.scope(), &filter, q.order, q.count + 1)
            .await?
    };
    let query: String = serde_urlencoded::to_string(&q.canonical).unwrap_or_default();
    let link = |cursor: Option<i64>| {
        let sep = if query.is_empty() { "" } else { "&" };
        match cursor {
            Some(c) => format!("{base}/{AUDIT_EVENT}?{query}{sep}{CURSOR}={c}"),
            None => format!("{base}/{AUDIT_EVENT}?{query}"),
        }
    };
    let more = events.len() > q.count as usize;
    let page = &events[..events.len().min(q.count as usize)];
    let mut bundle = BundleBuilder::new("searchset")
        .total(total)
        .timestamp(fhir::meta::format_instant(chrono::Utc::now()))
        .link("self", link(cursor))
        .link("first", link(None));
    if more {
        if let Some(last) = page.last() {
            bundle = bundle.link("next", link(Some(last.number)));
        }
    }
    for e in page {
        let r = record(ctx, e);
        let body = r.body.unwrap_or_default();
        bundle.entry(BundleEntry {
            full_url: Some(format!("{base}/{AUDIT_EVENT}/{}", r.id)),
            resource: serde_json::value::RawValue::from_string(body).ok(),
            request: None,
            response: None,
            search: Some(json!({"mode": "match"})),
        });
    }
    Ok(bundle.to_json_string())
}

fn parse(
    base: &str,
    pairs: &[(String, String)],
    prefer: Prefer,
    default_count: u32,
    max_count: u32,
) -> Result<AuditQuery> {
    let mut q = AuditQuery {
        filter: EventFilter::default(),
        none: false,
        order: EventOrder::NewestFirst,
        count: default_count,
        total: false,
        count_only: false,
        canonical: Vec::new(),
    };
    for (key, value) in pairs {
        let (name, modifier) = match key.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (key.as_str(), None),
        };
        let understood = match (name, modifier) {
            (CURSOR | "_format" | "_pretty", _) => continue,
            ("_count", None) => {
                let n: u32 = value.parse().map_err(|_| {
                    Error::invalid(format!("_count must be a whole number, not {value:?}"))
                })?;
                q.count = n.min(max_count);
                if n == 0 {
                    q.count_only = true;
                }
                true
            }
            ("_sort", None) => {
                q.order = match value.as_str() {
                    "-date" | "-_lastUpdated" => EventOrder::NewestFirst,
                    "date" | "_lastUpdated" => EventOrder::OldestFirst,
                    other => {
                        return Err(Error::invalid(format!(
                            "AuditEvent sorts by date (`_sort=date` or `-date`), not {other:?}"
                        )))
                    }
                };
                true
            }
            ("_total", None) => {
                q.total = value == "accurate" || value == "estimate";
                true
            }
            ("_summary", None) if value == "count" => {
                q.count_only = true;
                true
            }
            ("entity", None) => {
                for v in value.split(',') {
                    q.filter.entities.push(entity(base, v)?);
                }
                true
            }
            ("agent", Some("identifier")) | ("altid", None) => {
                for v in value.split(',') {
                    let id = v.rsplit_once('|').map_or(v, |(_, id)| id);
                    q.filter.agents.push(Agent::Client(id.to_owned()));
                }
                true
            }
            ("date", None) => {
                date(&mut q.filter, value)?;
                true
            }
            ("type", None) => {
                q.none |= !any_code(value, EVENT_TYPE, |c| c == "rest");
                true
            }
            ("outcome", None) => {
                q.none |= !any_code(
                    value,
                    "http://terminology.hl7.org/CodeSystem/audit-event-outcome",
                    |c| c == "0",
                );
                true
            }
            ("action", None) => {
                let mut actions = Vec::new();
                for code in codes(value, "http://hl7.org/fhir/audit-event-action") {
                    match code {
                        "C" => actions.push(ChangeAction::Create),
                        "U" => actions.push(ChangeAction::Update),
                        "D" => actions.push(ChangeAction::Delete),
                        _ => {}
                    }
                }
                q.none |= actions.is_empty();
                q.filter.actions.extend(actions);
                true
            }
            ("subtype", None) => {
                let mut methods = Vec::new();
                for code in codes(value, INTERACTION) {
                    match code {
                        "create" => methods.extend([Method::Post, Method::Put]),
                        "update" => methods.push(Method::Put),
                        "patch" => methods.push(Method::Patch),
                        "delete" => methods.push(Method::Delete),
                        _ => {}
                    }
                }
                q.none |= methods.is_empty();
                q.filter.methods.extend(methods);
                true
            }
            _ => false,
        };
        if understood {
            q.canonical.push((key.clone(), value.clone()));
        } else if prefer.strict {
            let known: Vec<&str> = PARAMS.iter().map(|(n, _)| *n).collect();
            return Err(Error::bad_request(
                IssueType::NotSupported,
                format!(
                    "AuditEvent has no search parameter {key:?} here (it has {}, and _count, \
                     _sort, _total, _summary=count)",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(q)
}

/// The codes of a token search value list (`code`, `system|code`; `|code` has no system),
/// leaving out those of another system.
fn codes<'v>(value: &'v str, system: &'v str) -> impl Iterator<Item = &'v str> + 'v {
    value
        .split(',')
        .filter_map(move |v| match v.split_once('|') {
            Some((s, code)) if s.is_empty() || s == system => Some(code),
            Some(_) => None,
            None => Some(v),
        })
}

fn any_code(value: &str, system: &str, matches: impl Fn(&str) -> bool) -> bool {
    codes(value, system).any(matches)
}

/// `entity=Type/id`, `Type/id/_history/v`, or either as an absolute URL under the base.
fn entity(base: &str, value: &str) -> Result<(String, String, Option<i64>)> {
    let relative = value
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(value);
    let bad = || {
        Error::invalid(format!(
            "entity must be a reference Type/id or Type/id/_history/version, not {value:?}"
        ))
    };
    let parts: Vec<&str> = relative.split('/').collect();
    let version = match parts.as_slice() {
        [_, _] => None,
        [_, _, "_history", v] => Some(v.parse::<i64>().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    let (t, id) = (parts[0], parts[1]);
    if !fhir::is_resource_type(t) || !fhir::is_valid_id(id) {
        return Err(bad());
    }
    Ok((t.to_owned(), id.to_owned(), version))
}

/// `date=[prefix]value` on `recorded`, an instant: the conditions on it, in microseconds.
fn date(filter: &mut EventFilter, value: &str) -> Result<()> {
    let (prefix, raw) = Prefix::split("date", value).map_err(|e| Error::invalid(e.to_string()))?;
    let mut range = search::parse_date(raw)
        .map_err(|e| Error::invalid(e.to_string()))?
        .range;
    if prefix == Prefix::Ap {
        range = range.approximate(chrono::Utc::now());
    }
    let (low, high) = (range.low.timestamp_micros(), range.high.timestamp_micros());
    match prefix {
        Prefix::Eq | Prefix::Ap => {
            filter.at_least.push(low);
            filter.before.push(high);
        }
        Prefix::Ge => filter.at_least.push(low),
        Prefix::Gt | Prefix::Sa => filter.at_least.push(high),
        Prefix::Le => filter.before.push(high),
        Prefix::Lt | Prefix::Eb => filter.before.push(low),
        Prefix::Ne => {
            return Err(Error::bad_request(
                IssueType::NotSupported,
                "AuditEvent date does not support the ne prefix",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_references_are_read_relative_or_under_the_base() {
        let base = "http://h/fhir/t";
        assert_eq!(
            entity(base, "Practitioner/1").ok(),
            Some(("Practitioner".into(), "1".into(), None))
        );
        assert_eq!(
            entity(base, "http://h/fhir/t/Practitioner/1/_history/3").ok(),
            Some(("Practitioner".into(), "1".into(), Some(3)))
        );
        for bad in [
            "Practitioner",
            "Nope/1",
            "Practitioner/1/_history/x",
            "http://other/Practitioner/1/x",
        ] {
            assert!(entity(base, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_bound_the_recorded_instant() {
        let mut f = EventFilter::default();
        date(&mut f, "ge2026-01-01").unwrap();
        date(&mut f, "lt2026-02").unwrap();
        let jan = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let feb = chrono::DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").unwrap();
        assert_eq!(f.at_least, vec![jan.timestamp_micros()]);
        assert_eq!(f.before, vec![feb.timestamp_micros()]);
        assert!(date(&mut f, "ne2026").is_err());
        assert!(date(&mut f, "xx2026").is_err());
    }

    #[test]
    fn token_codes_keep_only_their_system() {
        let got: Vec<&str> = codes(
            "C,http://hl7.org/fhir/audit-event-action|D,other|U,|R",
            "http://hl7.org/fhir/audit-event-action",
        )
        .collect();
        assert_eq!(got, vec!["C", "D", "R"]);
    }
}
