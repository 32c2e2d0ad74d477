//! AuditEvent (<https://hl7.org/fhir/R4/auditevent.html>), served from the tenant's change
//! events (`store::ChangeEvent`) and authorization events (`store::AuthEvent`) rather than
//! stored twice: one AuditEvent per version written or deleted, whatever path wrote it
//! (`AuditEvent/change-{n}`), and one per security event: a registration, a token issued or
//! refused, access denied, a client added or removed by the operator
//! (`AuditEvent/security-{n}`). Read and searched with the standard parameters, the two kinds
//! merged by time; never written by clients (the access rule answers 405).
//!
//! Who may read them: a client whose scopes grant AuditEvent (the audit trail is not public,
//! whatever the tenant's anonymous read setting), and only the events of resources it may
//! see now (restricted content: a hidden resource's events are hidden as its history is);
//! the security events only when its scopes reach every type (they name every client).
//!
//! Shape (R4 AuditEvent, as NDH asks for writes): `type` `rest`, `subtype` the interaction
//! (restful-interaction `create`, `update`, `patch`, `delete`), `action` C/U/D, `recorded`
//! the version's `lastUpdated`, `outcome` 0, one `agent` (`requestor`, the client's id as
//! `who.identifier`, or "anonymous", or fhirdir itself for an import), `source` the server,
//! and one `entity` whose `what` is the versioned reference of the version written (the
//! tombstone's for a delete). A security event: `type` DICOM 110114 User Authentication
//! (110113 Security Alert for access denied), `subtype` the event's kind in fhirdir's code
//! system, `action` E, `outcome` 0 or 4 (refused) with the reason in `outcomeDesc`, the client
//! as agent, no entity.

use fhir::{BundleBuilder, BundleEntry, IssueType};
use search::value::Prefix;
use serde_json::{json, Value};
use store::{
    Agent, AuthEvent, AuthEventFilter, ChangeAction, ChangeEvent, EventFilter, EventOrder, Method,
    VersionRecord,
};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::Prefer;

/// The resource type served from change events.
pub const AUDIT_EVENT: &str = "AuditEvent";

/// Ids are `change-{event number}` and `security-{event number}`.
const ID_PREFIX: &str = "change-";
const SECURITY_PREFIX: &str = "security-";

/// Paging: `{change}.{security}`, the last event of each kind on the page before (empty: none
/// yet); the next page holds the events numbered below them (newest first) or above.
const CURSOR: &str = "_cursor";

/// DICOM's audit codes (the R4 audit-event-type value set includes them).
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// fhirdir's codes for the kinds of security event (`subtype`).
const SECURITY_KIND: &str = "http://fhirdir.org/CodeSystem/security-event";

const OUTCOME: &str = "http://terminology.hl7.org/CodeSystem/audit-event-outcome";

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
    if let Some(seq) = id
        .strip_prefix(SECURITY_PREFIX)
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0 && *n < i64::MAX)
    {
        if !reads_every_type(ctx) {
            return Err(not_found());
        }
        let filter = AuthEventFilter {
            after_seq: Some(seq - 1),
            below_seq: Some(seq + 1),
            ..AuthEventFilter::default()
        };
        let found = ctx
            .app()
            .store
            .auth_events_page(ctx.tenant(), &filter, false, 1)
            .await?
            .pop()
            .ok_or_else(not_found)?;
        return Ok(Item::Security(found.0, found.1).record(ctx));
    }
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
    Ok(Item::Change(event).record(ctx))
}

