//! The definitions beyond the built-in ones, from `--profiles` and `--packages`: their search
//! parameters (for every tenant) and the packages tenants may validate against (with the
//! package cache, `services::validation::Library`). Both `serve` and `import` read them, so
//! an import indexes and validates as the server does (a tenant's own SearchParameters are
//! loaded by `services::tenant_conformance`, for both).

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

/// What [`load`] read.
pub(super) struct Loaded {
    pub params: Vec<conformance::SearchParamDef>,
    pub library: services::validation::Library,
}

/// Reads the SearchParameters and definitions of `--profiles` (or of `profiles/` when it
/// exists) and of each package of `--packages`; a file that cannot be used, or a package not
/// in the cache, stops the start with an error naming it.
pub(super) fn load(args: ProfileArgs) -> anyhow::Result<Loaded> {
    let path = match args.profiles {
        Some(p) => Some(p),
        None if std::path::Path::new(DEFAULT_PROFILES).is_dir() => Some(DEFAULT_PROFILES.into()),
        None => None,
    };
    let mut loaded = Vec::new();
    let mut definitions = Vec::new();
    if let Some(path) = &path {
        loaded.extend(
            conformance::package::load_path(path)
                .with_context(|| format!("loading search parameters from {}", path.display()))?,
        );
        definitions.extend(
            conformance::package::load_definitions(path)
                .with_context(|| format!("loading definitions from {}", path.display()))?,
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
            definitions.extend(
                conformance::package::load_definitions(&cache.dir_of(&id))
                    .with_context(|| format!("loading definitions of package {id}"))?,
            );
        }
    }
    for p in &definitions {
        tracing::info!(
            package = p.id.as_deref().unwrap_or("(no package name: every tenant's)"),
            source = %p.source,
            definitions = p.resources.len(),
            "validation definitions loaded"
        );
    }
    let library = services::validation::Library::new(
        definitions,
        packages::PackageCache::locate(args.cache.package_cache.clone()),
    );
    library.announce()?;
    for p in &loaded {
        tracing::debug!(url = %p.def.url, code = %p.def.code, source = %p.source, "search parameter loaded");
    }
    if !loaded.is_empty() {
        tracing::info!(
            count = loaded.len(),
            "search parameters loaded from profiles and packages"
        );
    }
    Ok(Loaded {
        params: loaded.into_iter().map(|p| p.def).collect(),
        library,
    })
}
