//! `$validate` (<https://hl7.org/fhir/R4/resource-operation-validate.html>) at type and
//! instance level: the verdict on a resource, stored nowhere. The answer is 200 with an
//! OperationOutcome whatever the verdict; only a malformed request is a 4xx.
//!
//! Who may ask: a caller allowed to create or update the type (it is a writer's pre-flight,
//! and the answer says nothing about what is stored); `mode=delete` asks about a stored
//! resource, so it needs the delete permission and reads the resource as the caller may.

use fhir::outcome::Issue;
use fhir::{IssueSeverity, IssueType, OperationOutcome};
use serde_json::{Map, Value};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::{operation_body, resource_parameter, OperationBody};

/// `mode` of `$validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Update,
    Delete,
    Profile,
}

/// The request, read from a Parameters body or a bare resource.
struct Request {
    resource: Option<Map<String, Value>>,
    mode: Option<Mode>,
    profile: Option<String>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg)
}

fn parse(rtype: &str, body: &[u8]) -> Result<Request> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Request {
            resource: None,
            mode: None,
            profile: None,
        });
    }
    let params = match operation_body("validate", rtype, body)? {
        OperationBody::Resource(resource) => {
            return Ok(Request {
                resource: Some(resource),
                mode: None,
                profile: None,
            })
        }
        OperationBody::Parameters(params) => params,
    };
    let mut out = Request {
        resource: None,
        mode: None,
        profile: None,
    };
    for p in &params {
        match p.get("name").and_then(Value::as_str) {
            Some("resource") => out.resource = Some(resource_parameter(rtype, p)?),
            Some("mode") => {
                let code = p.get("valueCode").and_then(Value::as_str);
                out.mode = Some(parse_mode(code)?);
            }
            Some("profile") => {
                let url = p
                    .get("valueUri")
                    .or_else(|| p.get("valueCanonical"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("profile takes a valueUri"))?;
                out.profile = Some(url.to_owned());
            }
            other => {
                return Err(bad(format!(
                    "$validate has no parameter {:?} (resource, mode, profile)",
                    other.unwrap_or("")
                )))
            }
        }
    }
    Ok(out)
}

fn parse_mode(code: Option<&str>) -> Result<Mode> {
    match code {
        Some("create") => Ok(Mode::Create),
        Some("update") => Ok(Mode::Update),
        Some("delete") => Ok(Mode::Delete),
        Some("profile") => Ok(Mode::Profile),
        _ => Err(bad("mode takes a code: create, update, delete or profile")),
    }
}

fn issue(severity: IssueSeverity, code: IssueType, at: Option<&str>, why: String) -> Issue {
    Issue {
        severity,
        code,
        diagnostics: why,
        expression: at.map(|a| vec![a.to_owned()]).unwrap_or_default(),
    }
}

/// `POST [base]/[type]/$validate` (`id` `None`) or `POST [base]/[type]/[id]/$validate`;
/// `mode` and `profile` may also be given in `query` (an operation's primitive parameters,
/// R4 operations.html#request).
pub async fn run(
    ctx: &RequestCtx,
    rtype: &str,
    id: Option<&str>,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Value> {
    if !fhir::is_resource_type(rtype) {
        return Err(Error::unknown_resource_type(rtype));
    }
    let mut req = parse(rtype, body)?;
    for (name, value) in query {
        match name.as_str() {
            "mode" if req.mode.is_none() => {
                req.mode = Some(parse_mode(Some(value))?);
            }
            "profile" if req.profile.is_none() => req.profile = Some(value.clone()),
            "mode" | "profile" => {
                return Err(bad(format!(
                    "{name} is given twice (in the query and the body)"
                )))
            }
            // `_format`, `_pretty` and the like are the request's own.
            n if n.starts_with('_') => {}
            other => {
                return Err(bad(format!(
                    "$validate has no parameter {other:?} (resource, mode, profile)"
                )))
            }
        }
    }
    let mode = req.mode.unwrap_or(match id {
        Some(_) => Mode::Update,
        None => Mode::Create,
    });
    let mut issues = Vec::new();
    if mode == Mode::Delete {
        let Some(id) = id else {
            return Err(bad(
                "mode delete validates a stored resource: POST [type]/[id]/$validate",
            ));
        };
        ctx.authorize(rtype, Interaction::Delete)?;
        // Read as the caller may: a resource it cannot see is as absent as one never stored.
        crate::resources::read(ctx, rtype, id).await?;
        // The delete's own check (referential integrity), in a transaction that writes
        // nothing.
        let setting = super::setting::get(ctx.app(), ctx.tenant()).await?;
        let mut tx = ctx.begin().await?;
        let verdict = super::integrity::may_delete(ctx, &setting, &mut tx, rtype, id).await;
        tx.rollback().await?;
        match verdict {
            Ok(()) => issues.push(issue(
                IssueSeverity::Information,
                IssueType::Informational,
                None,
                format!("{rtype}/{id} may be deleted: nothing in this tenant's rules prevents it"),
            )),
            Err(e) if e.status() == http::StatusCode::CONFLICT => issues.push(issue(
                IssueSeverity::Error,
                IssueType::Conflict,
                None,
                e.diagnostics().to_owned(),
            )),
            Err(e) => return Err(e),
        }
        return Ok(outcome(issues));
    }
    if !ctx.may(rtype, Interaction::Create) {
        ctx.authorize(rtype, Interaction::Update)?;
    }
    let Some(resource) = req.resource else {
        return Err(bad(format!(
            "$validate needs the {rtype} to validate: a Parameters body with a resource \
             parameter, or the resource itself"
        )));
    };
    if let (Mode::Update, Some(id)) = (mode, id) {
        if resource.get("id").and_then(Value::as_str) != Some(id) {
            issues.push(issue(
                IssueSeverity::Error,
                IssueType::Invalid,
                Some(&format!("{rtype}.id")),
                format!("an update of {rtype}/{id} must carry id {id:?}"),
            ));
        }
    }
    // As a write would store it: the server sets meta.versionId and meta.lastUpdated.
    let mut resource = resource;
    let meta = super::stored_meta(resource.get("meta"));
    resource.insert("meta".into(), meta);
    let resource = Value::Object(resource);
    // The tenant's policy (its packages, its required profiles), and the profile asked for:
    // one that is not loaded is an error issue, never a pass.
    let policy = super::active(ctx.app(), ctx.tenant()).await?.policy;
    let also: Vec<String> = req.profile.into_iter().collect();
    issues.extend(policy.validate_also(&resource, &also));
    if issues.is_empty() {
        issues.push(issue(
            IssueSeverity::Information,
            IssueType::Informational,
            None,
            format!("the {rtype} is valid (FHIR R4 and the profiles it was checked against)"),
        ));
    }
    issues.sort_by_key(|i| i.severity);
    Ok(outcome(issues))
}

fn outcome(issues: Vec<Issue>) -> Value {
    OperationOutcome { issues }.to_json()
}