/// Whether the caller's scopes reach every resource type: only then does it see the
/// security events, which name every client of the tenant and why each was refused.
fn reads_every_type(ctx: &RequestCtx) -> bool {
    fhir::RESOURCE_TYPES
        .iter()
        .all(|t| ctx.may(t, Interaction::Read))
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

/// One event of either kind.
enum Item {
    Change(ChangeEvent),
    /// Its number, and the event.
    Security(i64, AuthEvent),
}

impl Item {
    /// When it happened, in epoch microseconds.
    fn at(&self) -> i64 {
        match self {
            Item::Change(e) => e.at.timestamp_micros(),
            Item::Security(_, e) => e.at,
        }
    }

    fn id(&self) -> String {
        match self {
            Item::Change(e) => format!("{ID_PREFIX}{}", e.number),
            Item::Security(n, _) => format!("{SECURITY_PREFIX}{n}"),
        }
    }

    /// The AuditEvent as a stored version (its only version, 1).
    fn record(&self, ctx: &RequestCtx) -> VersionRecord {
        let at = chrono::DateTime::from_timestamp_micros(self.at()).unwrap_or_default();
        let body = match self {
            Item::Change(e) => audit_event(ctx, e),
            Item::Security(n, e) => security_event(ctx, *n, e),
        };
        VersionRecord {
            resource_type: AUDIT_EVENT.to_owned(),
            id: self.id(),
            version: 1,
            last_updated: at,
            method: Method::Post,
            deleted: false,
            body: Some(body.to_string()),
        }
    }
}

/// The agent of an event by `client` (none: anonymous, or fhirdir itself for `system`).
fn agent(client: Option<&str>, system: bool) -> Value {
    let who = match client {
        Some(id) => json!({"identifier": {"value": id}, "display": id}),
        None if system => json!({"display": "fhirdir"}),
        None => json!({"display": "anonymous"}),
    };
    let mut agent = json!({"who": who, "requestor": true});
    if let Some(id) = client {
        agent["altId"] = json!(id);
    }
    agent
}

fn source(ctx: &RequestCtx) -> Value {
    json!({
        "site": ctx.tenant().as_str(),
        "observer": {"display": "fhirdir"},
        "type": [{
            "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
            "code": "4",
            "display": "Application Server"
        }]
    })
}

/// The AuditEvent of security event `n`.
fn security_event(ctx: &RequestCtx, n: i64, e: &AuthEvent) -> Value {
    let recorded = chrono::DateTime::from_timestamp_micros(e.at)
        .map(fhir::meta::format_instant)
        .unwrap_or_default();
    let (code, display) = security_type(&e.event);
    let refused = e.outcome != "success";
    let mut event = json!({
        "resourceType": AUDIT_EVENT,
        "id": format!("{SECURITY_PREFIX}{n}"),
        "meta": {"versionId": "1", "lastUpdated": recorded},
        "type": {"system": DCM, "code": code, "display": display},
        "subtype": [{"system": SECURITY_KIND, "code": e.event}],
        "action": "E",
        "recorded": recorded,
        "outcome": if refused { "4" } else { "0" },
        "agent": [agent(e.client_id.as_deref(), false)],
        "source": source(ctx),
    });
    if let Some(reason) = e.reason.as_deref().filter(|r| !r.is_empty()) {
        event["outcomeDesc"] = json!(reason);
    }
    event
}

/// The DICOM type of a security event's kind: access denied is a Security Alert, the rest
/// (registrations, tokens, clients added or removed) User Authentication.
fn security_type(kind: &str) -> (&'static str, &'static str) {
    if kind == "access" {
        ("110113", "Security Alert")
    } else {
        ("110114", "User Authentication")
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
    let agent = match &e.agent {
        Agent::Client(id) => agent(Some(id), false),
        Agent::Anonymous => agent(None, false),
        Agent::System => agent(None, true),
    };
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
        "source": source(ctx),
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

/// The kinds of security event that are User Authentication (all but `access`).
const USER_AUTHENTICATION: &[&str] = &["registration", "token", "client-added", "client-removed"];

/// Every kind of security event.
const SECURITY_KINDS: &[&str] = &[
    "registration",
    "token",
    "client-added",
    "client-removed",
    "access",
];

/// What a search asks for, parsed.
struct AuditQuery {
    filter: EventFilter,
    /// A criterion no change event can meet (`action=E`, `outcome=4`).
    none: bool,
    security: AuthEventFilter,
    /// A criterion no security event can meet (`entity=`, `action=C`).
    security_none: bool,
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
    q.security_none |= !reads_every_type(ctx);
    let (after_change, after_security) = match pairs.iter().rev().find(|(k, _)| k == CURSOR) {
        Some((_, v)) => cursor(v)?,
        None => (None, None),
    };
    let newest_first = q.order == EventOrder::NewestFirst;
    let mut filter = q.filter.clone();
    let mut security = q.security.clone();
    if newest_first {
        filter.below_number = after_change;
        security.below_seq = after_security;
    } else {
        filter.after_number = after_change;
        security.after_seq = after_security;
    }
    let store = &app.store;
    let tenant = ctx.tenant();
    let total = if q.total || q.count_only {
        let changes = match q.none {
            true => 0,
            false => store.count_change_events(ctx.scope(), &q.filter).await?,
        };
        let securities = match q.security_none {
            true => 0,
            false => store.count_auth_events(tenant, &q.security).await?,
        };
        Some(changes + securities)
    } else {
        None
    };
    let want = if q.count_only { 0 } else { q.count + 1 };
    let changes = if q.none || want == 0 {
        Vec::new()
    } else {
        store
            .change_events(ctx.scope(), &filter, q.order, want)
            .await?
    };
    let securities = if q.security_none || want == 0 {
        Vec::new()
    } else {
        store
            .auth_events_page(tenant, &security, newest_first, want)
            .await?
    };
    let found = changes.len() + securities.len();
    let page = merge(changes, securities, newest_first, q.count as usize);
    let more = found > page.len();
    let query: String = serde_urlencoded::to_string(&q.canonical).unwrap_or_default();
    let link = |cursor: Option<String>| {
        let sep = if query.is_empty() { "" } else { "&" };
        match cursor {
            Some(c) => format!("{base}/{AUDIT_EVENT}?{query}{sep}{CURSOR}={c}"),
            None => format!("{base}/{AUDIT_EVENT}?{query}"),
        }
    };
    let this = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == CURSOR)
        .map(|(_, v)| v.clone());
    let mut bundle = BundleBuilder::new("searchset")
        .total(total)
        .timestamp(fhir::meta::format_instant(chrono::Utc::now()))
        .link("self", link(this))
        .link("first", link(None));
    if more {
        // Each kind's last event on this page, or where the page started for a kind with
        // none on it.
        let mut next = (after_change, after_security);
        for item in &page {
            match item {
                Item::Change(e) => next.0 = Some(e.number),
                Item::Security(n, _) => next.1 = Some(*n),
            }
        }
        let part = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        bundle = bundle.link(
            "next",
            link(Some(format!("{}.{}", part(next.0), part(next.1)))),
        );
    }
    for item in &page {
        let r = item.record(ctx);
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

/// `{change}.{security}`: each part a number or empty.
fn cursor(value: &str) -> Result<(Option<i64>, Option<i64>)> {
    let bad = || Error::invalid("the paging cursor is not valid here");
    let (c, a) = value.split_once('.').ok_or_else(bad)?;
    let part = |p: &str| -> Result<Option<i64>> {
        match p {
            "" => Ok(None),
            n => n.parse::<i64>().map(Some).map_err(|_| bad()),
        }
    };
    Ok((part(c)?, part(a)?))
}

/// The first `count` events of both kinds in time order (newest first or oldest first); at
/// the same instant a change comes before a security event.
fn merge(
    changes: Vec<ChangeEvent>,
    securities: Vec<(i64, AuthEvent)>,
    newest_first: bool,
    count: usize,
) -> Vec<Item> {
    let mut changes = changes.into_iter().map(Item::Change).peekable();
    let mut securities = securities
        .into_iter()
        .map(|(n, e)| Item::Security(n, e))
        .peekable();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let take_change = match (changes.peek(), securities.peek()) {
            (Some(c), Some(s)) if newest_first => c.at() >= s.at(),
            (Some(c), Some(s)) => c.at() <= s.at(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_change {
            changes.next()
        } else {
            securities.next()
        };
        out.extend(next);
    }
    out
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
        security: AuthEventFilter::default(),
        security_none: false,
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
                // A security event is about no resource.
                q.security_none = true;
                true
            }
            ("agent", Some("identifier")) | ("altid", None) => {
                let mut clients = Vec::new();
                for v in value.split(',') {
                    let id = v.rsplit_once('|').map_or(v, |(_, id)| id);
                    q.filter.agents.push(Agent::Client(id.to_owned()));
                    clients.push(id.to_owned());
                }
                narrow(&mut q.security.clients, clients, &mut q.security_none);
                true
            }
            ("date", None) => {
                date(&mut q.filter, value)?;
                true
            }
            ("type", None) => {
                q.none |= !any_code(value, EVENT_TYPE, |c| c == "rest");
                let mut kinds = Vec::new();
                for code in codes(value, DCM) {
                    match code {
                        "110113" => kinds.push("access"),
                        "110114" => kinds.extend(USER_AUTHENTICATION),
                        _ => {}
                    }
                }
                let kinds = kinds.into_iter().map(str::to_owned).collect();
                narrow(&mut q.security.events, kinds, &mut q.security_none);
                true
            }
            ("outcome", None) => {
                q.none |= !any_code(value, OUTCOME, |c| c == "0");
                let mut outcomes = Vec::new();
                for code in codes(value, OUTCOME) {
                    match code {
                        "0" => outcomes.push("success".to_owned()),
                        "4" => outcomes.push("refused".to_owned()),
                        _ => {}
                    }
                }
                narrow(&mut q.security.outcomes, outcomes, &mut q.security_none);
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
                q.security_none |=
                    !any_code(value, "http://hl7.org/fhir/audit-event-action", |c| {
                        c == "E"
                    });
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
                let kinds = codes(value, SECURITY_KIND)
                    .filter(|c| SECURITY_KINDS.contains(c))
                    .map(str::to_owned)
                    .collect();
                narrow(&mut q.security.events, kinds, &mut q.security_none);
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
    // `date` bounds both kinds alike.
    q.security.at_least = q.filter.at_least.clone();
    q.security.before = q.filter.before.clone();
    Ok(q)
}

/// Narrows an "any of" list by one more parameter (parameters are AND-ed): the values in both;
/// nothing in common (or nothing asked) means no event can match.
fn narrow(list: &mut Vec<String>, asked: Vec<String>, none: &mut bool) {
    if list.is_empty() {
        *list = asked;
    } else {
        list.retain(|v| asked.contains(v));
    }
    *none |= list.is_empty();
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
