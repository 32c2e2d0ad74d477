//! The checks of each verifiable type against the tenant's primary sources (the rules are
//! written down in the README, "Primary-source verification"). Each check looks at one
//! attested element, asks every primary source that serves the type, and ends validated (a
//! source confirms it), failed (the sources that answered contradict it) or unavailable (no
//! source confirmed it and one could not be asked), always with an explanation.

use serde_json::{Map, Value};
use store::TenantName;

use super::normalise;
use crate::harvest::fetch::{self, Fetched};
use crate::harvest::setting::Setting;
use crate::App;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Validated,
    Failed,
    Unavailable,
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    /// The attested element (FHIRPath), `VerificationResult.targetLocation`.
    pub location: String,
    /// The source that decided it (or the last one asked).
    pub source: String,
    pub source_url: String,
    pub outcome: Outcome,
    pub explanation: String,
}

/// The primary-source type (`http://terminology.hl7.org/CodeSystem/primary-source-type`)
/// of the sources that verify `rtype`.
pub fn source_type(rtype: &str) -> &'static str {
    match rtype {
        "Practitioner" => "lic-board",
        "Location" => "post-serv",
        "Organization" => "reg-auth",
        _ => "auth-source",
    }
}

/// What one source said about one element.
enum Said {
    Yes(String),
    No(String),
    Down(String),
}

/// Searches `rtype` at source `s` (the first page is enough: queries are narrow).
async fn search(
    app: &App,
    tenant: &TenantName,
    s: &Setting,
    rtype: &str,
    params: &[(&str, String)],
) -> Result<Vec<Map<String, Value>>, String> {
    let query = serde_urlencoded::to_string(params).map_err(|e| e.to_string())?;
    let url = format!("{}/{rtype}?{query}&_count=50", s.url);
    match fetch::page(app, s, tenant.as_str(), &url, rtype, 0).await {
        Fetched::Page { resources, .. } => Ok(resources),
        Fetched::Retry(_, why) | Fetched::Fail(why) => Err(why),
    }
}

