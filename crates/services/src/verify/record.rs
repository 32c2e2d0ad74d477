//! Recording a verification: the target's `VerificationResult` (NDH `ndh-Verification`), the
//! target's `verification-status` extension, and what is due next, in one transaction.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use store::{Agent, Method, Precondition, TenantName};

use super::checks::{source_type, Check, Outcome};
use super::setting::VerifySetting;
use crate::error::{Error, Result};
use crate::App;

pub const PROFILE: &str = "http://hl7.org/fhir/us/ndh/StructureDefinition/ndh-Verification";
pub const STATUS_EXTENSION: &str =
    "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-verification-status";
pub const STATUS_SYSTEM: &str = "http://hl7.org/fhir/us/ndh/CodeSystem/NdhVerificationStatusCS";
const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

/// The id of `rtype/id`'s VerificationResult (one per target, updated by each verification).
pub fn result_id(rtype: &str, id: &str) -> String {
    let digest = Sha256::digest(format!("{rtype}/{id}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("verification-{hex}")
}

/// What a verification is about and why it runs.
pub struct Subject<'a> {
    pub tenant: &'a TenantName,
    pub rtype: &'a str,
    pub id: &'a str,
    /// The target as stored (every element).
    pub target: &'a Map<String, Value>,
    /// `initial` or `periodic`.
    pub need: &'a str,
    /// Who attested the data (a client id), when known.
    pub attested_by: Option<String>,
    /// The target has restricted content: the confidentiality label (R or V) that restricts
    /// its VerificationResult as a whole from the same callers.
    pub restricted: Option<&'static str>,
    /// Retries so far.
    pub attempt: i64,
}

fn cc(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The overall status of `checks`.
pub fn status(checks: &[Check]) -> &'static str {
    if checks.iter().all(|c| c.outcome == Outcome::Validated) {
        "validated"
    } else if checks.iter().any(|c| c.outcome == Outcome::Failed) {
        "val-fail"
    } else {
        "in-process"
    }
}

/// Writes the VerificationResult of `checks`, the target's status extension and what is due;
/// answers the VerificationResult as stored.
pub async fn write(
    app: &App,
    subject: &Subject<'_>,
    checks: &[Check],
    setting: &VerifySetting,
    now: DateTime<Utc>,
) -> Result<Value> {
    let status = status(checks);
    let stamp = fhir::meta::format_instant(now);
    let next = match status {
        "validated" => Some(("revalidate", now + setting.revalidate_after, 0)),
        "in-process" => {
            let wait = setting.retry_after * 2i32.pow(subject.attempt.clamp(0, 10) as u32);
            Some((
                "retry",
                now + wait.min(chrono::Duration::days(1)),
                subject.attempt + 1,
            ))
        }
        _ => None,
    };
    let mut items = String::new();
    for c in checks {
        items.push_str(&format!(
            "<li>{}: {}</li>",
            escape(&c.location),
            escape(&c.explanation)
        ));
    }
    let div = format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Primary-source verification of {}/{}: {status}</p><ul>{items}</ul></div>",
        escape(subject.rtype),
        escape(subject.id)
    );
    let primary: Vec<Value> = checks
        .iter()
        .map(|c| {
            let code = match c.outcome {
                Outcome::Validated => "successful",
                Outcome::Failed => "failed",
                Outcome::Unavailable => "unknown",
            };
            json!({
                "who": {"display": format!("{} ({})", c.source, c.source_url)},
                "type": [cc("http://terminology.hl7.org/CodeSystem/primary-source-type", source_type(subject.rtype))],
                "communicationMethod": [cc("http://terminology.hl7.org/CodeSystem/verificationresult-communication-method", "pull")],
                "validationStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/validation-status", "code": code}],
                    "text": c.explanation,
                },
                "validationDate": stamp,
            })
        })
        .collect();
    let mut who = match subject.rtype {
        "Practitioner" | "Organization" => {
            json!({"reference": format!("{}/{}", subject.rtype, subject.id)})
        }
        _ => subject
            .target
            .get("managingOrganization")
            .or_else(|| subject.target.get("providedBy"))
            .and_then(|r| r.get("reference"))
            .map_or_else(|| json!({}), |r| json!({"reference": r})),
    };
    who["display"] = Value::String(match &subject.attested_by {
        Some(client) => format!("attested by client {client}"),
        None => "attester not recorded".into(),
    });
    let attested_on = subject
        .target
        .get("meta")
        .and_then(|m| m.get("lastUpdated"))
        .and_then(Value::as_str)
        .and_then(|t| t.get(..10))
        .map_or_else(|| stamp[..10].to_owned(), str::to_owned);
    let mut meta = json!({"profile": [PROFILE]});
    if let Some(label) = subject.restricted {
        meta["security"] = json!([{"system": CONFIDENTIALITY, "code": label}]);
    }
    let vr_id = result_id(subject.rtype, subject.id);
    let mut vr = json!({
        "resourceType": "VerificationResult",
        "id": vr_id,
        "meta": meta,
        "text": {"status": "generated", "div": div},
        "target": [{"reference": format!("{}/{}", subject.rtype, subject.id)}],
        "targetLocation": checks.iter().map(|c| c.location.clone()).collect::<Vec<_>>(),
        "need": cc("http://terminology.hl7.org/CodeSystem/need", subject.need),
        "status": status,
        "statusDate": stamp,
        "validationType": cc("http://terminology.hl7.org/CodeSystem/validation-type",
            if checks.iter().map(|c| &c.source).collect::<std::collections::HashSet<_>>().len() > 1 { "multiple" } else { "primary" }),
        "validationProcess": [cc("http://terminology.hl7.org/CodeSystem/validation-process", "primary")],
        "lastPerformed": stamp,
        "failureAction": cc("http://terminology.hl7.org/CodeSystem/failure-action", "rec-only"),
        "primarySource": primary,
        "attestation": {
            "who": who,
            "communicationMethod": cc("http://terminology.hl7.org/CodeSystem/verificationresult-communication-method", "push"),
            "date": attested_on,
        },
        "validator": [{"organization": {"display": "fhirdir primary-source verification"}}],
    });
    if let Some((_, at, _)) = next {
        vr["nextScheduled"] = Value::String(at.format("%Y-%m-%d").to_string());
    }
    let complete = if status == "validated" {
        "complete"
    } else {
        "incomplete"
    };
    let mut target = subject.target.clone();
    // Unchanged, the target keeps its version.
    set_status(&mut target, complete);

    let conf = app.conformance(subject.tenant).await?;
    let mut tx = app.store.begin(subject.tenant).await?;
    tx.set_agent(Agent::System);
    let Value::Object(vr_body) = vr else {
        return Err(Error::internal("a VerificationResult is an object"));
    };
    let put = |rtype: &str, id: &str, body: Map<String, Value>| store::WriteRequest {
        resource_type: rtype.to_owned(),
        id: id.to_owned(),
        resource: body,
        precondition: Precondition::None,
        method: Method::Put,
    };
    let w = writes::prepare(
        &conf.extractor,
        writes::Source::Api,
        put("VerificationResult", &vr_id, vr_body),
    )?;
    let written = writes::apply(&mut tx, w, &conf.extractor).await?;
    if target != *subject.target {
        let mut body = target;
        if let Some(Value::Object(m)) = body.get_mut("meta") {
            m.remove("versionId");
            m.remove("lastUpdated");
        }
        let w = writes::prepare(
            &conf.extractor,
            writes::Source::Api,
            put(subject.rtype, subject.id, body),
        )?;
        writes::apply(&mut tx, w, &conf.extractor).await?;
    }
    match next {
        Some((action, at, attempt)) => {
            let due = store::Schedule {
                resource_type: subject.rtype,
                id: subject.id,
                due_at: at.timestamp_micros(),
                action,
                attempt,
                attester: subject.attested_by.as_deref(),
            };
            tx.schedule_verification(&due).await?
        }
        None => tx.clear_verification(subject.rtype, subject.id).await?,
    }
    tx.commit().await?;
    written
        .record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .ok_or_else(|| Error::internal("the VerificationResult just written has no body"))
}

/// Sets the NDH `verification-status` extension of `target` to `code`; answers whether
/// anything changed.
pub fn set_status(target: &mut Map<String, Value>, code: &str) -> bool {
    let wanted = json!({
        "url": STATUS_EXTENSION,
        "valueCodeableConcept": {"coding": [{"system": STATUS_SYSTEM, "code": code}]},
    });
    let list = target
        .entry("extension")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = list else {
        return false;
    };
    if list.iter().any(|e| e == &wanted)
        && list.iter().filter(|e| e["url"] == STATUS_EXTENSION).count() == 1
    {
        return false;
    }
    list.retain(|e| e["url"] != STATUS_EXTENSION);
    list.push(wanted);
    true
}
