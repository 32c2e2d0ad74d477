//! Reading the shared reference resources, for the tests that validate them.

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

/// Every `.json` FHIR resource below `dir` (recursively), named by its file; files that are
/// not JSON resources are skipped. Panics when `dir` is missing.
pub fn json_files(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        if p.extension().is_none_or(|x| x != "json") {
            return;
        }
        let text = std::fs::read_to_string(p).unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            if v.get("resourceType").is_some() {
                out.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    });
    out
}

/// Every resource of the `.ndjson.gz` files below `dir` (recursively), named `FILE:LINE`.
pub fn ndjson_gz(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        if !p.to_string_lossy().ends_with(".ndjson.gz") {
            return;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let f = flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap());
        for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            out.push((format!("{name}:{}", n + 1), v));
        }
    });
    out
}

fn walk(dir: &Path, each: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("{} is missing", dir.display());
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, each);
        } else {
            each(&p);
        }
    }
}
