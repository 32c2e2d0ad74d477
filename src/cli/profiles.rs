//! The search parameters beyond the built-in ones: `--profiles` (both `serve` and `import`
//! read it, so an import indexes with the same definitions the server searches with) and a
//! tenant's own SearchParameter resources.

use anyhow::Context;
use store::{Store, TenantName};

/// The folder `fhirdir serve` reads when `--profiles` is not given (if it exists).
pub(super) const DEFAULT_PROFILES: &str = "profiles";

/// Reads the SearchParameters of `--profiles` (or of `profiles/` when it exists); any file
/// that cannot be used stops the start with an error naming it.
pub(super) fn load(
    arg: Option<std::path::PathBuf>,
) -> anyhow::Result<Vec<conformance::SearchParamDef>> {
    let path = match arg {
        Some(p) => p,
        None if std::path::Path::new(DEFAULT_PROFILES).is_dir() => DEFAULT_PROFILES.into(),
        None => return Ok(Vec::new()),
    };
    let loaded = conformance::package::load_path(&path)
        .with_context(|| format!("loading search parameters from {}", path.display()))?;
    for p in &loaded {
        tracing::debug!(url = %p.def.url, code = %p.def.code, source = %p.source, "search parameter loaded");
    }
    tracing::info!(
        count = loaded.len(),
        path = %path.display(),
        "search parameters loaded from profiles"
    );
    Ok(loaded.into_iter().map(|p| p.def).collect())
}

/// The tenant's own usable SearchParameter resources (what the server's per-tenant view adds
/// to the registry); an unusable one is skipped with a warning, as the server does.
pub(super) async fn tenant_search_parameters(
    store: &Store,
    tenant: &TenantName,
) -> anyhow::Result<Vec<conformance::SearchParamDef>> {
    let types = ["SearchParameter".to_owned()];
    let (mut out, mut after) = (Vec::new(), None);
    loop {
        let page = store
            .reindex_page(tenant, &types, after.as_ref(), 500)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.resource_type.clone(), last.id.clone()));
        for item in &page {
            let usable = serde_json::from_str::<serde_json::Value>(&item.body)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    conformance::SearchParamDef::from_resource(&v).map_err(|e| e.to_string())
                })
                .and_then(|d| match d.expression {
                    Some(_) if !d.code.starts_with('_') => Ok(d),
                    _ => Err("no expression, or a reserved code".to_owned()),
                });
            match usable {
                Ok(def) => out.push(def),
                Err(error) => tracing::warn!(
                    %tenant, id = %item.id, %error, "stored SearchParameter is not usable; ignored"
                ),
            }
        }
    }
    Ok(out)
}
