//! The package cache: `{root}/{name}#{version}/package/…`, one folder per installed package.
//!
//! An archive is unpacked into a temporary folder inside the cache (so that the final rename
//! stays on one file system) and renamed into place only when complete, so a failed or interrupted install never leaves a half package where
//! a reader would take it for a whole one.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{PackageError, PackageId};

/// The environment variable that moves the cache (as FHIR tooling reads it).
pub const CACHE_ENV: &str = "FHIR_PACKAGE_CACHE";

/// Largest archive unpacked (bytes after decompression): R4 core is about 60 MB.
const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

/// A package cache folder.
#[derive(Debug, Clone)]
pub struct PackageCache {
    root: PathBuf,
}

/// What an install put in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub id: PackageId,
    /// The packages its `package.json` depends on (`dependencies`: name to version).
    pub dependencies: Vec<PackageId>,
    /// False when the same `name#version` was already there (it is kept as it was).
    pub new: bool,
}

impl PackageCache {
    pub fn new(root: impl Into<PathBuf>) -> PackageCache {
        PackageCache { root: root.into() }
    }

    /// `dir` when given, else `FHIR_PACKAGE_CACHE`, else `~/.fhir/packages`; `None` when
    /// none is set and there is no home folder.
    pub fn locate(dir: Option<PathBuf>) -> Option<PackageCache> {
        dir.or_else(|| std::env::var_os(CACHE_ENV).map(PathBuf::from))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".fhir").join("packages"))
            })
            .map(PackageCache::new)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `id` (it holds `package/`), whether or not it is installed.
    pub fn dir_of(&self, id: &PackageId) -> PathBuf {
        self.root.join(id.to_string())
    }

    pub fn contains(&self, id: &PackageId) -> bool {
        self.dir_of(id)
            .join("package")
            .join("package.json")
            .is_file()
    }

    /// The installed packages, in name and version order (folders named `name#version`
    /// holding `package/package.json`; anything else in the folder is not a package).
    pub fn list(&self) -> Result<Vec<PackageId>, PackageError> {
        let read = match std::fs::read_dir(&self.root) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PackageError::io(self.root.display(), e)),
        };
        let mut out = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| PackageError::io(self.root.display(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name
                .split_once('#')
                .and_then(|(n, v)| PackageId::new(n, v).ok());
            if let Some(id) = id.filter(|id| self.contains(id)) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The dependencies `id`'s `package.json` names.
    pub fn dependencies(&self, id: &PackageId) -> Result<Vec<PackageId>, PackageError> {
        let path = self.dir_of(id).join("package").join("package.json");
        let bytes = std::fs::read(&path).map_err(|e| PackageError::io(path.display(), e))?;
        Ok(manifest(&path.display().to_string(), &bytes)?.1)
    }

    /// Unpacks the package archive `bytes` (an npm-style gzipped tar whose files are under
    /// `package/`) into the cache, named by its `package.json`. `source` names the archive in
    /// errors. The same `name#version` already installed is kept as it is.
    pub fn install_tgz(&self, bytes: &[u8], source: &str) -> Result<Installed, PackageError> {
        self.install_tgz_as(bytes, source, None)
    }

    /// [`PackageCache::install_tgz`], refusing (and installing nothing) when the archive is
    /// not the package `expected` (a registry that answers another package than asked).
    pub fn install_tgz_as(
        &self,
        bytes: &[u8],
        source: &str,
        expected: Option<&PackageId>,
    ) -> Result<Installed, PackageError> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| PackageError::io(self.root.display(), e))?;
        let staging = tempfile::Builder::new()
            .prefix(".installing-")
            .tempdir_in(&self.root)
            .map_err(|e| PackageError::io(self.root.display(), e))?;
        let unpacked = unpack(bytes, source, staging.path())?;
        let manifest_path = unpacked.join("package.json");
        let manifest_bytes = std::fs::read(&manifest_path).map_err(|_| {
            PackageError::invalid(source, "not a FHIR package: no package/package.json")
        })?;
        let (id, dependencies) =
            manifest(&format!("{source}!package/package.json"), &manifest_bytes)?;
        if let Some(expected) = expected.filter(|e| **e != id) {
            return Err(PackageError::invalid(
                source,
                format!("the archive holds {id} where {expected} was asked"),
            ));
        }
        let target = self.dir_of(&id);
        if self.contains(&id) {
            return Ok(Installed {
                id,
                dependencies,
                new: false,
            });
        }
        if target.exists() {
            // A folder of that name without a package in it (an interrupted copy by another
            // tool): replaced.
            std::fs::remove_dir_all(&target).map_err(|e| PackageError::io(target.display(), e))?;
        }
        std::fs::rename(staging.path(), &target)
            .map_err(|e| PackageError::io(target.display(), e))?;
        // Moved: nothing left for the guard to remove.
        let _ = staging.keep();
        Ok(Installed {
            id,
            dependencies,
            new: true,
        })
    }
}

/// `name#version` and the dependencies of a `package.json`.
fn manifest(source: &str, bytes: &[u8]) -> Result<(PackageId, Vec<PackageId>), PackageError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| PackageError::invalid(source, format!("not valid JSON: {e}")))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| PackageError::invalid(source, format!("package.json has no {k}")))
    };
    let id = PackageId::new(field("name")?, field("version")?)
        .map_err(|e| PackageError::invalid(source, e.to_string()))?;
    let mut dependencies = Vec::new();
    if let Some(deps) = v.get("dependencies").and_then(Value::as_object) {
        for (name, version) in deps {
            let version = version.as_str().ok_or_else(|| {
                PackageError::invalid(source, format!("dependency {name}: version is not text"))
            })?;
            dependencies.push(
                PackageId::new(name, version)
                    .map_err(|e| PackageError::invalid(source, format!("dependency: {e}")))?,
            );
        }
    }
    Ok((id, dependencies))
}

/// Unpacks the `package/` files of the archive into `into/package`, refusing entries that
/// would land outside it (absolute paths, `..`) and archives that unpack past
/// [`MAX_UNPACKED_BYTES`]; answers `into/package`.
fn unpack(bytes: &[u8], source: &str, into: &Path) -> Result<PathBuf, PackageError> {
    let bad = |m: String| PackageError::invalid(source, m);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a gzipped tar archive: {e}")))?;
    let root = into.join("package");
    std::fs::create_dir_all(&root).map_err(|e| PackageError::io(root.display(), e))?;
    let mut total: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a gzipped tar archive: {e}")))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() && !kind.is_dir() {
            // Links and devices: never followed or created.
            continue;
        }
        let inner = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let Some(rest) = inner.strip_prefix("package/") else {
            continue;
        };
        let relative = Path::new(rest);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(bad(format!(
                "entry {inner:?} would be written outside the package"
            )));
        }
        let path = root.join(relative);
        if kind.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| PackageError::io(path.display(), e))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PackageError::io(parent.display(), e))?;
        }
        let mut content = Vec::new();
        let limit = MAX_UNPACKED_BYTES.saturating_sub(total) + 1;
        (&mut entry)
            .take(limit)
            .read_to_end(&mut content)
            .map_err(|e| bad(format!("entry {inner:?}: {e}")))?;
        total += content.len() as u64;
        if total > MAX_UNPACKED_BYTES {
            return Err(bad(format!(
                "unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        std::fs::write(&path, &content).map_err(|e| PackageError::io(path.display(), e))?;
    }
    Ok(root)
}
