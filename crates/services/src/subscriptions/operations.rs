//! `$status` and `$events` (Subscriptions Backport STU 1.1, R4): a Subscription's status as
//! the server keeps it, and the replay of its numbered events that are still retained.
//! Both need read access to the Subscription, and show only what the caller may read: a
//! Subscription it may not see is not found, and `$events` reads each event's resource in the
//! caller's view (an event of a resource hidden from it is left out).

use ::subscriptions::notification::{self, About, Kind};
use ::subscriptions::{Payload, Spec, Status};
use fhir::{BundleBuilder, BundleEntry};
use serde_json::Value;
use store::{ChangeAction, EventFilter, EventOrder, SubscriptionState};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};

const SUBSCRIPTION: &str = "Subscription";

/// The Subscription `id` as the caller may read it, its spec and delivery state.
async fn subscription(ctx: &RequestCtx, id: &str) -> Result<(Spec, Option<SubscriptionState>)> {
    let record = crate::resources::read(ctx, SUBSCRIPTION, id).await?;
    let resource: Value = serde_json::from_str(record.body.as_deref().unwrap_or("{}"))
        .map_err(|e| Error::internal(e.to_string()))?;
    let spec = ::subscriptions::read(&resource).map_err(|e| Error::unprocessable(e.0))?;
    let state = ctx
        .app()
        .store
        .subscription_states(ctx.tenant(), Some(id))
        .await?
        .pop();
    Ok((spec, state))
}

fn status_of(spec: &Spec, state: Option<&SubscriptionState>) -> Status {
    state
        .and_then(|s| Status::parse(&s.status))
        .unwrap_or(spec.status)
}

fn entry(resource: Value) -> BundleEntry {
    BundleEntry {
        full_url: None,
        resource: serde_json::value::RawValue::from_string(resource.to_string()).ok(),
        request: None,
        response: None,
        search: Some(serde_json::json!({"mode": "match"})),
    }
}

/// `GET Subscription/{id}/$status`, and `GET Subscription/$status?id=a,b` (every Subscription
/// the caller may read, without `id`): a searchset of SubscriptionStatus resources.
pub async fn status(
    ctx: &RequestCtx,
    id: Option<&str>,
    pairs: &[(String, String)],
) -> Result<String> {
    let type_level = id.is_none();
    let ids: Vec<String> = match id {
        Some(id) => vec![id.to_owned()],
        None => {
            ctx.authorize(SUBSCRIPTION, Interaction::Search)?;
            let asked: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k == "id")
                .flat_map(|(_, v)| v.split(',').map(str::to_owned))
                .collect();
            if asked.is_empty() {
                ctx.app()
                    .store
                    .subscription_states(ctx.tenant(), None)
                    .await?
                    .into_iter()
                    .map(|s| s.id)
                    .collect()
            } else {
                asked
            }
        }
    };
    let base = ctx.base();
    let mut bundle =
        BundleBuilder::new("searchset").timestamp(fhir::meta::format_instant(chrono::Utc::now()));
    let mut n = 0;
    for id in ids {
        let (spec, state) = match subscription(ctx, &id).await {
            Ok(found) => found,
            // Type level: a Subscription that is gone, or that the caller may not see, is
            // left out (as from a search).
            Err(e) if type_level && is_missing(&e) => continue,
            Err(e) => return Err(e),
        };
        let url = format!("{base}/Subscription/{id}");
        let about = About {
            subscription: &url,
            topic: &spec.topic.canonical,
            status: status_of(&spec, state.as_ref()),
            events_since_start: state.as_ref().map_or(0, |s| s.events_since_start),
            error: state.as_ref().and_then(|s| s.error.as_deref()),
        };
        bundle.entry(entry(notification::status(&about, Kind::QueryStatus, &[])));
        n += 1;
    }
    Ok(bundle.total(Some(n as u64)).to_json_string())
}

fn is_missing(e: &Error) -> bool {
    matches!(e.status().as_u16(), 404 | 410 | 422)
}

/// `GET Subscription/{id}/$events?eventsSinceNumber=&eventsUntilNumber=&content=`: the
/// retained events numbered in that range (at most 1000), as a notification Bundle of type
/// `query-event`.
pub async fn events(ctx: &RequestCtx, id: &str, pairs: &[(String, String)]) -> Result<String> {
    let (spec, state) = subscription(ctx, id).await?;
    // The events are resources of the topic's type: the caller must be allowed to read them.
    ctx.authorize(spec.topic.resource_type, Interaction::Read)?;
    let number = |name: &str| -> Result<Option<i64>> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| {
                v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    Error::invalid(format!("{name} must be a whole number, not {v:?}"))
                })
            })
            .transpose()
    };
    let since = number("eventsSinceNumber")?.unwrap_or(1);
    let until = number("eventsUntilNumber")?.unwrap_or(i64::MAX);
    let asked = match pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "content")
        .map(|(_, v)| v.as_str())
    {
        None => spec.payload,
        Some("empty") => Payload::Empty,
        Some("id-only") => Payload::IdOnly,
        Some("full-resource") => Payload::FullResource,
        Some(other) => {
            return Err(Error::invalid(format!(
                "content {other:?} is not one of empty, id-only, full-resource"
            )))
        }
    };
    // Never more than the Subscription itself receives.
    let rank = |p: Payload| match p {
        Payload::Empty => 0,
        Payload::IdOnly => 1,
        Payload::FullResource => 2,
    };
    let payload = if rank(asked) <= rank(spec.payload) {
        asked
    } else {
        spec.payload
    };
    let tenant = ctx.tenant();
    let store = &ctx.app().store;
    let numbered = match &state {
        Some(_) => store.subscription_events(tenant, id, since, until).await?,
        None => Vec::new(),
    };
    let base = ctx.base();
    let mut events = Vec::new();
    for (n, event_no) in numbered {
        let filter = EventFilter {
            after_number: Some(event_no - 1),
            below_number: Some(event_no + 1),
            ..EventFilter::default()
        };
        let Some(e) = store
            .change_events(ctx.scope(), &filter, EventOrder::OldestFirst, 1)
            .await?
            .pop()
        else {
            continue;
        };
        let (rt, rid) = (e.resource_type.as_str(), e.id.as_str());
        let resource = match e.action {
            ChangeAction::Delete => None,
            _ => store
                .vread(ctx.scope(), rt, rid, e.version)
                .await?
                .and_then(|r| r.body)
                .and_then(|b| serde_json::from_str(&b).ok()),
        };
        events.push(super::event(&base, &e, n, resource));
    }
    let url = format!("{base}/Subscription/{id}");
    let about = About {
        subscription: &url,
        topic: &spec.topic.canonical,
        status: status_of(&spec, state.as_ref()),
        events_since_start: state.as_ref().map_or(0, |s| s.events_since_start),
        error: state.as_ref().and_then(|s| s.error.as_deref()),
    };
    let now = fhir::meta::format_instant(chrono::Utc::now());
    let bundle = notification::bundle(&about, Kind::QueryEvent, &events, payload, &now);
    Ok(bundle.to_string())
}
