//! `fhirdir generate --size N --seed S --out DIR`: a synthetic Plan-Net directory as NDJSON.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Approximate number of resources in all.
    #[arg(long, default_value_t = 10_000)]
    size: u64,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (one `<Type>.ndjson` file per resource type).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let opts = generate::GenerateOptions {
        size: args.size,
        seed: args.seed,
    };
    let summary = generate::write_ndjson_dir(&opts, &args.out)
        .with_context(|| format!("writing the directory to {}", args.out.display()))?;
    for t in generate::TYPE_ORDER {
        println!("{:>10}  {t}", summary.count(t));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} resources written to {} in {secs:.1} s ({:.0} resources/s)",
        summary.total(),
        args.out.display(),
        summary.total() as f64 / secs.max(1e-9)
    );
    Ok(())
}
