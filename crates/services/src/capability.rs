//! The CapabilityStatement (<https://hl7.org/fhir/R4/capabilitystatement.html>) served at
//! `[base]/metadata`. It lists only what works: every interaction, search parameter,
//! `_include` and `_revinclude` here is answered by this server.

use conformance::{Registry, SearchParamType};
use serde_json::{json, Value};

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};

/// The Bulk Data 2.0 server CapabilityStatement (system-level `$export`).
const BULK_DATA_SERVER: &str = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data";

/// The Plan-Net server CapabilityStatement this server instantiates.
pub const PLAN_NET_SERVER: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/CapabilityStatement/plan-net";

/// The R4 definition of `$validate` (<https://hl7.org/fhir/R4/resource-operation-validate.html>).
const VALIDATE_DEFINITION: &str = "http://hl7.org/fhir/OperationDefinition/Resource-validate";

const PLAN_NET_SD: &str = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/";

/// Plan-Net profiles by resource type.
fn plan_net_profiles(rtype: &str) -> &'static [&'static str] {
    match rtype {
        "Organization" => &["plannet-Organization", "plannet-Network"],
        "Practitioner" => &["plannet-Practitioner"],
        "PractitionerRole" => &["plannet-PractitionerRole"],
        "Location" => &["plannet-Location"],
        "HealthcareService" => &["plannet-HealthcareService"],
        "InsurancePlan" => &["plannet-InsurancePlan"],
        "OrganizationAffiliation" => &["plannet-OrganizationAffiliation"],
        "Endpoint" => &["plannet-Endpoint"],
        _ => &[],
    }
}

/// Search parameters the store evaluates: all but composites whose components the registry
/// cannot resolve (those are neither indexed nor searchable).
fn searchable(p: &conformance::SearchParamDef, registry: &Registry) -> bool {
    p.kind != SearchParamType::Composite || search::composite::resolvable(p, registry)
}

fn resource_entry(rtype: &str, registry: &Registry) -> Value {
    if rtype == crate::audit::AUDIT_EVENT {
        return audit_entry();
    }
    let mut params: Vec<Value> = registry
        .for_type(rtype)
        .filter(|p| searchable(p, registry))
        .map(|p| json!({"name": p.code, "definition": p.url, "type": p.kind}))
        .collect();
    params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    params.dedup_by(|a, b| a["name"] == b["name"]);
    params.push(json!({"name": "_count", "type": "number"}));
    params.push(json!({"name": "_sort", "type": "string"}));

    let mut includes: Vec<String> = vec!["*".to_owned()];
    includes.extend(
        registry
            .for_type(rtype)
            .filter(|p| p.kind == SearchParamType::Reference && p.base.iter().any(|b| b == rtype))
            .map(|p| format!("{rtype}:{}", p.code)),
    );
    includes.sort();
    includes.dedup();
    let mut revincludes: Vec<String> = registry
        .resource_types()
        .flat_map(|source| {
            registry
                .for_type(source)
                .filter(move |p| {
                    p.kind == SearchParamType::Reference
                        && p.base.iter().any(|b| b == source)
                        && (p.target.is_empty() || p.target.iter().any(|t| t == rtype))
                })
                .map(move |p| format!("{source}:{}", p.code))
        })
        .collect();
    revincludes.sort();
    revincludes.dedup();

    let mut entry = json!({
        "type": rtype,
        "profile": format!("http://hl7.org/fhir/StructureDefinition/{rtype}"),
        "interaction": [
            {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "patch"}, {"code": "delete"},
            {"code": "history-instance"}, {"code": "history-type"}, {"code": "create"},
            {"code": "search-type"}
        ],
        "versioning": "versioned-update",
        "readHistory": true,
        "updateCreate": true,
        "conditionalCreate": true,
        "conditionalRead": "modified-since",
        "conditionalUpdate": true,
        "conditionalDelete": "single",
        "searchInclude": includes,
        "searchRevInclude": revincludes,
        "searchParam": params,
    });
    if rtype == "Group" {
        // Bulk Data 2.0 Group export, and Da Vinci PDex's member-subset variant of it.
        entry["operation"] = json!([
            {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"},
            {"name": "davinci-data-export", "definition": "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/davinci-data-export"}
        ]);
    }
    if rtype == "Subscription" {
        subscription_entry(&mut entry);
    }
    let mut ops = entry["operation"].as_array().cloned().unwrap_or_default();
    // Every writable type validates (AuditEvent is the server's own record).
    if rtype != crate::audit::AUDIT_EVENT {
        ops.push(json!({"name": "validate", "definition": VALIDATE_DEFINITION}));
    }
    if crate::verify::VERIFIABLE.contains(&rtype) {
        ops.push(
            json!({"name": "verify", "definition": crate::verify::definition::DEFINITION_URL}),
        );
    }
    if crate::matching::MATCHABLE.contains(&rtype) {
        ops.push(json!({"name": "match", "definition": crate::matching::DEFINITION_URL}));
    }
    if !ops.is_empty() {
        entry["operation"] = Value::Array(ops);
    }
    let profiles = plan_net_profiles(rtype);
    if !profiles.is_empty() {
        entry["supportedProfile"] = json!(profiles
            .iter()
            .map(|p| format!("{PLAN_NET_SD}{p}"))
            .collect::<Vec<_>>());
    }
    entry
}

/// Subscription: the topics offered (the backport's `subscriptiontopic-canonical` extension)
/// and its operations.
fn subscription_entry(entry: &mut Value) {
    const BACKPORT: &str = ::subscriptions::subscription::BACKPORT;
    entry["extension"] = ::subscriptions::topics::all()
        .iter()
        .map(|t| {
            json!({
                "url": format!("{BACKPORT}capabilitystatement-subscriptiontopic-canonical"),
                "valueCanonical": t.canonical
            })
        })
        .collect();
    entry["operation"] = json!([
        {"name": "status", "definition": format!("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status")},
        {"name": "events", "definition": format!("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events")}
    ]);
}

/// AuditEvent is served from the change events (`crate::audit`): read and search only, with
/// the parameters that module answers.
fn audit_entry() -> Value {
    let mut params: Vec<Value> = crate::audit::PARAMS
        .iter()
        .map(|(name, kind)| {
            json!({
                "name": name,
                "definition": format!("http://hl7.org/fhir/SearchParameter/AuditEvent-{name}"),
                "type": kind,
            })
        })
        .collect();
    params.push(json!({"name": "_count", "type": "number"}));
    params.push(json!({"name": "_sort", "type": "string"}));
    json!({
        "type": crate::audit::AUDIT_EVENT,
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "Recorded by the server, one per version written or deleted; \
                          read-only, and readable only with a token whose scopes grant it.",
        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": false,
        "updateCreate": false,
        "searchParam": params,
    })
}

/// `GET [base]/metadata`: the tenant's CapabilityStatement. The tenant is looked up in the
/// database even though the context found it: `/metadata` is a common load-balancer health
/// check, and it answers 503 while the database is away, as every data endpoint does.
pub async fn metadata(ctx: &RequestCtx) -> Result<Value> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    if !app.store.tenant_exists(tenant).await? {
        return Err(Error::unknown_tenant(tenant));
    }
    let conf = app.conformance(tenant).await?;
    let mut statement = capability_statement(&ctx.base(), &app.started, &conf.registry);
    let policy = crate::validation::active(app, tenant).await?.policy;
    add_tenant_profiles(&mut statement, &policy);
    Ok(statement)
}

