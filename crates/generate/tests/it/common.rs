//! Helpers shared by the integration tests: running the generator into memory, walking JSON, and
//! locating the shared FHIR reference data (`<repo>/../shared/fhir`).

use std::sync::OnceLock;

use generate::{generate, GenerateOptions, Summary};
use serde_json::Value;

/// All resources of a run, in emission order, with their resource type.
pub fn collect(size: u64, seed: u64) -> (Vec<(String, Value)>, Summary) {
    let mut out = Vec::new();
    let summary = generate(&GenerateOptions { size, seed }, |t, r| {
        out.push((t.to_owned(), r.clone()));
        Ok(())
    })
    .expect("generation into memory cannot fail");
    (out, summary)
}

/// Size and seed of [`shared_run`].
pub const SHARED_SIZE: u64 = 2_000;

/// One directory of [`SHARED_SIZE`] resources (seed 2026), generated once and shared by the tests
/// that only need "a directory", so the suite stays fast in debug builds.
pub fn shared_run() -> &'static [(String, Value)] {
    static RUN: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    RUN.get_or_init(|| collect(SHARED_SIZE, 2026).0)
}

/// The run serialised exactly as `write_ndjson_dir` would, as one byte stream.
pub fn ndjson_bytes(size: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    generate(&GenerateOptions { size, seed }, |_, r| {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
        Ok(())
    })
    .expect("generation into memory cannot fail");
    out
}

/// Calls `f` on every JSON object in `value`, depth first.
pub fn walk_objects<'a>(value: &'a Value, f: &mut impl FnMut(&'a serde_json::Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            f(map);
            for v in map.values() {
                walk_objects(v, f);
            }
        }
        Value::Array(items) => {
            for v in items {
                walk_objects(v, f);
            }
        }
        _ => {}
    }
}

pub use testkit::shared_fhir;

/// Reads and parses a JSON file.
pub fn read_json(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
