//! The find-a-doctor page in a real browser (Debian's Chromium, driven by `playwright-core`
//! from `tests/browser`), per backend: `/` serves the page, a search by specialty and ZIP
//! shows results with distances and network badges, a stale network carries a visible
//! warning, paging moves forward, a provider opens with its roles, nothing is fetched from
//! another origin, and no script error occurs. Screenshots are saved under
//! `target/test-artifacts/`.
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`) and `tests/browser/node_modules`
//! (`scripts/test` installs them); without them the test is skipped loudly, and fails instead
//! when `FHIRDIR_REQUIRE_BROWSER=1` (CI).

mod common;

#[path = "finder/directory.rs"]
mod directory;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use server::ServerConfig;

use common::{spawn_app, test_databases};
use directory::{directory, role, FAMILY};

/// What the browser test needs, or why it cannot run.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/find_page.mjs");
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        return Err("tests/browser/node_modules is missing (npm ci --prefix tests/browser)".into());
    }
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "{} is missing (apt-get install chromium)",
            chromium.display()
        ));
    }
    match std::process::Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok((script, chromium)),
        _ => Err("node is missing".into()),
    }
}

#[tokio::test]
async fn the_page_finds_pages_and_opens_providers_in_a_browser() {
    let (script, chromium) = match browser() {
        Ok(found) => found,
        Err(why) if std::env::var("FHIRDIR_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("FHIRDIR_REQUIRE_BROWSER=1 but the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("################ SKIPPED the browser test of the find-a-doctor page: {why}");
            return;
        }
    };
    for db in test_databases().await {
        let config = ServerConfig {
            stale_after: Duration::from_secs(2),
            ..ServerConfig::auth_off()
        };
        let app = spawn_app(&db, config).await;
        let b = app.backend;
        for r in directory() {
            app.put_resource(&r).await;
        }
        // net-a goes stale; net-b is written again and again (a role citing it), so it stays
        // fresh however long the browser takes.
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let (client, url) = (
            app.client.clone(),
            app.url("/fhir/default/PractitionerRole/r-smitz"),
        );
        let keep_fresh = tokio::spawn(async move {
            for i in 0u64.. {
                let from = (i % 2 == 0).then_some("net-b");
                let body = role(
                    "r-smitz",
                    "smitz",
                    &["net-b"],
                    &["mi5"],
                    FAMILY,
                    ("newpt", from),
                );
                let _ = client
                    .put(&url)
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string())
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(400)).await;

        let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/test-artifacts/find-page-{b}"));
        std::fs::create_dir_all(&shots).expect("artifact folder");
        let out = tokio::process::Command::new("node")
            .arg(&script)
            .arg(&app.base)
            .arg(&shots)
            .env("CHROMIUM", &chromium)
            .env("SPECIALTY", FAMILY)
            .output()
            .await
            .expect("running node");
        keep_fresh.abort();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "[{b}] the browser script failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("[{b}] not JSON ({e}): {stdout}"));

        assert!(
            seen["title"]
                .as_str()
                .unwrap_or_default()
                .contains("Find a doctor"),
            "[{b}] {seen}"
        );
        assert_eq!(
            seen["foreign"],
            serde_json::json!([]),
            "[{b}] fetched elsewhere: {seen}"
        );
        assert_eq!(
            seen["errors"],
            serde_json::json!([]),
            "[{b}] script errors: {seen}"
        );
        // Family medicine within 25 miles of 06103: seven providers, five on the first page.
        assert_eq!(seen["status"], "7 providers found.", "[{b}] {seen}");
        let first = seen["first"].as_array().expect("first page");
        assert_eq!(first.len(), 5, "[{b}] {seen}");
        for item in first {
            let d = item["distance"].as_str().unwrap_or_default();
            assert!(d.ends_with(" mi"), "[{b}] a distance is shown: {item}");
            assert!(
                !item["badges"].as_array().unwrap().is_empty(),
                "[{b}] network badges: {item}"
            );
        }
        // Every provider in net-a shows it stale, with a warning; net-b is not stale.
        let all: Vec<&Value> = first
            .iter()
            .chain(seen["second"].as_array().unwrap())
            .collect();
        let mut stale_seen = false;
        for item in &all {
            for badge in item["badges"].as_array().unwrap() {
                let stale = badge["stale"].as_bool().unwrap();
                match badge["text"].as_str().unwrap() {
                    "Network net-a" => {
                        assert!(stale, "[{b}] {item}");
                        assert!(
                            item["warning"]
                                .as_str()
                                .unwrap_or_default()
                                .contains("Network net-a"),
                            "[{b}] {item}"
                        );
                        stale_seen = true;
                    }
                    "Network net-b" => assert!(!stale, "[{b}] {item}"),
                    _ => {}
                }
            }
        }
        assert!(stale_seen, "[{b}] {seen}");
        assert!(
            seen["pins"].as_u64().unwrap() >= 1,
            "[{b}] the map shows the sites: {seen}"
        );
        assert_eq!(seen["second"].as_array().unwrap().len(), 2, "[{b}] {seen}");
        assert_eq!(seen["pageInfo"], "6–7 of 7", "[{b}] {seen}");
        let detail = &seen["detail"];
        assert_eq!(detail["heading"], seen["second"][0]["name"], "[{b}] {seen}");
        assert!(
            !detail["roles"].as_array().unwrap().is_empty(),
            "[{b}] {seen}"
        );
        assert!(
            shots.join("find-page-results.png").is_file(),
            "[{b}] screenshot"
        );
    }
}
