//! `fhirdir-bench validate`: how fast one core validates (issue 16). The PractitionerRoles of
//! a generated Plan-Net directory (`fhirdir generate --size N --seed 1`), each validated in
//! turn on this thread for `--seconds`, by the `validation` crate the server uses for its
//! writes; reported: validations/s and µs per validation, and how many had errors (none
//! expected: generated data is valid).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

/// `fhirdir-bench validate` arguments.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Size of the generated directory the PractitionerRoles come from.
    #[arg(long, default_value_t = 10_000)]
    size: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long)]
    fhirdir: Option<PathBuf>,
}

pub async fn main(a: ValidateArgs) -> anyhow::Result<()> {
    let fhirdir = crate::fhirdir_binary(a.fhirdir)?;
    let (_dir, files) = crate::child::generate(&fhirdir, a.size).await?;
    let mut roles = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        for line in text.lines().filter(|l| l.contains("\"PractitionerRole\"")) {
            let r: Value = serde_json::from_str(line)?;
            if r["resourceType"] == "PractitionerRole" {
                roles.push(r);
            }
        }
    }
    anyhow::ensure!(!roles.is_empty(), "no PractitionerRole generated");
    println!("{}", crate::report::machine_facts());
    let validator = validation::Validator::core();
    // Warm-up: the rule tables are built on first use.
    let invalid = roles
        .iter()
        .filter(|r| validation::has_errors(&validator.validate(r)))
        .count();
    let (started, limit) = (Instant::now(), Duration::from_secs(a.seconds));
    let mut done = 0u64;
    while started.elapsed() < limit {
        for r in roles.iter().take(1000) {
            std::hint::black_box(validator.validate(r));
        }
        done += roles.len().min(1000) as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "- {} PractitionerRoles of `fhirdir generate --size {}` ({} with errors), validated \
         against FHIR R4 core on one thread for {secs:.1} s\n",
        roles.len(),
        a.size,
        invalid
    );
    println!("| validations/s | µs per validation |");
    println!("|---:|---:|");
    println!(
        "| {:.0} | {:.1} |",
        done as f64 / secs,
        secs * 1e6 / done as f64
    );
    Ok(())
}
