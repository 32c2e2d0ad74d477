//! The Plan-Net sample both servers load, and the request shapes drawn from it.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use serde_json::Value;

use crate::search::enc as encode;

/// One resource of the sample: type, id and its JSON as read.
pub struct Resource {
    pub resource_type: String,
    pub id: String,
    pub body: Bytes,
}

/// The `*.ndjson.gz` (or `*.ndjson`) files in `dir`, in name order.
pub fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".ndjson"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every resource of `files`.
pub fn read(files: &[PathBuf]) -> anyhow::Result<Vec<Resource>> {
    let mut out = Vec::new();
    for f in files {
        let raw = std::fs::read(f)?;
        let mut text = String::new();
        if f.extension().is_some_and(|e| e == "gz") {
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_string(&mut text)?;
        } else {
            text = String::from_utf8(raw)?;
        }
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).with_context(|| f.display().to_string())?;
            out.push(Resource {
                resource_type: v["resourceType"].as_str().unwrap_or_default().to_owned(),
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                body: Bytes::from(line.to_owned()),
            });
        }
    }
    anyhow::ensure!(!out.is_empty(), "no NDJSON resources in {files:?}");
    Ok(out)
}

/// A request shape: paths relative to a server's FHIR base (`/PractitionerRole?...`), used
/// in turn, and how many connections send them.
pub struct Shape {
    pub key: &'static str,
    pub label: &'static str,
    pub connections: usize,
    pub paths: Vec<String>,
}

/// The shapes of issue 19, with values from the sample: every Practitioner id, every role
/// specialty code, every practitioner family name, every Location position.
pub fn shapes(data: &[Resource], many: usize) -> anyhow::Result<Vec<Shape>> {
    let of = |t: &'static str| {
        data.iter()
            .filter(move |r| r.resource_type == t)
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
    };
    let ids: Vec<String> = of("Practitioner")
        .filter_map(|v| Some(format!("/Practitioner/{}", v["id"].as_str()?)))
        .collect();
    let mut specialties = BTreeSet::new();
    for v in of("PractitionerRole") {
        for c in v["specialty"].as_array().into_iter().flatten() {
            for coding in c["coding"].as_array().into_iter().flatten() {
                if let Some(code) = coding["code"].as_str() {
                    specialties.insert(code.to_owned());
                }
            }
        }
    }
    let families: BTreeSet<String> = of("Practitioner")
        .filter_map(|v| v["name"][0]["family"].as_str().map(str::to_owned))
        .collect();
    let positions: Vec<(f64, f64)> = of("Location")
        .filter_map(|v| {
            let p = &v["position"];
            Some((p["latitude"].as_f64()?, p["longitude"].as_f64()?))
        })
        .collect();
    anyhow::ensure!(
        !ids.is_empty() && !specialties.is_empty() && !families.is_empty() && !positions.is_empty(),
        "the sample lacks Practitioners, role specialties, family names or Location positions"
    );
    let by_specialty = |query: &str| -> Vec<String> {
        specialties
            .iter()
            .map(|c| query.replace("{}", &encode(c)))
            .collect()
    };
    let shape = |key, label, connections, paths| Shape {
        key,
        label,
        connections,
        paths,
    };
    Ok(vec![
        shape("read", "read by id", many, ids.clone()),
        shape("read-1", "read by id, 1 connection", 1, ids),
        shape(
            "token-10",
            "`PractitionerRole?specialty=X&_count=10`",
            many,
            by_specialty("/PractitionerRole?specialty={}&_count=10"),
        ),
        shape(
            "token-50",
            "same, `_count=50`",
            many,
            by_specialty("/PractitionerRole?specialty={}&_count=50"),
        ),
        shape(
            "token-10-1",
            "same, `_count=10`, 1 connection",
            1,
            by_specialty("/PractitionerRole?specialty={}&_count=10"),
        ),
        shape(
            "chain",
            "`PractitionerRole?practitioner.name=X&_count=20`",
            many,
            families
                .iter()
                .map(|f| {
                    format!(
                        "/PractitionerRole?practitioner.name={}&_count=20",
                        encode(f)
                    )
                })
                .collect(),
        ),
        shape(
            "include",
            "`PractitionerRole?specialty=X&_include=PractitionerRole:practitioner&_count=20`",
            many,
            by_specialty(
                "/PractitionerRole?specialty={}&_include=PractitionerRole:practitioner&_count=20",
            ),
        ),
        shape(
            "has",
            "`Practitioner?_has:PractitionerRole:practitioner:specialty=X&_count=20`",
            many,
            by_specialty("/Practitioner?_has:PractitionerRole:practitioner:specialty={}&_count=20"),
        ),
        shape(
            "near",
            "`Location?near=LAT|LON|10|mi&_count=20`",
            many,
            positions
                .iter()
                .map(|(lat, lon)| {
                    format!(
                        "/Location?near={}&_count=20",
                        encode(&format!("{lat}|{lon}|10|mi"))
                    )
                })
                .collect(),
        ),
    ])
}
