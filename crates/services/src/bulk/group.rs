//! Group export (Bulk Data `Group/[id]/$export`, and Da Vinci PDex `$davinci-data-export`):
//! the Group, its members, and what each member brings:
//!
//! - a Patient or Practitioner member: its R4 compartment ([`fhir::compartments`]): the
//!   resources whose compartment parameters' expressions reference it, found by walking each
//!   compartment type once as the caller sees it (restricted content applies as to its reads),
//!   whether or not the tenant indexes those parameters;
//! - a PractitionerRole member: the role and what it references (Practitioner, Organization,
//!   Location, HealthcareService, Endpoint);
//! - any other member: itself.
//!
//! The members are fixed at kick-off ([`GroupPlan`]: `patient` may narrow them to a subset,
//! and naming a non-member is a 400). The job's first step collects every key to export into
//! a keys file in the job's folder ([`collect`]); later steps walk it a type at a time, in id
//! order, like a system export walks the tables.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{ExportWindow, Scope};

use crate::error::{Error, Result};
use crate::App;

/// The keys a Group export writes: type -> ids.
pub type Keys = BTreeMap<String, BTreeSet<String>>;

/// What the job exports of a Group, fixed at kick-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlan {
    pub id: String,
    /// The members exported, as `Type/id`.
    pub members: Vec<String>,
}

/// The references a PractitionerRole member brings along.
const ROLE_REFERENCES: [&str; 5] = [
    "practitioner",
    "organization",
    "location",
    "healthcareService",
    "endpoint",
];

/// One compartment test on a resource type: the member type, the parameter's expression, and
/// the references of that type's members.
type Test<'a> = (&'a str, &'a str, &'a HashSet<String>);

/// Resources per page of a compartment type's walk.
const PAGE: u32 = 1000;

/// The plan of an export of `group` (its JSON), narrowed to `patients` when given: each must
/// be a member (400 otherwise, naming it).
pub fn plan(id: &str, group: &Value, patients: &[String]) -> Result<GroupPlan> {
    let members: Vec<String> = group
        .get("member")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.get("inactive").and_then(Value::as_bool) != Some(true))
        .filter_map(|m| m.pointer("/entity/reference").and_then(Value::as_str))
        .filter_map(relative)
        .collect();
    let members = if patients.is_empty() {
        members
    } else {
        let mut chosen = Vec::new();
        for p in patients {
            let r = relative(p).unwrap_or_default();
            if !members.contains(&r) {
                return Err(Error::invalid(format!(
                    "patient={p:?} is not a member of Group/{id}"
                )));
            }
            if !chosen.contains(&r) {
                chosen.push(r);
            }
        }
        chosen
    };
    Ok(GroupPlan {
        id: id.to_owned(),
        members,
    })
}

/// `Type/id` of a reference (relative, or absolute ending in `Type/id`, a version dropped);
/// None otherwise.
pub(super) fn relative(reference: &str) -> Option<String> {
    let path = reference.split("/_history/").next()?;
    let mut parts = path.rsplit('/');
    let id = parts.next()?;
    let rtype = parts.next()?;
    (fhir::is_resource_type(rtype) && fhir::is_valid_id(id)).then(|| format!("{rtype}/{id}"))
}