/// Asks every source about one element; the first confirmation wins.
async fn ask<'a, F, Fut>(sources: &'a [Setting], location: String, mut one: F) -> Check
where
    F: FnMut(&'a Setting) -> Fut,
    Fut: std::future::Future<Output = Said>,
{
    let mut noes = Vec::new();
    let mut down = None;
    for s in sources {
        match one(s).await {
            Said::Yes(why) => {
                return Check {
                    location,
                    source: s.name.clone(),
                    source_url: s.url.clone(),
                    outcome: Outcome::Validated,
                    explanation: why,
                }
            }
            Said::No(why) => noes.push((s, why)),
            Said::Down(why) => down = Some((s, why)),
        }
    }
    let (outcome, (s, explanation)) = match (down, noes.is_empty()) {
        (Some(d), _) => (Outcome::Unavailable, d),
        (None, false) => {
            let (s, _) = noes[0];
            let all = noes
                .iter()
                .map(|(_, w)| w.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            (Outcome::Failed, (s, all))
        }
        (None, true) => unreachable!("a check asks at least one source"),
    };
    Check {
        location,
        source: s.name.clone(),
        source_url: s.url.clone(),
        outcome,
        explanation,
    }
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

fn families(r: &Value) -> Vec<String> {
    r["name"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| text(&n["family"]))
        .map(normalise::name)
        .collect()
}

fn codings(cc: &Value) -> Vec<(String, String)> {
    cc["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((text(&c["system"])?.to_owned(), text(&c["code"])?.to_owned())))
        .collect()
}

fn codes_text(cc: &Value) -> String {
    let c = codings(cc);
    if c.is_empty() {
        return "none".into();
    }
    c.iter()
        .map(|(_, code)| code.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn reference_text(r: &Value) -> Option<String> {
    text(&r["display"])
        .or_else(|| text(&r["reference"]))
        .map(str::to_owned)
}

/// Runs the checks of `target` (a `rtype`); `None` when it has nothing the sources can check.
pub async fn run(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    target: &Value,
    sources: &[Setting],
    today: &str,
) -> Option<Vec<Check>> {
    let checks = match rtype {
        "Practitioner" => practitioner(app, tenant, target, sources, today).await,
        "Organization" => organization(app, tenant, target, sources).await,
        "Location" => location(app, tenant, target, sources).await,
        "HealthcareService" => service(app, tenant, target, sources).await,
        _ => Vec::new(),
    };
    (!checks.is_empty()).then_some(checks)
}

async fn practitioner(
    app: &App,
    tenant: &TenantName,
    target: &Value,
    sources: &[Setting],
    today: &str,
) -> Vec<Check> {
    let family = target["name"][0]["family"].as_str().unwrap_or_default();
    let attested_families = families(target);
    let mut out = Vec::new();
    let quals = target["qualification"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, q) in quals.iter().enumerate() {
        let Some(number) = text(&q["identifier"][0]["value"]).map(str::to_owned) else {
            continue;
        };
        let location = format!("Practitioner.qualification[{i}]");
        let check = ask(sources, location, |s| {
            let (q, number) = (q.clone(), number.clone());
            async move {
                let found = match search(
                    app,
                    tenant,
                    s,
                    "Practitioner",
                    &[("family", family.to_owned())],
                )
                .await
                {
                    Ok(f) => f,
                    Err(why) => return Said::Down(format!("{}: {why}", s.name)),
                };
                let held = found.iter().find_map(|p| {
                    p.get("qualification")?.as_array()?.iter().find(|sq| {
                        sq["identifier"]
                            .as_array()
                            .is_some_and(|ids| ids.iter().any(|id| id["value"] == number.as_str()))
                    })
                });
                let Some(sq) = held else {
                    return Said::No(format!(
                        "{} has no licence {number} for a practitioner named {family}",
                        s.name
                    ));
                };
                licence(s, &q, sq, &number, today)
            }
        })
        .await;
        out.push(check);
    }
    if !out.is_empty() {
        return out;
    }
    // No licence attested: the identity (NPI and other identifiers) against the holder's name.
    for (i, value, token) in identifier_tokens(target) {
        let location = format!("Practitioner.identifier[{i}]");
        let attested = attested_families.clone();
        out.push(
            ask(sources, location, |s| {
                let (token, value, attested) = (token.clone(), value.clone(), attested.clone());
                async move {
                    let p = match by_identifier(app, tenant, s, "Practitioner", token, &value).await
                    {
                        Ok(p) => p,
                        Err(said) => return said,
                    };
                    let theirs = families(&Value::Object(p));
                    if theirs.iter().any(|f| attested.contains(f)) {
                        Said::Yes(format!(
                            "{} confirms identifier {value} belongs to {family}",
                            s.name
                        ))
                    } else {
                        Said::No(format!(
                            "{} records identifier {value} for {}, not {family}",
                            s.name,
                            theirs.join(" / ")
                        ))
                    }
                }
            })
            .await,
        );
    }
    out
}

/// Each identifier of `target` with a value: its index, the value, and the search token
/// (`system|value`, or the value alone).
fn identifier_tokens(target: &Value) -> Vec<(usize, String, String)> {
    target["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, ident)| {
            let value = text(&ident["value"])?.to_owned();
            let token = match text(&ident["system"]) {
                Some(sys) => format!("{sys}|{value}"),
                None => value.clone(),
            };
            Some((i, value, token))
        })
        .collect()
}

/// The first `rtype` at `s` with the identifier `token`, or what the source said instead.
async fn by_identifier(
    app: &App,
    tenant: &TenantName,
    s: &Setting,
    rtype: &str,
    token: String,
    value: &str,
) -> Result<Map<String, Value>, Said> {
    let found = search(app, tenant, s, rtype, &[("identifier", token)])
        .await
        .map_err(|why| Said::Down(format!("{}: {why}", s.name)))?;
    found.into_iter().next().ok_or_else(|| {
        Said::No(format!(
            "{} has no {} with identifier {value}",
            s.name,
            rtype.to_lowercase()
        ))
    })
}

/// Compares an attested qualification `q` with the source's `sq`.
fn licence(s: &Setting, q: &Value, sq: &Value, number: &str, today: &str) -> Said {
    let mut wrong = Vec::new();
    let (ours, theirs) = (codings(&q["code"]), codings(&sq["code"]));
    if !ours.is_empty() && !theirs.is_empty() && !ours.iter().any(|c| theirs.contains(c)) {
        wrong.push(format!(
            "licence type differs (attested {}, source {})",
            codes_text(&q["code"]),
            codes_text(&sq["code"])
        ));
    }
    if let (Some(a), Some(b)) = (reference_text(&q["issuer"]), reference_text(&sq["issuer"])) {
        if normalise::org_name(&a) != normalise::org_name(&b) {
            wrong.push(format!("issuer differs (attested {a}, source {b})"));
        }
    }
    let end = text(&sq["period"]["end"]);
    if let Some(end) = end {
        if end < today {
            wrong.push(format!("the licence expired at the source on {end}"));
        }
    }
    if let Some(start) = text(&sq["period"]["start"]) {
        if start > today {
            wrong.push(format!(
                "the licence is valid at the source only from {start}"
            ));
        }
    }
    if let (Some(a), Some(b)) = (text(&q["period"]["end"]), end) {
        if a != b {
            wrong.push(format!("period differs (attested end {a}, source end {b})"));
        }
    }
    if wrong.is_empty() {
        Said::Yes(format!(
            "{} confirms licence {number} ({}){}{}",
            s.name,
            codes_text(&sq["code"]),
            reference_text(&sq["issuer"])
                .map(|i| format!(" issued by {i}"))
                .unwrap_or_default(),
            end.map(|e| format!(", valid until {e}"))
                .unwrap_or_default()
        ))
    } else {
        Said::No(format!(
            "{}: licence {number}: {}",
            s.name,
            wrong.join(", ")
        ))
    }
}

async fn organization(
    app: &App,
    tenant: &TenantName,
    target: &Value,
    sources: &[Setting],
) -> Vec<Check> {
    let name = text(&target["name"]).unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for (i, value, token) in identifier_tokens(target) {
        let name = name.clone();
        out.push(
            ask(sources, format!("Organization.identifier[{i}]"), |s| {
                let (token, value, name) = (token.clone(), value.clone(), name.clone());
                async move {
                    let o = match by_identifier(app, tenant, s, "Organization", token, &value).await
                    {
                        Ok(o) => o,
                        Err(said) => return said,
                    };
                    org_matches(s, &o, &name, &format!("identifier {value}"))
                }
            })
            .await,
        );
    }
    if out.is_empty() && !name.is_empty() {
        out.push(
            ask(sources, "Organization.name".into(), |s| {
                let name = name.clone();
                async move {
                    let found =
                        match search(app, tenant, s, "Organization", &[("name", name.clone())])
                            .await
                        {
                            Ok(f) => f,
                            Err(why) => return Said::Down(format!("{}: {why}", s.name)),
                        };
                    let want = normalise::org_name(&name);
                    match found.iter().find(|o| {
                        o.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| normalise::org_name(n) == want)
                    }) {
                        Some(o) => org_matches(s, o, &name, "its name"),
                        None => Said::No(format!("{} has no organization named {name}", s.name)),
                    }
                }
            })
            .await,
        );
    }
    out
}

fn org_matches(s: &Setting, o: &Map<String, Value>, name: &str, by: &str) -> Said {
    let theirs = o.get("name").and_then(Value::as_str).unwrap_or_default();
    if normalise::org_name(theirs) != normalise::org_name(name) {
        return Said::No(format!("{} records {by} for {theirs}, not {name}", s.name));
    }
    if o.get("active") == Some(&Value::Bool(false)) {
        return Said::No(format!("{} records {name} as inactive", s.name));
    }
    Said::Yes(format!("{} confirms {name} by {by}", s.name))
}

async fn location(
    app: &App,
    tenant: &TenantName,
    target: &Value,
    sources: &[Setting],
) -> Vec<Check> {
    let address = &target["address"];
    if !address.is_object() {
        return Vec::new();
    }
    let want = normalise::address(address);
    let shown = normalise::address_text(address);
    let zip = normalise::zip5(address["postalCode"].as_str().unwrap_or_default());
    let params: Vec<(&str, String)> = if zip.is_empty() {
        vec![(
            "address",
            address["line"][0].as_str().unwrap_or_default().to_owned(),
        )]
    } else {
        vec![("address-postalcode", zip.clone())]
    };
    vec![
        ask(sources, "Location.address".into(), |s| {
            let (params, want, shown) = (params.clone(), want.clone(), shown.clone());
            async move {
                let found = match search(app, tenant, s, "Location", &params).await {
                    Ok(f) => f,
                    Err(why) => return Said::Down(format!("{}: {why}", s.name)),
                };
                if found.iter().any(|l| {
                    l.get("address")
                        .is_some_and(|a| normalise::address(a) == want)
                }) {
                    Said::Yes(format!("{} confirms the address {shown}", s.name))
                } else {
                    Said::No(format!(
                        "{} has no address {shown} ({} other addresses searched)",
                        s.name,
                        found.len()
                    ))
                }
            }
        })
        .await,
    ]
}

async fn service(
    app: &App,
    tenant: &TenantName,
    target: &Value,
    sources: &[Setting],
) -> Vec<Check> {
    let Some(name) = text(&target["name"]).map(str::to_owned) else {
        return Vec::new();
    };
    let categories: Vec<(String, String)> = target["category"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(codings)
        .collect();
    vec![
        ask(sources, "HealthcareService.name".into(), |s| {
            let (name, categories) = (name.clone(), categories.clone());
            async move {
                let found = match search(
                    app,
                    tenant,
                    s,
                    "HealthcareService",
                    &[("name", name.clone())],
                )
                .await
                {
                    Ok(f) => f,
                    Err(why) => return Said::Down(format!("{}: {why}", s.name)),
                };
                let want = normalise::name(&name);
                let named: Vec<&Map<String, Value>> = found
                    .iter()
                    .filter(|h| {
                        h.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| normalise::name(n) == want)
                    })
                    .collect();
                if named.is_empty() {
                    return Said::No(format!("{} has no service named {name}", s.name));
                }
                let in_category = categories.is_empty()
                    || named.iter().any(|h| {
                        h.get("category")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .flat_map(codings)
                            .any(|c| categories.contains(&c))
                    });
                if in_category {
                    Said::Yes(format!("{} confirms the service {name}", s.name))
                } else {
                    Said::No(format!(
                        "{} lists {name} in other categories than the attested ones",
                        s.name
                    ))
                }
            }
        })
        .await,
    ]
}
