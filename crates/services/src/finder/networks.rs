//! The networks a `$find-providers` request names (`network`, and `plan` standing for its
//! networks), and how fresh each network's data is ("last imported" and the stale flag).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use finder::{FindQuery, Target};
use serde_json::Value;

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::tenant_conformance::TenantConformance;

/// Most resources one identifier may name (identifiers are meant to be unique).
const MAX_PER_IDENTIFIER: usize = 100;

/// The requested networks as `Organization/id`; `None` when neither `network` nor `plan` was
/// given (any network). Targets that name nothing the caller may see add nothing, so a
/// request for an unknown network finds no provider.
pub(crate) async fn requested(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    query: &FindQuery,
) -> Result<Option<BTreeSet<String>>> {
    if query.networks.is_empty() && query.plans.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeSet::new();
    for target in &query.networks {
        match target {
            Target::Reference { .. } => out.extend(target.reference()),
            Target::Identifier { .. } => {
                for org in by_identifier(ctx, conf, "Organization", target).await? {
                    out.insert(format!("Organization/{}", id_of(&org)));
                }
            }
        }
    }
    for target in &query.plans {
        let plans = match target {
            Target::Reference { resource_type, id } => ctx
                .app()
                .store
                .read(ctx.scope(), resource_type, id)
                .await?
                .filter(|r| !r.deleted)
                .map(|r| parse(r.body.as_deref()))
                .transpose()?
                .into_iter()
                .collect(),
            Target::Identifier { .. } => by_identifier(ctx, conf, "InsurancePlan", target).await?,
        };
        for plan in &plans {
            out.extend(plan_networks(plan));
        }
    }
    Ok(Some(out))
}

/// An InsurancePlan's networks: `InsurancePlan.network` and each `plan.network`.
fn plan_networks(plan: &Value) -> Vec<String> {
    let refs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("reference").and_then(Value::as_str))
            .filter(|r| r.starts_with("Organization/"))
            .map(str::to_owned)
            .collect()
    };
    let mut out = refs(plan.get("network"));
    for p in plan
        .get("plan")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(refs(p.get("network")));
    }
    out
}

fn id_of(resource: &Value) -> &str {
    resource.get("id").and_then(Value::as_str).unwrap_or("")
}

fn parse(body: Option<&str>) -> Result<Value> {
    serde_json::from_str(body.unwrap_or("null"))
        .map_err(|e| Error::internal(format!("a stored body is not JSON: {e}")))
}

/// The current resources of `rtype` carrying the target's identifier, as the caller sees
/// them.
async fn by_identifier(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    rtype: &str,
    target: &Target,
) -> Result<Vec<Value>> {
    let Target::Identifier { system, value } = target else {
        return Ok(Vec::new());
    };
    let pairs = vec![(
        "identifier".to_owned(),
        format!(
            "{}|{}",
            search::text::escape(system),
            search::text::escape(value)
        ),
    )];
    let found = super::gather::search_bodies(ctx, conf, rtype, &pairs, MAX_PER_IDENTIFIER).await?;
    Ok(found.into_iter().map(|(_, body)| body).collect())
}

/// A network's freshness as the response states it.
pub(crate) struct Freshness {
    /// When the network or a resource citing it was last written or imported; `None`: not
    /// since this server began keeping track.
    pub last_imported: Option<DateTime<Utc>>,
    /// Older than `--stale-after`, or never recorded.
    pub stale: bool,
}

/// The freshness of each of `networks` now.
pub(crate) async fn freshness(
    ctx: &RequestCtx,
    networks: &BTreeSet<String>,
) -> Result<BTreeMap<String, Freshness>> {
    let app = ctx.app();
    let list: Vec<String> = networks.iter().cloned().collect();
    let known: BTreeMap<String, DateTime<Utc>> = app
        .store
        .network_activity(ctx.tenant(), &list)
        .await?
        .into_iter()
        .collect();
    let now = Utc::now();
    let limit =
        chrono::Duration::from_std(app.settings.stale_after).unwrap_or(chrono::Duration::MAX);
    Ok(list
        .into_iter()
        .map(|n| {
            let last = known.get(&n).copied();
            let stale = last.is_none_or(|t| now.signed_duration_since(t) > limit);
            (
                n,
                Freshness {
                    last_imported: last,
                    stale,
                },
            )
        })
        .collect())
}
