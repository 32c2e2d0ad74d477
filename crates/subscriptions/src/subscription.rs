//! An R4 Subscription with the backport's extensions
//! (<https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/>), read into a [`Spec`] and
//! checked: `criteria` is a known topic canonical, filters are `_criteria`
//! `backport-filter-criteria` extensions, the channel is a `rest-hook` with a JSON payload and
//! a `backport-payload-content` of `empty`, `id-only` or `full-resource`. Anything else is
//! refused with a message naming it (the API answers 422).

use serde_json::Value;

use crate::topics::{self, Topic};

/// The backport's StructureDefinition base (extensions and profiles).
pub const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";

/// The longest `backport-timeout` honoured, in seconds.
pub const MAX_TIMEOUT_SECS: u32 = 60;

/// Most events in one notification.
pub const MAX_COUNT: u32 = 100;

/// What a notification carries of each resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Only the SubscriptionStatus.
    Empty,
    /// The resources' URLs.
    IdOnly,
    /// The resources themselves.
    FullResource,
}

/// A Subscription's status (R4 `Subscription.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Requested,
    Active,
    Error,
    Off,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Active => "active",
            Status::Error => "error",
            Status::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "requested" => Status::Requested,
            "active" => Status::Active,
            "error" => Status::Error,
            "off" => Status::Off,
            _ => return None,
        })
    }
}

/// A Subscription, as far as delivery needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub status: Status,
    pub topic: Topic,
    /// The filter criteria, each the query part of a search on the topic's type.
    pub filters: Vec<String>,
    pub endpoint: String,
    /// `channel.header`: `Name: value` lines sent with every notification.
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
    /// `backport-heartbeat-period`, seconds.
    pub heartbeat_secs: Option<u32>,
    /// `backport-timeout`, seconds (at most [`MAX_TIMEOUT_SECS`]).
    pub timeout_secs: u32,
    /// `backport-max-count`: most events in one notification.
    pub max_count: u32,
}

/// Why a Subscription cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubscriptionError(pub String);

fn err(msg: impl Into<String>) -> SubscriptionError {
    SubscriptionError(msg.into())
}

/// The value of the extension `BACKPORT{name}` among `extensions`, under any `value[x]`.
fn extension<'v>(extensions: &'v Value, name: &str) -> Vec<&'v Value> {
    let url = format!("{BACKPORT}{name}");
    extensions["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["url"] == url.as_str())
        .filter_map(|e| {
            e.as_object()?
                .iter()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(_, v)| v)
        })
        .collect()
}

fn seconds(channel: &Value, name: &str) -> Result<Option<u32>, SubscriptionError> {
    match extension(channel, name).first() {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| err(format!("{name} must be a positive whole number, not {v}"))),
    }
}

/// Reads and checks `resource` (a Subscription).
pub fn read(resource: &Value) -> Result<Spec, SubscriptionError> {
    let status = resource["status"].as_str().unwrap_or_default();
    let status = Status::parse(status).ok_or_else(|| {
        err(format!(
            "Subscription.status {status:?} is not one of requested, active, error, off"
        ))
    })?;
    let criteria = resource["criteria"].as_str().ok_or_else(|| {
        err("Subscription.criteria must name a subscription topic (its canonical URL)")
    })?;
    let topic = topics::find(criteria).ok_or_else(|| {
        err(format!(
            "unknown subscription topic {criteria:?}: the topics are listed in the \
             CapabilityStatement and at Basic?code=SubscriptionTopic"
        ))
    })?;
    let mut filters = Vec::new();
    for f in extension(&resource["_criteria"], "backport-filter-criteria") {
        let text = f
            .as_str()
            .ok_or_else(|| err("backport-filter-criteria must be a string"))?;
        filters.push(filter_query(text, topic.resource_type)?);
    }
    let channel = &resource["channel"];
    let channel_type = channel["type"].as_str().unwrap_or_default();
    if channel_type != "rest-hook" {
        return Err(err(format!(
            "channel type {channel_type:?} is not supported: only rest-hook"
        )));
    }
    let endpoint = channel["endpoint"]
        .as_str()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| err("a rest-hook channel needs channel.endpoint"))?
        .to_owned();
    let mime = channel["payload"]
        .as_str()
        .unwrap_or("application/fhir+json");
    if !matches!(mime, "application/fhir+json" | "application/json") {
        return Err(err(format!(
            "channel payload {mime:?} is not supported: only application/fhir+json"
        )));
    }
    let payload = match extension(&channel["_payload"], "backport-payload-content").first() {
        None => Payload::IdOnly,
        Some(v) => match v.as_str() {
            Some("empty") => Payload::Empty,
            Some("id-only") => Payload::IdOnly,
            Some("full-resource") => Payload::FullResource,
            _ => {
                return Err(err(format!(
                    "payload content {v} is not one of empty, id-only, full-resource"
                )))
            }
        },
    };
    let mut headers = Vec::new();
    for h in channel["header"].as_array().into_iter().flatten() {
        let line = h.as_str().unwrap_or_default();
        let (name, value) = line
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty() && n.trim().bytes().all(is_token_byte))
            // Visible ASCII, spaces and tabs only: no CR, LF, NUL or other control bytes.
            .filter(|(_, v)| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .ok_or_else(|| err(format!("channel.header {line:?} is not `Name: value`")))?;
        let name = name.trim();
        if FRAMING_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return Err(err(format!(
                "channel.header {name} is set by the server, not by a Subscription"
            )));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let timeout_secs = seconds(channel, "backport-timeout")?
        .unwrap_or(10)
        .min(MAX_TIMEOUT_SECS);
    let max_count = seconds(channel, "backport-max-count")?
        .unwrap_or(1)
        .min(MAX_COUNT);
    Ok(Spec {
        status,
        topic,
        filters,
        endpoint,
        headers,
        payload,
        heartbeat_secs: seconds(channel, "backport-heartbeat-period")?,
        timeout_secs,
        max_count,
    })
}

