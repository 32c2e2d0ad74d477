//! Validation at the door (NDH: "the validated healthcare directory performs a validation
//! process to check the general structure, content, etc. of the submission"): every API
//! write (create, update, conditional writes, PATCH, batch and transaction entries) is
//! validated by the `validation` crate as it will be stored, and the tenant's [`Mode`]
//! decides what the verdict does; `$validate` ([`operation`]) answers the verdict alone.
//!
//! Writes by fhirdir itself (harvest, federation, verification records) and `fhirdir
//! import` are not validated here: they come from sources the operator chose.

pub mod integrity;
pub mod library;
pub mod operation;
pub mod setting;

use std::ops::Deref;
use std::sync::Arc;

use ::validation::Policy;
use fhir::outcome::Issue;
use fhir::IssueSeverity;
use http::StatusCode;
pub use library::Library;
use serde_json::{Map, Value};
pub use setting::{Mode, Setting};
use store::TenantName;

use crate::error::{Error, Result};
use crate::App;

/// A tenant's validation in force: its setting, and the policy (profiles of its packages,
/// required profiles) the setting resolves to.
#[derive(Debug, Clone)]
pub struct Active {
    pub setting: Setting,
    pub policy: Arc<Policy>,
}

impl Deref for Active {
    type Target = Setting;
    fn deref(&self) -> &Setting {
        &self.setting
    }
}

/// `tenant`'s validation in force.
pub async fn active(app: &App, tenant: &TenantName) -> Result<Active> {
    let setting = setting::get(app, tenant).await?;
    let policy = app.profiles.policy(&setting)?;
    Ok(Active { setting, policy })
}

/// `meta` as the store will write it, for a verdict on the resource as stored: the server
/// sets `lastUpdated` (NDH's profiles require it) and `versionId`; the rest is the client's.
pub(crate) fn stored_meta(meta: Option<&Value>) -> Value {
    let mut meta = match meta {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    meta.entry("versionId")
        .or_insert_with(|| Value::String("1".into()));
    meta.insert(
        "lastUpdated".into(),
        Value::String(fhir::meta::format_instant(chrono::Utc::now())),
    );
    Value::Object(meta)
}

/// Validates `body` (a resource that will be stored with `id`) under `setting` (its mode
/// and policy): in
/// `enforce`, an error refuses it (422 with every issue; a Bundle entry's are located at the
/// entry by the caller, [`Error::at_entry`]); otherwise its issues, errors turned into
/// warnings (it is stored all the same), for the response. Answers the body back.
pub fn check(
    setting: &Active,
    id: &str,
    mut body: Map<String, Value>,
) -> Result<(Map<String, Value>, Vec<Issue>)> {
    if setting.mode == Mode::Off {
        return Ok((body, Vec::new()));
    }
    // As it will be stored: a create's id is the server's, and the store sets
    // `meta.versionId` and `meta.lastUpdated` (NDH's profiles require the latter). The meta
    // given here is only for the verdict: the body goes on as it came (the store writes its
    // own).
    body.insert("id".into(), Value::String(id.to_owned()));
    let meta_before = body.get("meta").cloned();
    body.insert("meta".into(), stored_meta(meta_before.as_ref()));
    let resource = Value::Object(body);
    let mut issues = setting.policy.validate(&resource);
    let Value::Object(mut body) = resource else {
        unreachable!("an object stays an object");
    };
    match meta_before {
        Some(m) => body.insert("meta".into(), m),
        None => body.remove("meta"),
    };
    if ::validation::has_errors(&issues) {
        if setting.mode == Mode::Enforce {
            return Err(Error::with_issues(StatusCode::UNPROCESSABLE_ENTITY, issues));
        }
        for i in &mut issues {
            if i.severity <= IssueSeverity::Error {
                i.severity = IssueSeverity::Warning;
            }
        }
    }
    Ok((body, issues))
}
