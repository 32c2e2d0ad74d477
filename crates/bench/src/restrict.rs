//! `fhirdir-bench restrict`: a copy of `fhirdir generate` output in which every `--every`th
//! resource of each type is restricted (NDH STU1 usage restrictions), for the restricted-content
//! benchmark (BENCHMARKS.md, "Restricted content"): the same data imported as a second tenant
//! and searched by the same anonymous shapes as the unrestricted one.
//!
//! Restricted resources alternate between the two NDH forms: the whole resource (a contained
//! Restriction without `restrictFhirPath`) and elements only (`address` and `telecom`, as the
//! NDH women's-shelter example), so both filters of the store are exercised.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use restrict::{NDH_RESTRICT_FHIR_PATH as PATH, NDH_USAGE_RESTRICTION as USAGE};
use serde_json::{json, Value};

/// `fhirdir-bench restrict` arguments.
#[derive(clap::Args, Debug)]
pub struct RestrictArgs {
    /// The directory `fhirdir generate` wrote.
    #[arg(long)]
    data: PathBuf,
    /// Where to write the copy (created).
    #[arg(long)]
    out: PathBuf,
    /// Restrict one resource in this many (100: 1%).
    #[arg(long, default_value_t = 100)]
    every: usize,
}

/// Restricts `resource`: whole when `whole`, else its address and telecom.
fn restrict(resource: &mut Value, whole: bool) {
    let ty = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut consent = json!({"resourceType": "Consent", "id": "restriction", "status": "active",
        "scope": {"coding": [{"system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentScopeNdhCS",
            "code": "directory-privacy"}]},
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentCategoryNdhCS",
            "code": "DRC"}]}]});
    if !whole {
        consent["extension"] = json!([
            {"url": PATH, "valueExpression": {"language": "text/fhirpath", "expression": format!("{ty}.address")}},
            {"url": PATH, "valueExpression": {"language": "text/fhirpath", "expression": format!("{ty}.telecom")}}
        ]);
    }
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    if let Some(c) = obj
        .entry("contained")
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        c.push(consent);
    }
    let reference = json!({"url": USAGE, "valueReference": {"reference": "#restriction"}});
    if let Some(e) = obj
        .entry("extension")
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        e.push(reference);
    }
}

pub fn main(a: RestrictArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let every = a.every.max(1);
    let mut totals = (0usize, 0usize, 0usize);
    for entry in std::fs::read_dir(&a.data)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("ndjson") {
            continue;
        }
        let name = path.file_name().context("file name")?;
        let reader = std::io::BufReader::new(std::fs::File::open(&path)?);
        let mut out = BufWriter::new(std::fs::File::create(a.out.join(name))?);
        for (i, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            totals.0 += 1;
            if i % every == every / 2 {
                let mut v: Value = serde_json::from_str(&line)?;
                let whole = (i / every).is_multiple_of(2);
                restrict(&mut v, whole);
                if whole {
                    totals.1 += 1;
                } else {
                    totals.2 += 1;
                }
                serde_json::to_writer(&mut out, &v)?;
                out.write_all(b"\n")?;
            } else {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
    }
    println!(
        "{} resources, {} restricted whole, {} restricted by element, in {}",
        totals.0,
        totals.1,
        totals.2,
        a.out.display()
    );
    Ok(())
}
