//! `fhirdir serve --demo`: a generated Plan-Net directory in tenant `default`, so a newcomer
//! can search real-looking data at once. Loaded only into an empty tenant, so restarting
//! with `--demo` never duplicates or overwrites anything.

use anyhow::Context;
use store::{HistoryQuery, HistoryScope, Store, TenantName};

/// Resources in the demo directory: big enough to page and search, small enough to load in
/// seconds.
const DEMO_SIZE: u64 = 2_000;
const DEMO_SEED: u64 = 2026;

pub async fn load_if_empty(store: &Store) -> anyhow::Result<()> {
    let tenant = TenantName::default_tenant();
    let probe = HistoryQuery {
        scope: HistoryScope::System,
        since: None,
        at: None,
        count: 1,
        before_seq: None,
    };
    if store.history(&tenant, &probe).await?.total > 0 {
        tracing::info!("--demo: tenant default already holds data; nothing loaded");
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("fhirdir-demo-{}", std::process::id()));
    let opts = generate::GenerateOptions {
        size: DEMO_SIZE,
        seed: DEMO_SEED,
    };
    generate::write_ndjson_dir(&opts, &dir)
        .with_context(|| format!("generating the demo into {}", dir.display()))?;
    let files: Vec<_> = generate::TYPE_ORDER
        .iter()
        .map(|t| dir.join(format!("{t}.ndjson")))
        .filter(|p| p.exists())
        .collect();
    let stats = ingest::import_files(
        store,
        &tenant,
        &files,
        &ingest::ImportOptions::default(),
        |_| {},
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let stats = stats.context("loading the demo directory")?;
    println!(
        "--demo: loaded {} generated Plan-Net resources into tenant default",
        stats.imported()
    );
    Ok(())
}
