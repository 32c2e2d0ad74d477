//! `fhirdir-bench validate`: how fast one core validates (issue 16). The PractitionerRoles of
//! a generated Plan-Net directory (`fhirdir generate --size N --seed 1`), each validated in
//! turn on this thread for `--seconds`, by the `validation` crate the server uses for its
//! writes: against FHIR R4 core, and (with `--package`, a Plan-Net package folder or
//! archive) against core and the package's `--profile` too, as a tenant that activates the
//! package and requires the profile validates; reported: validations/s and µs per
//! validation, and how many had errors (none expected: generated data is valid).

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
    /// A FHIR package (folder or .tgz) whose `--profile` the roles are validated against too.
    #[arg(long)]
    package: Option<PathBuf>,
    /// The profile of `--package` required of every PractitionerRole.
    #[arg(
        long,
        default_value = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-PractitionerRole"
    )]
    profile: String,
}

/// Validations per second of `validate` over `roles` for `seconds`, and how many roles had
/// errors.
fn rate(
    roles: &[Value],
    seconds: u64,
    validate: impl Fn(&Value) -> Vec<validation::Issue>,
) -> (f64, usize) {
    // Warm-up: the rule tables and compiled profiles are built on first use.
    let invalid = roles
        .iter()
        .filter(|r| validation::has_errors(&validate(r)))
        .count();
    let (started, limit) = (Instant::now(), Duration::from_secs(seconds));
    let mut done = 0u64;
    while started.elapsed() < limit {
        for r in roles.iter().take(1000) {
            std::hint::black_box(validate(r));
        }
        done += roles.len().min(1000) as u64;
    }
    (done as f64 / started.elapsed().as_secs_f64(), invalid)
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
    let mut rows = Vec::new();
    let core = validation::Validator::core();
    rows.push((
        "FHIR R4 core".to_owned(),
        rate(&roles, a.seconds, |r| core.validate(r)),
    ));
    if let Some(path) = &a.package {
        let packages = conformance::package::load_definitions(path)
            .with_context(|| format!("loading {}", path.display()))?;
        let policy = validation::Policy {
            profiles: std::sync::Arc::new(validation::ProfileSet::new(&packages)),
            require: [("PractitionerRole".to_owned(), vec![a.profile.clone()])].into(),
        };
        anyhow::ensure!(
            policy.profiles.has_profile(&a.profile),
            "{} is not in {}",
            a.profile,
            path.display()
        );
        rows.push((
            format!(
                "core + `{}`",
                a.profile.rsplit('/').next().unwrap_or_default()
            ),
            rate(&roles, a.seconds, |r| policy.validate(r)),
        ));
    }
    println!(
        "- {} PractitionerRoles of `fhirdir generate --size {}`, validated on one thread for \
         {} s per row\n",
        roles.len(),
        a.size,
        a.seconds
    );
    println!("| against | validations/s | µs per validation | roles with errors |");
    println!("|---|---:|---:|---:|");
    for (what, (per_sec, invalid)) in rows {
        println!(
            "| {what} | {per_sec:.0} | {:.1} | {invalid} |",
            1e6 / per_sec
        );
    }
    Ok(())
}
