//! `fhirdir package`: the FHIR package cache that `--packages` reads (see the `packages`
//! crate): install a package from a registry (with what it depends on) or from an archive,
//! and list what is installed.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use packages::{Installed, PackageCache, PackageId, Registry};

#[derive(Subcommand, Debug)]
pub enum PackageCommand {
    /// Install a FHIR package, and the packages it depends on, into the package cache.
    Install(InstallArgs),
    /// List the packages in the package cache.
    List(CacheArgs),
}

#[derive(Args, Debug)]
pub struct CacheArgs {
    /// The FHIR package cache (default: FHIR_PACKAGE_CACHE, else ~/.fhir/packages).
    #[arg(long, value_name = "DIR")]
    pub package_cache: Option<PathBuf>,
}

impl CacheArgs {
    pub fn cache(&self) -> anyhow::Result<PackageCache> {
        PackageCache::locate(self.package_cache.clone()).context(
            "no package cache: pass --package-cache DIR or set FHIR_PACKAGE_CACHE (there is \
             no home folder)",
        )
    }
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// NAME@VERSION (or NAME#VERSION; VERSION `latest` is the registry's latest). With
    /// --from it may be left out; given, it must be what the archive holds.
    package: Option<String>,
    /// Install this package archive (.tgz) instead; no registry is contacted, and the
    /// dependencies it names are listed, not fetched.
    #[arg(long, value_name = "FILE.tgz")]
    from: Option<PathBuf>,
    /// The package registry's address (npm protocol: GET {registry}/{name}).
    #[arg(long, env = "FHIR_PACKAGE_REGISTRY", value_name = "URL")]
    registry: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
}

pub async fn run(command: PackageCommand) -> anyhow::Result<()> {
    match command {
        PackageCommand::List(args) => {
            let cache = args.cache()?;
            for id in cache.list()? {
                println!("{id}");
            }
            Ok(())
        }
        PackageCommand::Install(args) => install(args).await,
    }
}

async fn install(args: InstallArgs) -> anyhow::Result<()> {
    let cache = args.cache.cache()?;
    // `NAME@VERSION` or `NAME#VERSION`; `latest` is a valid version text.
    let wanted = args
        .package
        .as_deref()
        .map(PackageId::parse)
        .transpose()?
        .map(|id| (id.name, id.version));
    let installed: Vec<Installed> = match (&args.from, wanted) {
        (Some(file), wanted) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let done = cache.install_tgz(&bytes, &file.display().to_string())?;
            if let Some((name, version)) = wanted {
                if done.id.name != name || (version != "latest" && done.id.version != version) {
                    bail!("{} holds {}, not {name}@{version}", file.display(), done.id);
                }
            }
            vec![done]
        }
        (None, Some((name, version))) => {
            let Some(url) = args.registry.as_deref() else {
                bail!(
                    "no package registry: pass --registry URL (or set FHIR_PACKAGE_REGISTRY), \
                     or install an archive with --from FILE.tgz"
                );
            };
            Registry::new(url)?.install(&cache, &name, &version).await?
        }
        (None, None) => bail!("name a package (NAME@VERSION) or an archive (--from FILE.tgz)"),
    };
    for done in &installed {
        let how = if done.new {
            "installed"
        } else {
            "already installed"
        };
        println!("{how} {} in {}", done.id, cache.dir_of(&done.id).display());
    }
    if args.from.is_some() {
        let missing: Vec<String> = installed
            .iter()
            .flat_map(|d| &d.dependencies)
            .filter(|d| !cache.contains(d))
            .map(PackageId::to_string)
            .collect();
        if !missing.is_empty() {
            println!("not in the cache, needed by it: {}", missing.join(", "));
        }
    }
    Ok(())
}
