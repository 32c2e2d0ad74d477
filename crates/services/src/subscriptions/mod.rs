//! Topic-based Subscriptions (R4 Backport STU 1.1) in the API: a Subscription written by a
//! client is checked and its status normalised ([`accept`]); the delivery worker
//! ([`delivery`]) does the handshake and sends the notifications; `$status` and `$events`
//! ([`operations`]) report and replay.
//!
//! Who may do what: writing a Subscription needs a write scope on Subscription (the access
//! rule); its notifications carry what its *owner* (the client that first wrote it) may read,
//! checked again at every send; `$status` and `$events` need read access to the Subscription.

pub mod delivery;
pub mod operations;

use ::subscriptions::Status;
use serde_json::{Map, Value};

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::tenant_conformance::TenantConformance;

/// The notification event of change `e`, numbered `number` for its subscription, carrying
/// `resource` (its version's body, when the payload has one).
fn event(
    base: &str,
    e: &store::ChangeEvent,
    number: i64,
    resource: Option<Value>,
) -> ::subscriptions::notification::Event {
    let (rt, id) = (&e.resource_type, &e.id);
    ::subscriptions::notification::Event {
        number,
        timestamp: fhir::meta::format_instant(e.at),
        full_url: format!("{base}/{rt}/{id}"),
        focus: format!("{base}/{rt}/{id}/_history/{}", e.version),
        url: format!("{rt}/{id}"),
        method: match e.action {
            store::ChangeAction::Create => "POST",
            store::ChangeAction::Update => "PUT",
            store::ChangeAction::Delete => "DELETE",
        },
        resource,
    }
}

/// Checks a Subscription a client writes (422 naming what is not supported) and normalises
/// its status: a client may ask for `requested` (a posted `active` is taken as that) or
/// `off`; `active` and `error` are the server's to set.
pub fn accept(
    conf: &TenantConformance,
    mut body: Map<String, Value>,
) -> Result<Map<String, Value>> {
    let resource = Value::Object(body);
    let spec = ::subscriptions::read(&resource).map_err(|e| Error::unprocessable(e.0))?;
    for f in &spec.filters {
        ::subscriptions::compile(spec.topic.resource_type, f, &conf.registry)
            .map_err(|e| Error::unprocessable(e.0))?;
    }
    if !(spec.endpoint.starts_with("https://") || spec.endpoint.starts_with("http://")) {
        return Err(Error::unprocessable(format!(
            "channel.endpoint {:?} is not an http(s) URL",
            spec.endpoint
        )));
    }
    let status =
        match spec.status {
            Status::Requested | Status::Active => Status::Requested,
            Status::Off => Status::Off,
            Status::Error => return Err(Error::unprocessable(
                "Subscription.status error is set by the server; a client sets requested or off",
            )),
        };
    let Value::Object(m) = resource else {
        unreachable!("built from a map above")
    };
    body = m;
    body.insert("status".into(), Value::String(status.as_str().into()));
    body.remove("error");
    Ok(body)
}

/// The id of a topic's `Basic` resource: its canonical's last segment, prefixed with the
/// publisher (`ndh-practitioner-create-or-delete`, `fhirdir-location-create-update-delete`).
fn topic_id(t: &::subscriptions::Topic) -> String {
    let publisher = if t.canonical.starts_with(::subscriptions::topics::NDH_BASE) {
        "ndh"
    } else {
        "fhirdir"
    };
    let name = t.canonical.rsplit('/').next().unwrap_or_default();
    format!("{publisher}-{name}")
}

fn topic_record(t: &::subscriptions::Topic) -> store::VersionRecord {
    let id = topic_id(t);
    store::VersionRecord {
        resource_type: "Basic".into(),
        body: Some(t.basic(&id).to_string()),
        id,
        version: 1,
        last_updated: chrono::DateTime::UNIX_EPOCH,
        method: store::Method::Put,
        deleted: false,
    }
}

/// `Basic/{id}` of a topic (the backport's R4 representation of SubscriptionTopic), or
/// `None` for any other id.
pub fn topic_read(ctx: &RequestCtx, id: &str) -> Option<Result<store::VersionRecord>> {
    let topic = ::subscriptions::topics::all()
        .into_iter()
        .find(|t| topic_id(t) == id)?;
    Some(
        ctx.authorize("Basic", crate::auth::access::Interaction::Read)
            .map(|()| topic_record(&topic)),
    )
}

/// `Basic?code=SubscriptionTopic` (with or without the `fhir-types` system): every topic, as
/// `Basic` resources; `None` for any other Basic search.
pub fn topic_search(ctx: &RequestCtx, pairs: &[(String, String)]) -> Option<Result<String>> {
    let asks = |(k, v): &(String, String)| {
        k == "code"
            && matches!(
                v.as_str(),
                "SubscriptionTopic" | "http://hl7.org/fhir/fhir-types|SubscriptionTopic"
            )
    };
    let other = |(k, _): &(String, String)| !matches!(k.as_str(), "code" | "_format" | "_pretty");
    if !pairs.iter().any(asks) || pairs.iter().any(other) {
        return None;
    }
    if let Err(e) = ctx.authorize("Basic", crate::auth::access::Interaction::Search) {
        return Some(Err(e));
    }
    let base = ctx.base();
    let topics = ::subscriptions::topics::all();
    let mut bundle = fhir::BundleBuilder::new("searchset")
        .total(Some(topics.len() as u64))
        .timestamp(fhir::meta::format_instant(chrono::Utc::now()))
        .link("self", format!("{base}/Basic?code=SubscriptionTopic"));
    for t in &topics {
        let r = topic_record(t);
        bundle.entry(fhir::BundleEntry {
            full_url: Some(format!("{base}/Basic/{}", r.id)),
            resource: serde_json::value::RawValue::from_string(r.body.unwrap_or_default()).ok(),
            request: None,
            response: None,
            search: Some(serde_json::json!({"mode": "match"})),
        });
    }
    Some(Ok(bundle.to_json_string()))
}
