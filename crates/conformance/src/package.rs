//! Loading SearchParameter definitions from files: a folder of FHIR JSON files, an unpacked
//! FHIR package, or an npm-style `.tgz` FHIR package
//! (<https://confluence.hl7.org/display/FHIR/NPM+Package+Specification>).
//!
//! - A **JSON file** holds one resource or a Bundle of them; its SearchParameters are taken,
//!   every other resource type is skipped.
//! - A **package folder** is a folder with `package.json` (or with `package/package.json`):
//!   the `.json` files next to `package.json` are read; sub-folders (`example/`, `other/`,
//!   `openapi/`, ...) are not, since they hold examples rather than definitions.
//! - A **`.tgz` package** is the same laid out in a gzipped tar under `package/`.
//! - A **profiles folder** ([`load_dir`]) may hold any of these: JSON files, `.tgz` files,
//!   package folders and plain sub-folders of JSON files; other files (a README) are
//!   skipped. Entries are read in name order, so when two files define the same base and
//!   code the later name wins.
//!
//! Every error names the file (and, inside an archive, the entry), so a deployment that
//! ships a broken definition fails at start with a message that says where.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::search_param::SearchParamDef;
use crate::ConformanceError;

/// A definition and the file it came from (`archive.tgz!package/x.json` inside an archive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedParam {
    pub def: SearchParamDef,
    pub source: String,
}