/// Headers that frame or route the notification request: the server sets them.
const FRAMING_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

/// An HTTP header name's bytes (RFC 9110 `token`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The query of a filter criterion, `Type?query` (of the topic's type) or `query` alone.
fn filter_query(text: &str, resource_type: &str) -> Result<String, SubscriptionError> {
    let query = match text.split_once('?') {
        Some((t, q)) if t == resource_type => q,
        Some((t, _)) => {
            return Err(err(format!(
                "filter {text:?} searches {t}, but the topic is about {resource_type}"
            )))
        }
        None => text,
    };
    if query.is_empty() {
        return Err(err(format!("filter {text:?} has no criteria")));
    }
    Ok(query.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subscription() -> Value {
        json!({
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "test",
            "criteria": "http://ndh.org/topic/practitioner-create-or-delete",
            "_criteria": {"extension": [{
                "url": format!("{BACKPORT}backport-filter-criteria"),
                "valueString": "Practitioner?family=smith"
            }]},
            "channel": {
                "extension": [
                    {"url": format!("{BACKPORT}backport-heartbeat-period"), "valueUnsignedInt": 60},
                    {"url": format!("{BACKPORT}backport-timeout"), "valueUnsignedInt": 500},
                    {"url": format!("{BACKPORT}backport-max-count"), "valuePositiveInt": 5}
                ],
                "type": "rest-hook",
                "endpoint": "https://example.org/hook",
                "payload": "application/fhir+json",
                "_payload": {"extension": [{
                    "url": format!("{BACKPORT}backport-payload-content"),
                    "valueCode": "full-resource"
                }]},
                "header": ["Authorization: Bearer abc"]
            }
        })
    }

    #[test]
    fn a_backport_subscription_is_read_whole() {
        let s = read(&subscription()).expect("valid");
        assert_eq!(s.status, Status::Requested);
        assert_eq!(s.topic.resource_type, "Practitioner");
        assert_eq!(s.filters, ["family=smith"]);
        assert_eq!(s.payload, Payload::FullResource);
        assert_eq!(
            s.headers,
            [("Authorization".to_owned(), "Bearer abc".to_owned())]
        );
        assert_eq!(
            (s.heartbeat_secs, s.timeout_secs, s.max_count),
            (Some(60), MAX_TIMEOUT_SECS, 5)
        );
    }

    #[test]
    fn each_unsupported_part_is_named() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|s| s["criteria"] = json!("http://x/topic")),
                "unknown subscription topic",
            ),
            (
                Box::new(|s| s["channel"]["type"] = json!("websocket")),
                "websocket",
            ),
            (
                Box::new(|s| s["channel"]["payload"] = json!("application/xml")),
                "application/xml",
            ),
            (
                Box::new(|s| {
                    s["channel"]["_payload"]["extension"][0]["valueCode"] = json!("everything")
                }),
                "everything",
            ),
            (
                Box::new(|s| s["channel"]["header"] = json!(["no colon"])),
                "no colon",
            ),
            (
                Box::new(|s| s["channel"]["header"] = json!(["X: a\r\nInjected: b"])),
                "Injected",
            ),
            (
                Box::new(|s| s["channel"]["header"] = json!(["X: a\u{0}b"])),
                "X: a",
            ),
            (
                Box::new(|s| s["channel"]["header"] = json!(["Host: evil.example"])),
                "Host",
            ),
            (
                Box::new(|s| s["channel"]["header"] = json!(["Content-Length: 0"])),
                "Content-Length",
            ),
            (
                Box::new(|s| {
                    s["_criteria"]["extension"][0]["valueString"] = json!("Organization?name=x")
                }),
                "Organization",
            ),
            (Box::new(|s| s["status"] = json!("sleeping")), "sleeping"),
            (
                Box::new(|s| {
                    s["channel"].as_object_mut().unwrap().remove("endpoint");
                }),
                "endpoint",
            ),
        ];
        for (change, says) in cases {
            let mut s = subscription();
            change(&mut s);
            let e = read(&s).expect_err(says);
            assert!(e.0.contains(says), "{says}: {e}");
        }
    }
}
