//! The two inputs of the suite, read at test time from `../shared/fhir`: the Plan-Net sample
//! data (`sample-data/plan-net-ri-nppes/*.ndjson.gz`) and the Plan-Net IG packages
//! (`plan-net/{1.1.0,1.2.0}`: the server CapabilityStatement and the SearchParameters).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::matching::Atom;

/// `<CARGO_MANIFEST_DIR>/../shared/fhir`.
pub fn shared_fhir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fhir")
}

/// The sample data directory.
pub fn sample_dir() -> PathBuf {
    shared_fhir().join("sample-data/plan-net-ri-nppes")
}

/// `true` when the shared data is present; otherwise prints a visible SKIPPED line, and
/// panics instead when `FHIRDIR_REQUIRE_SHARED=1` ([`testkit::shared_fhir_at`]).
pub fn shared_present(test: &str) -> bool {
    let present = ["sample-data/plan-net-ri-nppes", "plan-net/1.2.0"]
        .iter()
        .all(|dir| testkit::shared_fhir_at(dir).is_some());
    if !present {
        eprintln!("SKIPPED {test}");
    }
    present
}

/// The sample resources, by type (each list sorted by id).
pub struct Dataset {
    pub by_type: BTreeMap<String, Vec<Value>>,
    pub files: Vec<PathBuf>,
    /// Every `Type/id` of the data.
    pub keys: BTreeSet<String>,
    /// Atoms per `(base, expression, kind)`, computed once (see `values::indexed`).
    pub cache: Mutex<HashMap<String, Indexed>>,
}

/// `(Type/id, atoms)` of every resource of a type for one parameter.
pub type Indexed = Arc<Vec<(String, Vec<Atom>)>>;

impl Dataset {
    /// Reads every `*.ndjson.gz` file of [`sample_dir`].
    pub fn load() -> Dataset {
        let mut files: Vec<PathBuf> = std::fs::read_dir(sample_dir())
            .expect("reading the sample data directory")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".ndjson.gz"))
            .collect();
        files.sort();
        let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for f in &files {
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(f).expect("open sample"));
            for line in BufReader::new(gz).lines() {
                let line = line.expect("reading a sample line");
                if line.trim().is_empty() {
                    continue;
                }
                let r: Value = serde_json::from_str(&line).expect("sample line is JSON");
                let t = r["resourceType"].as_str().expect("resourceType").to_owned();
                by_type.entry(t).or_default().push(r);
            }
        }
        for list in by_type.values_mut() {
            list.sort_by(|a, b| id_of(a).cmp(id_of(b)));
        }
        let keys = by_type.values().flatten().map(key_of).collect();
        Dataset {
            by_type,
            files,
            keys,
            cache: Mutex::default(),
        }
    }

    /// The resources of `rtype` (empty when the data has none).
    pub fn of(&self, rtype: &str) -> &[Value] {
        self.by_type
            .get(rtype)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn total(&self) -> usize {
        self.by_type.values().map(Vec::len).sum()
    }
}

/// The id of a resource.
pub fn id_of(r: &Value) -> &str {
    r["id"].as_str().unwrap_or_default()
}

/// `Type/id` of a resource.
pub fn key_of(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap_or_default(),
        id_of(r)
    )
}

/// A SearchParameter definition, reduced to what the suite needs.
#[derive(Debug, Clone)]
pub struct ParamDef {
    pub code: String,
    pub base: String,
    /// `string`, `token`, `reference`, `date`, …
    pub kind: String,
    pub expression: String,
    pub targets: Vec<String>,
    pub chain: Vec<String>,
    pub modifiers: Vec<String>,
}

/// One resource entry of the IG's server CapabilityStatement.
#[derive(Debug, Clone)]
pub struct CsResource {
    pub rtype: String,
    pub profiles: Vec<String>,
    /// `(name, definition canonical, type)`.
    pub params: Vec<(String, String, String)>,
    pub includes: Vec<String>,
    pub revincludes: Vec<String>,
}

/// One Plan-Net IG package.
pub struct Ig {
    pub version: String,
    pub cs_url: String,
    pub resources: Vec<CsResource>,
    /// `(base type, code)` -> definition; includes `_id` and `_lastUpdated`.
    pub params: HashMap<(String, String), ParamDef>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Ig {
    /// Reads `plan-net/{version}`.
    pub fn load(version: &str) -> Ig {
        let dir = shared_fhir().join("plan-net").join(version);
        let read = |p: &Path| -> Value {
            serde_json::from_slice(&std::fs::read(p).expect("reading an IG file"))
                .expect("IG file is JSON")
        };
        let cs = read(&dir.join("CapabilityStatement-plan-net.json"));
        let mut resources = Vec::new();
        for rest in cs["rest"].as_array().into_iter().flatten() {
            if rest["mode"] != "server" {
                continue;
            }
            for r in rest["resource"].as_array().into_iter().flatten() {
                resources.push(CsResource {
                    rtype: r["type"].as_str().unwrap_or_default().to_owned(),
                    profiles: strings(&r["supportedProfile"]),
                    params: r["searchParam"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                            (s("name"), s("definition"), s("type"))
                        })
                        .collect(),
                    includes: strings(&r["searchInclude"]),
                    revincludes: strings(&r["searchRevInclude"]),
                });
            }
        }
        let mut params = HashMap::new();
        for e in std::fs::read_dir(&dir).expect("reading the IG directory") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !name.starts_with("SearchParameter-") || !name.ends_with(".json") {
                continue;
            }
            let sp = read(&p);
            for base in strings(&sp["base"]) {
                let def = ParamDef {
                    code: sp["code"].as_str().unwrap_or_default().to_owned(),
                    base: base.clone(),
                    kind: sp["type"].as_str().unwrap_or_default().to_owned(),
                    expression: sp["expression"].as_str().unwrap_or_default().to_owned(),
                    targets: strings(&sp["target"]),
                    chain: strings(&sp["chain"]),
                    modifiers: strings(&sp["modifier"]),
                };
                params.insert((base, def.code.clone()), def);
            }
        }
        // The two core parameters every Plan-Net resource lists (R4 `Resource-id`,
        // `Resource-lastUpdated`).
        for r in &resources {
            for (code, kind, expr) in [
                ("_id", "token", "Resource.id"),
                ("_lastUpdated", "date", "Resource.meta.lastUpdated"),
            ] {
                params.insert(
                    (r.rtype.clone(), code.to_owned()),
                    ParamDef {
                        code: code.to_owned(),
                        base: r.rtype.clone(),
                        kind: kind.to_owned(),
                        expression: expr.to_owned(),
                        targets: Vec::new(),
                        chain: Vec::new(),
                        modifiers: Vec::new(),
                    },
                );
            }
        }
        Ig {
            version: version.to_owned(),
            cs_url: cs["url"].as_str().unwrap_or_default().to_owned(),
            resources,
            params,
        }
    }

    /// The definition of `code` on `rtype`.
    pub fn param(&self, rtype: &str, code: &str) -> Option<&ParamDef> {
        self.params.get(&(rtype.to_owned(), code.to_owned()))
    }

    /// The CapabilityStatement entry of `rtype`.
    pub fn resource(&self, rtype: &str) -> Option<&CsResource> {
        self.resources.iter().find(|r| r.rtype == rtype)
    }
}
