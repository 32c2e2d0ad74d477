//! The search parameters beyond the built-in ones from `--profiles`: both `serve` and `import`
//! read it, so an import indexes with the same definitions the server searches with (a
//! tenant's own SearchParameters are loaded by `services::tenant_conformance`, for both).

use anyhow::Context;

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