fn load_err(path: impl std::fmt::Display, message: impl Into<String>) -> ConformanceError {
    ConformanceError::Load {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Loads whatever `path` is: a `.json` file, a `.tgz` package, a package folder or a folder
/// of JSON files (see the module docs).
pub fn load_path(path: &Path) -> Result<Vec<LoadedParam>, ConformanceError> {
    match kind_of(path)? {
        PathKind::PackageDir => load_package_dir(path),
        PathKind::Dir => load_dir(path),
        PathKind::Tgz => load_package_tgz(path),
        PathKind::Json => {
            let bytes = read(path)?;
            params_from_json(&path.display().to_string(), &bytes)
        }
    }
}

/// What a path given to load is.
enum PathKind {
    PackageDir,
    Dir,
    Tgz,
    Json,
}

/// What `path` is, or why it cannot be loaded.
fn kind_of(path: &Path) -> Result<PathKind, ConformanceError> {
    if path.is_dir() {
        Ok(match package_root(path) {
            Some(_) => PathKind::PackageDir,
            None => PathKind::Dir,
        })
    } else if is_tgz(path) {
        Ok(PathKind::Tgz)
    } else if has_extension(path, ".json") {
        Ok(PathKind::Json)
    } else if path.exists() {
        Err(load_err(
            path.display(),
            "not a .json file, a .tgz FHIR package or a folder",
        ))
    } else {
        Err(load_err(path.display(), "does not exist"))
    }
}

fn is_tgz(path: &Path) -> bool {
    has_extension(path, ".tgz") || has_extension(path, ".tar.gz")
}

fn read(path: &Path) -> Result<Vec<u8>, ConformanceError> {
    std::fs::read(path).map_err(|e| load_err(path.display(), e.to_string()))
}

/// Loads a profiles folder: its JSON files, `.tgz` packages, package folders and
/// sub-folders, in name order. Files of other kinds are skipped.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedParam>, ConformanceError> {
    let mut out = Vec::new();
    for path in sorted_entries(dir)? {
        let name = file_name(&path);
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() || has_extension(&path, ".json") || is_tgz(&path) {
            out.extend(load_path(&path)?);
        }
    }
    Ok(out)
}

/// Loads an unpacked FHIR package: `dir` holds `package.json`, or `dir/package` does.
pub fn load_package_dir(dir: &Path) -> Result<Vec<LoadedParam>, ConformanceError> {
    read_package_dir(dir)?.search_params()
}

/// The documents of a package: its manifest and its top-level JSON files (name order).
struct PackageFiles {
    manifest: Option<Value>,
    files: Vec<(String, Vec<u8>)>,
}

impl PackageFiles {
    fn search_params(&self) -> Result<Vec<LoadedParam>, ConformanceError> {
        let mut out = Vec::new();
        for (source, bytes) in &self.files {
            out.extend(params_from_json(source, bytes)?);
        }
        Ok(out)
    }
}

fn read_package_dir(dir: &Path) -> Result<PackageFiles, ConformanceError> {
    let root = package_root(dir).ok_or_else(|| {
        load_err(
            dir.display(),
            "not a FHIR package folder: no package.json (or package/package.json)",
        )
    })?;
    let manifest = root.join("package.json");
    let bytes = read(&manifest)?;
    let manifest = check_manifest(&manifest.display().to_string(), &bytes)?;
    let mut files = Vec::new();
    for path in sorted_entries(&root)? {
        let name = file_name(&path);
        if path.is_dir() || !name.ends_with(".json") || is_package_metadata(&name) {
            continue;
        }
        let bytes = read(&path)?;
        files.push((path.display().to_string(), bytes));
    }
    Ok(PackageFiles {
        manifest: Some(manifest),
        files,
    })
}

/// Loads an npm-style FHIR package archive (gzipped tar with a `package/` folder).
pub fn load_package_tgz(path: &Path) -> Result<Vec<LoadedParam>, ConformanceError> {
    read_package_tgz(path)?.search_params()
}

fn read_package_tgz(path: &Path) -> Result<PackageFiles, ConformanceError> {
    let file = std::fs::File::open(path).map_err(|e| load_err(path.display(), e.to_string()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(|e| load_err(path.display(), format!("not a gzipped tar archive: {e}")))?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = None;
    for entry in entries {
        let mut entry = entry
            .map_err(|e| load_err(path.display(), format!("not a gzipped tar archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let inner = entry
            .path()
            .map_err(|e| load_err(path.display(), e.to_string()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        // Only the package's own top level: `package/x.json`, not `package/example/y.json`.
        let Some(name) = inner.strip_prefix("package/") else {
            continue;
        };
        if name.contains('/') || !name.ends_with(".json") {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| load_err(format!("{}!{inner}", path.display()), e.to_string()))?;
        if name == "package.json" {
            manifest = Some(bytes);
        } else if !is_package_metadata(name) {
            files.push((inner, bytes));
        }
    }
    let Some(manifest) = manifest else {
        return Err(load_err(
            path.display(),
            "not a FHIR package: the archive has no package/package.json",
        ));
    };
    let manifest = check_manifest(
        &format!("{}!package/package.json", path.display()),
        &manifest,
    )?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let files = files
        .into_iter()
        .map(|(inner, bytes)| (format!("{}!{inner}", path.display()), bytes))
        .collect();
    Ok(PackageFiles {
        manifest: Some(manifest),
        files,
    })
}

/// The SearchParameters in one JSON document: a SearchParameter, or a Bundle holding some.
/// Other resources give nothing; text that is not a JSON resource, or a SearchParameter
/// fhirdir cannot use, is an error naming `source`.
pub fn params_from_json(source: &str, bytes: &[u8]) -> Result<Vec<LoadedParam>, ConformanceError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| load_err(source, format!("not valid JSON: {e}")))?;
    let Some(rtype) = value.get("resourceType").and_then(Value::as_str) else {
        return Err(load_err(source, "not a FHIR resource (no resourceType)"));
    };
    let one = |v: &Value, at: String| {
        SearchParamDef::from_resource(v)
            .map(|def| LoadedParam {
                def,
                source: source.to_owned(),
            })
            .map_err(|e| load_err(&at, e.0))
    };
    match rtype {
        "SearchParameter" => Ok(vec![one(&value, source.to_owned())?]),
        "Bundle" => {
            let mut out = Vec::new();
            let entries = value.get("entry").and_then(Value::as_array);
            for (i, entry) in entries.into_iter().flatten().enumerate() {
                let resource = &entry["resource"];
                if resource.get("resourceType").and_then(Value::as_str) == Some("SearchParameter") {
                    out.push(one(resource, format!("{source} (Bundle.entry[{i}])"))?);
                }
            }
            Ok(out)
        }
        _ => Ok(Vec::new()),
    }
}

/// Where `package.json` is: `dir` itself or `dir/package`.
fn package_root(dir: &Path) -> Option<PathBuf> {
    if dir.join("package.json").is_file() {
        Some(dir.to_path_buf())
    } else if dir.join("package/package.json").is_file() {
        Some(dir.join("package"))
    } else {
        None
    }
}

/// `package.json` must be a JSON object with a `name`.
fn check_manifest(source: &str, bytes: &[u8]) -> Result<Value, ConformanceError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| load_err(source, format!("not valid JSON: {e}")))?;
    match v.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => Ok(v),
        _ => Err(load_err(source, "package.json has no name")),
    }
}

/// Package bookkeeping files that are not resources.
fn is_package_metadata(name: &str) -> bool {
    name == "package.json" || name.starts_with('.')
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ConformanceError> {
    let read = std::fs::read_dir(dir).map_err(|e| load_err(dir.display(), e.to_string()))?;
    let mut paths = Vec::new();
    for entry in read {
        paths.push(
            entry
                .map_err(|e| load_err(dir.display(), e.to_string()))?
                .path(),
        );
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn has_extension(path: &Path, ext: &str) -> bool {
    file_name(path).to_ascii_lowercase().ends_with(ext)
}

/// The definitions of one package that validation uses.
#[derive(Debug, Clone, Default)]
pub struct DefinitionPackage {
    /// `name#version`, from `package.json` or, for a folder without one, from the
    /// ImplementationGuide resource in it (`packageId`, `version`); `None` for loose files.
    pub id: Option<String>,
    /// `name#version` of each package it depends on.
    pub dependencies: Vec<String>,
    /// Where it was read from.
    pub source: String,
    /// Its StructureDefinitions, ValueSets and CodeSystems.
    pub resources: Vec<Value>,
}

/// The kinds of resource [`load_definitions`] keeps.
const DEFINITION_TYPES: [&str; 3] = ["StructureDefinition", "ValueSet", "CodeSystem"];

/// Loads the definitions of whatever `path` is (as [`load_path`] does for SearchParameters):
/// a package (folder or `.tgz`) is one [`DefinitionPackage`]; in a plain folder, the JSON
/// files directly in it are one (named by an ImplementationGuide among them, if any) and
/// each package or sub-folder in it is read the same way.
pub fn load_definitions(path: &Path) -> Result<Vec<DefinitionPackage>, ConformanceError> {
    let source = path.display().to_string();
    let loose = |files| PackageFiles {
        manifest: None,
        files,
    };
    match kind_of(path)? {
        PathKind::PackageDir => Ok(vec![definitions_of(&source, read_package_dir(path)?)?]),
        PathKind::Tgz => Ok(vec![definitions_of(&source, read_package_tgz(path)?)?]),
        PathKind::Json => Ok(vec![definitions_of(
            &source,
            loose(vec![(source.clone(), read(path)?)]),
        )?]),
        PathKind::Dir => {
            let mut files = Vec::new();
            let mut out = Vec::new();
            for entry in sorted_entries(path)? {
                if file_name(&entry).starts_with('.') {
                    continue;
                }
                if entry.is_dir() || is_tgz(&entry) {
                    out.extend(load_definitions(&entry)?);
                } else if has_extension(&entry, ".json") {
                    files.push((entry.display().to_string(), read(&entry)?));
                }
            }
            if !files.is_empty() {
                out.insert(0, definitions_of(&source, loose(files))?);
            }
            Ok(out)
        }
    }
}

fn definitions_of(
    source: &str,
    files: PackageFiles,
) -> Result<DefinitionPackage, ConformanceError> {
    let mut package = DefinitionPackage {
        source: source.to_owned(),
        ..DefinitionPackage::default()
    };
    if let Some(m) = &files.manifest {
        let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
        let version = m
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("current");
        package.id = Some(format!("{name}#{version}"));
        if let Some(deps) = m.get("dependencies").and_then(Value::as_object) {
            for (n, v) in deps {
                package
                    .dependencies
                    .push(format!("{n}#{}", v.as_str().unwrap_or_default()));
            }
        }
    }
    for (at, bytes) in &files.files {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| load_err(at, format!("not valid JSON: {e}")))?;
        let mut keep = |r: &Value| match r.get("resourceType").and_then(Value::as_str) {
            Some(t) if DEFINITION_TYPES.contains(&t) => package.resources.push(r.clone()),
            Some("ImplementationGuide") if package.id.is_none() => {
                let name = r.get("packageId").and_then(Value::as_str);
                let version = r.get("version").and_then(Value::as_str);
                if let (Some(n), Some(v)) = (name, version) {
                    package.id = Some(format!("{n}#{v}"));
                    let deps = r.get("dependsOn").and_then(Value::as_array);
                    for d in deps.into_iter().flatten() {
                        let n = d.get("packageId").and_then(Value::as_str);
                        let v = d.get("version").and_then(Value::as_str);
                        if let (Some(n), Some(v)) = (n, v) {
                            package.dependencies.push(format!("{n}#{v}"));
                        }
                    }
                }
            }
            _ => {}
        };
        match value.get("resourceType").and_then(Value::as_str) {
            Some("Bundle") => {
                let entries = value.get("entry").and_then(Value::as_array);
                for e in entries.into_iter().flatten() {
                    keep(&e["resource"]);
                }
            }
            Some(_) => keep(&value),
            None => return Err(load_err(at, "not a FHIR resource (no resourceType)")),
        }
    }
    Ok(package)
}