/// Every key the export writes, among the `allowed` types (the Group itself always).
pub async fn collect(
    app: &App,
    scope: Scope<'_>,
    plan: &GroupPlan,
    allowed: &[String],
) -> Result<Keys> {
    let mut keys = Keys::new();
    keys.entry("Group".into())
        .or_default()
        .insert(plan.id.clone());
    let may = |t: &str| allowed.iter().any(|a| a == t);
    let add = |keys: &mut Keys, key: &str| {
        if let Some((t, id)) = key.split_once('/') {
            if may(t) {
                keys.entry(t.to_owned()).or_default().insert(id.to_owned());
            }
        }
    };
    for m in &plan.members {
        add(&mut keys, m);
    }
    // Compartments: every resource of a compartment type whose compartment parameters
    // reference a member of that compartment's type.
    let mut compartments: BTreeMap<&str, Vec<Test>> = BTreeMap::new();
    let members_of = |t: &str| -> HashSet<String> {
        plan.members
            .iter()
            .filter(|m| m.split_once('/').is_some_and(|(mt, _)| mt == t))
            .cloned()
            .collect()
    };
    let sets: Vec<(&str, HashSet<String>)> = ["Patient", "Practitioner"]
        .into_iter()
        .map(|t| (t, members_of(t)))
        .filter(|(_, set)| !set.is_empty())
        .collect();
    for (member_type, set) in &sets {
        for (rtype, params) in fhir::compartments::compartment_of(member_type).unwrap_or(&[]) {
            if may(rtype) && *rtype != crate::audit::AUDIT_EVENT {
                let entry = compartments.entry(rtype).or_default();
                entry.extend(params.iter().map(|(_, e)| (*member_type, *e, set)));
            }
        }
    }
    for (rtype, tests) in &compartments {
        let parsed: Vec<(fhirpath::Expression, &HashSet<String>)> = tests
            .iter()
            .filter_map(|(_, e, set)| fhirpath::Expression::parse(e).ok().map(|x| (x, *set)))
            .collect();
        let mut after: Option<String> = None;
        loop {
            let page = app
                .store
                .export_page(
                    scope,
                    rtype,
                    after.as_deref(),
                    ExportWindow::default(),
                    PAGE,
                )
                .await?;
            for (id, body) in &page.rows {
                let Ok(value) = serde_json::from_str::<Value>(body) else {
                    continue;
                };
                let inside = parsed.iter().any(|(x, set)| {
                    x.evaluate(&value).is_ok_and(|nodes| {
                        nodes.iter().any(|n| {
                            n.value()
                                .get("reference")
                                .and_then(Value::as_str)
                                .and_then(relative)
                                .is_some_and(|r| set.contains(&r))
                        })
                    })
                });
                if inside {
                    keys.entry((*rtype).to_owned())
                        .or_default()
                        .insert(id.clone());
                }
            }
            match page.last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
    }
    // A PractitionerRole member brings what it references.
    for m in &plan.members {
        let Some(("PractitionerRole", id)) = m.split_once('/') else {
            continue;
        };
        let Some(role) = app.store.read(scope, "PractitionerRole", id).await? else {
            continue;
        };
        let body: Value = role
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        for element in ROLE_REFERENCES {
            let refs = match body.get(element) {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v) => vec![v],
                None => Vec::new(),
            };
            for key in refs.into_iter().filter_map(|r| {
                r.get("reference")
                    .and_then(Value::as_str)
                    .and_then(relative)
            }) {
                add(&mut keys, &key);
            }
        }
    }
    Ok(keys)
}

/// Writes the keys file (replacing any earlier attempt's).
pub async fn save_keys(dir: &Path, keys: &Keys) -> Result<()> {
    let text = serde_json::to_vec(keys).map_err(|e| Error::internal(format!("keys: {e}")))?;
    let (dir, tmp, path) = (
        dir.to_owned(),
        dir.join("keys.json.tmp"),
        dir.join("keys.json"),
    );
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&tmp, text)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(|e| Error::internal(format!("keys writer: {e}")))?
    .map_err(|e| Error::internal(format!("writing the export's keys: {e}")))
}

/// Reads the keys file the first step wrote.
pub async fn load_keys(dir: &Path) -> Result<Keys> {
    let path = dir.join("keys.json");
    let text = tokio::fs::read(&path)
        .await
        .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| Error::internal(format!("keys: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_and_a_subset_of_them() {
        let g = json!({"resourceType": "Group", "member": [
            {"entity": {"reference": "Patient/a"}},
            {"entity": {"reference": "http://x/fhir/Patient/b"}},
            {"entity": {"reference": "Patient/c"}, "inactive": true},
            {"entity": {"reference": "#contained"}}]});
        assert_eq!(
            plan("g", &g, &[]).unwrap().members,
            ["Patient/a", "Patient/b"]
        );
        let subset = plan("g", &g, &["Patient/b".into()]).unwrap();
        assert_eq!(subset.members, ["Patient/b"]);
        let e = plan("g", &g, &["Patient/c".into()]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.diagnostics().contains("Patient/c"), "{}", e.diagnostics());
    }
}
