//! Package archives built in memory, as registries serve them.

use serde_json::{json, Value};

/// A gzipped tar of `package/package.json` (name, version, dependencies) and `files` (paths
/// under `package/`, or raw entry paths when they start with `!`).
pub fn tgz(name: &str, version: &str, deps: Value, files: &[(&str, &[u8])]) -> Vec<u8> {
    let manifest = json!({"name": name, "version": version, "dependencies": deps});
    let mut all: Vec<(String, Vec<u8>)> = vec![(
        "package/package.json".into(),
        serde_json::to_vec(&manifest).expect("json"),
    )];
    for (path, bytes) in files {
        let path = match path.strip_prefix('!') {
            Some(raw) => raw.to_owned(),
            None => format!("package/{path}"),
        };
        all.push((path, bytes.to_vec()));
    }
    raw_tgz(&all)
}

/// A gzipped tar of exactly these entries (names written as given, even unsafe ones).
pub fn raw_tgz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Written into the raw name field so that `..` survives (the builder refuses it).
        let name = path.as_bytes();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        tar.append(&header, bytes.as_slice()).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

pub fn search_parameter(code: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "resourceType": "SearchParameter", "url": format!("http://example.org/sp/{code}"),
        "code": code, "base": ["Organization"], "type": "string",
        "expression": "Organization.alias"}))
    .expect("json")
}
