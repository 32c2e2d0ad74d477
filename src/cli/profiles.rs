//! The search parameters beyond the built-in ones, from `--profiles` and `--packages`: both
//! `serve` and `import` read them, so an import indexes with the same definitions the server
//! searches with (a tenant's own SearchParameters are loaded by
//! `services::tenant_conformance`, for both).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

/// The folder `fhirdir serve` reads when `--profiles` is not given (if it exists).
pub(super) const DEFAULT_PROFILES: &str = "profiles";

#[derive(Args, Debug)]
pub(super) struct ProfileArgs {
    /// Conformance resources that extend the built-in search parameters for every tenant: a
    /// folder of JSON files, FHIR package folders and `.tgz` packages (or one package).
    /// Default: `profiles/` when it exists.
    #[arg(long, env = "FHIRDIR_PROFILES")]
    profiles: Option<PathBuf>,
    /// Packages of the FHIR package cache whose search parameters extend the built-in ones
    /// too (NAME#VERSION, comma-separated; install them with `fhirdir package install`).
    #[arg(long, env = "FHIRDIR_PACKAGES", value_delimiter = ',')]
    packages: Vec<String>,
    #[command(flatten)]
    cache: super::package::CacheArgs,
}

/// Reads the SearchParameters of `--profiles` (or of `profiles/` when it exists) and of each
/// package of `--packages`; a file that cannot be used, or a package not in the cache, stops
/// the start with an error naming it.
pub(super) fn load(args: ProfileArgs) -> anyhow::Result<Vec<conformance::SearchParamDef>> {
    let path = match args.profiles {
        Some(p) => Some(p),
        None if std::path::Path::new(DEFAULT_PROFILES).is_dir() => Some(DEFAULT_PROFILES.into()),
        None => None,
    };
    let mut loaded = Vec::new();
    if let Some(path) = path {
        loaded.extend(
            conformance::package::load_path(&path)
                .with_context(|| format!("loading search parameters from {}", path.display()))?,
        );
    }
    if !args.packages.is_empty() {
        let cache = args.cache.cache()?;
        for text in &args.packages {
            let id = packages::PackageId::parse(text.trim())?;
            if !cache.contains(&id) {
                bail!(
                    "package {id} is not in the package cache {}: install it with `fhirdir \
                     package install {}@{}`",
                    cache.root().display(),
                    id.name,
                    id.version
                );
            }
            loaded.extend(
                conformance::package::load_package_dir(&cache.dir_of(&id))
                    .with_context(|| format!("loading search parameters of package {id}"))?,
            );
        }
    }
    for p in &loaded {
        tracing::debug!(url = %p.def.url, code = %p.def.code, source = %p.source, "search parameter loaded");
    }
    if !loaded.is_empty() {
        tracing::info!(
            count = loaded.len(),
            "search parameters loaded from profiles and packages"
        );
    }
    Ok(loaded.into_iter().map(|p| p.def).collect())
}