/// Lists, in each resource's `supportedProfile`, the profiles the tenant validates against:
/// those it requires, and those of the packages it activated.
fn add_tenant_profiles(statement: &mut Value, policy: &::validation::Policy) {
    let mut by_type: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for url in policy.profiles.profiles() {
        if let Some(t) = policy.profiles.type_of_profile(url) {
            by_type.entry(t).or_default().push(url.to_owned());
        }
    }
    for (t, urls) in &policy.require {
        by_type
            .entry(t.clone())
            .or_default()
            .extend(urls.iter().cloned());
    }
    let Some(resources) = statement["rest"][0]["resource"].as_array_mut() else {
        return;
    };
    for entry in resources {
        let Some(extra) = entry["type"].as_str().and_then(|t| by_type.get(t)) else {
            continue;
        };
        let mut list: Vec<Value> = entry["supportedProfile"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut extra = extra.clone();
        extra.sort();
        for url in extra {
            if !list.iter().any(|v| v.as_str() == Some(url.as_str())) {
                list.push(Value::String(url));
            }
        }
        entry["supportedProfile"] = Value::Array(list);
    }
}

/// Builds the CapabilityStatement of one tenant base. `date` is when this server started
/// (the statement changes only with the binary or the tenant's definitions).
pub fn capability_statement(tenant_base: &str, date: &str, registry: &Registry) -> Value {
    let resources: Vec<Value> = fhir::RESOURCE_TYPES
        .iter()
        .map(|t| resource_entry(t, registry))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "fhirdir",
        "kind": "instance",
        "instantiates": [PLAN_NET_SERVER, BULK_DATA_SERVER],
        "software": {"name": "fhirdir", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "fhirdir FHIR R4 provider directory", "url": tenant_base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            // SMART App Launch 2.2 §Conformance ("oauth-uris" and the SMART-on-FHIR service);
            // the full document is `.well-known/smart-configuration`.
            "security": {
                "cors": true,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"
                }]}],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        {"url": "token", "valueUri": crate::auth::token_url(tenant_base)},
                        {"url": "register", "valueUri": crate::auth::registration_url(tenant_base)},
                    ],
                }],
                "description": "Anonymous callers read and search (unless the tenant requires \
                    a token); writes need a bearer token with SMART system scopes, from the \
                    token endpoint (SMART Backend Services, or UDAP B2B after registration).",
            },
            "resource": resources,
            "interaction": [{"code": "history-system"}, {"code": "transaction"}, {"code": "batch"}],
            // `POST [base]/$reindex` (crate::reindex); HAPI's name for the same job.
            "operation": [{
                "name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                "documentation": "Bulk Data 2.0 export of the tenant ([base]/$export, also \
                    [base]/[type]/$export): _outputFormat, _type, _since, _until, \
                    _typeFilter, _elements; needs a token with read scopes where \
                    authorization is enforced.",
            }, {
                "name": "find-providers",
                "definition": crate::finder::DEFINITION_URL,
                "documentation": "Ranked in-network provider search over Plan-Net data (GET \
                    or POST); the definition is served at OperationDefinition/find-providers.",
            }, {
                "name": "reindex",
                "definition": "http://hapifhir.io/fhir/OperationDefinition/Reindex",
                "documentation": "Rebuilds the search index of the tenant (optionally `type`) \
                    as an asynchronous job: 202 Accepted with Content-Location naming the \
                    status URL, which answers Parameters with status, processed and total.",
            }],
        }],
    })
}
