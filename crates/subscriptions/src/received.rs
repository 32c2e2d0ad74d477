//! Reading a notification Bundle that another server sent (Subscriptions Backport STU 1.1,
//! R4: <https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html>), for a
//! subscriber such as a replica directory: the SubscriptionStatus in entry 0, then one entry
//! per `notification-event`, in the same order. Each event's `focus` is the version's URL
//! (`.../Type/id/_history/v`), which says what changed and into which version.

use serde_json::{Map, Value};

/// A notification as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The Subscription's URL, as the sender wrote it.
    pub subscription: String,
    /// `handshake`, `heartbeat`, `event-notification`, `query-status` or `query-event`.
    pub kind: String,
    /// The status the sender keeps (`active`, `error`, ...).
    pub status: String,
    /// `events-since-subscription-start`.
    pub announced: i64,
    pub changes: Vec<Change>,
}

/// One event of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub number: i64,
    /// When the change was committed (a FHIR instant), if the sender said.
    pub timestamp: Option<String>,
    pub resource_type: String,
    pub id: String,
    /// The version the change made.
    pub version: i64,
    /// The version's body; `None` for a delete.
    pub resource: Option<Map<String, Value>>,
}

/// Reads `bundle`; `Err` says what is wrong with it. Events must carry their resource
/// (`full-resource`), except deletes.
pub fn read(bundle: &Value) -> Result<Received, String> {
    if bundle["resourceType"] != "Bundle" {
        return Err("the notification is not a Bundle".into());
    }
    let entries = bundle["entry"]
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or("the notification Bundle has no entries")?;
    let status = &entries[0]["resource"];
    if status["resourceType"] != "Parameters" {
        return Err("entry 0 of the notification is not a SubscriptionStatus Parameters".into());
    }
    let params = status["parameter"].as_array().cloned().unwrap_or_default();
    let value = |name: &str| -> Option<String> {
        params
            .iter()
            .find(|p| p["name"] == name)
            .and_then(value_text)
    };
    let subscription = value("subscription").ok_or("the status names no subscription")?;
    let kind = value("type").ok_or("the status has no type")?;
    let announced = match value("events-since-subscription-start") {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| format!("events-since-subscription-start {v:?} is not a number"))?,
        None => 0,
    };
    let mut changes = Vec::new();
    let events = params.iter().filter(|p| p["name"] == "notification-event");
    for (i, event) in events.enumerate() {
        let parts = event["part"].as_array().cloned().unwrap_or_default();
        let part = |name: &str| {
            parts
                .iter()
                .find(|p| p["name"] == name)
                .and_then(value_text)
        };
        let number = part("event-number")
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| format!("notification-event {i} has no event-number"))?;
        let focus = part("focus").ok_or_else(|| format!("event {number} has no focus"))?;
        let (resource_type, id, version) = versioned(&focus)
            .ok_or_else(|| format!("event {number}: focus {focus:?} is not Type/id/_history/v"))?;
        let entry = entries
            .get(i + 1)
            .ok_or_else(|| format!("event {number} has no entry"))?;
        let delete = entry["request"]["method"] == "DELETE";
        let resource = match entry.get("resource") {
            Some(Value::Object(r)) if !delete => {
                if r.get("resourceType").and_then(Value::as_str) != Some(resource_type.as_str())
                    || r.get("id").and_then(Value::as_str) != Some(id.as_str())
                {
                    return Err(format!("event {number}: the entry is not {focus}"));
                }
                Some(r.clone())
            }
            _ if delete => None,
            _ => {
                return Err(format!(
                    "event {number} carries no resource (a full-resource payload is needed)"
                ))
            }
        };
        changes.push(Change {
            number,
            timestamp: part("timestamp"),
            resource_type,
            id,
            version,
            resource,
        });
    }
    changes.sort_by_key(|c| c.number);
    Ok(Received {
        subscription,
        kind,
        status: value("status").unwrap_or_default(),
        announced,
        changes,
    })
}

/// A parameter's value as text: a string-like `value[x]`, or a reference's `reference`.
fn value_text(p: &Value) -> Option<String> {
    let obj = p.as_object()?;
    obj.iter()
        .find(|(k, _)| k.starts_with("value"))
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => o.get("reference")?.as_str().map(str::to_owned),
            _ => None,
        })
}

/// (type, id, version) of `.../Type/id/_history/v`.
pub fn versioned(url: &str) -> Option<(String, String, i64)> {
    let mut parts = url.rsplit('/');
    let version = parts.next()?.parse::<i64>().ok()?;
    if parts.next()? != "_history" {
        return None;
    }
    let id = parts.next()?;
    let resource_type = parts.next()?;
    if id.is_empty() || !resource_type.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    Some((resource_type.to_owned(), id.to_owned(), version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{bundle, About, Event, Kind};
    use crate::{Payload, Status};
    use serde_json::json;

    #[test]
    fn reads_back_what_fhirdir_sends() {
        let about = About {
            subscription: "http://h/fhir/t/Subscription/s1",
            topic: "http://fhirdir.org/topic/practitioner-create-update-delete",
            status: Status::Active,
            events_since_start: 7,
            error: None,
        };
        let event = |n: i64, method: &'static str| Event {
            number: n,
            timestamp: "2026-01-01T00:00:00Z".into(),
            full_url: "http://h/fhir/t/Practitioner/p".into(),
            focus: format!("http://h/fhir/t/Practitioner/p/_history/{n}"),
            url: "Practitioner/p".into(),
            method,
            resource: (method != "DELETE")
                .then(|| json!({"resourceType": "Practitioner", "id": "p"})),
        };
        let sent = bundle(
            &about,
            Kind::EventNotification,
            &[event(7, "DELETE"), event(6, "PUT")],
            Payload::FullResource,
            "t",
        );
        let got = read(&sent).unwrap();
        assert_eq!(got.subscription, "http://h/fhir/t/Subscription/s1");
        assert_eq!(got.kind, "event-notification");
        assert_eq!(got.announced, 7);
        assert_eq!(got.changes.len(), 2);
        assert_eq!(got.changes[0].number, 6, "in event order");
        assert_eq!(got.changes[0].version, 6);
        assert!(got.changes[0].resource.is_some());
        assert_eq!(got.changes[1].resource, None, "a delete");
        let ids = bundle(
            &about,
            Kind::EventNotification,
            &[event(1, "PUT")],
            Payload::IdOnly,
            "t",
        );
        assert!(read(&ids).unwrap_err().contains("full-resource"));
        assert!(read(&json!({"resourceType": "Patient"})).is_err());
    }

    #[test]
    fn a_focus_names_a_version() {
        assert_eq!(
            versioned("https://x/fhir/Practitioner/a-1/_history/12"),
            Some(("Practitioner".into(), "a-1".into(), 12))
        );
        assert_eq!(versioned("https://x/fhir/Practitioner/a-1"), None);
        assert_eq!(versioned("Practitioner/a/_history/x"), None);
    }
}
