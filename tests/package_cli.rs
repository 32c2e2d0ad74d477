//! `fhirdir package`: an archive installed offline into the package cache (no registry is
//! contacted), listed, and its search parameters served with `--packages`; a package not in
//! the cache stops the start, naming it; no registry configured is an error, not a guess.

mod common;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::BinaryServer;
use serde_json::{json, Value};

fn fhirdir(args: &[&str], cache: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(args)
        .env("FHIR_PACKAGE_CACHE", cache)
        .env_remove("FHIR_PACKAGE_REGISTRY")
        .output()
        .expect("running fhirdir")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// A package archive with one SearchParameter, `nickname` on Organization.alias.
fn archive(path: &std::path::Path) {
    let manifest = json!({"name": "example.directory", "version": "1.0.0",
                          "dependencies": {"example.base": "2.0.0"}});
    let sp = json!({"resourceType": "SearchParameter",
                    "url": "http://example.org/sp/nickname", "code": "nickname",
                    "base": ["Organization"], "type": "string",
                    "expression": "Organization.alias"});
    common::package_tgz(
        path,
        &manifest,
        &[("SearchParameter-nickname.json".to_owned(), sp)],
    );
}

#[tokio::test]
async fn an_archive_installs_offline_lists_and_extends_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let tgz = dir.path().join("example.directory-1.0.0.tgz");
    archive(&tgz);

    // A registry that counts connections: `--from` must never reach it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let registry = format!("http://{}", listener.local_addr().expect("addr"));
    let contacted = Arc::new(AtomicUsize::new(0));
    let seen = contacted.clone();
    std::thread::spawn(move || {
        for _ in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let tgz_arg = tgz.display().to_string();
    let out = fhirdir(
        &[
            "package",
            "install",
            "--from",
            &tgz_arg,
            "--registry",
            &registry,
        ],
        &cache,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("installed example.directory#1.0.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not in the cache, needed by it: example.base#2.0.0"),
        "{stdout}"
    );
    assert_eq!(contacted.load(Ordering::SeqCst), 0, "no registry contacted");
    assert!(cache
        .join("example.directory#1.0.0/package/SearchParameter-nickname.json")
        .is_file());
    let out = fhirdir(&["package", "list"], &cache);
    assert_eq!(text(&out.stdout), "example.directory#1.0.0\n");

    // Asking for another package than the archive holds is refused.
    let out = fhirdir(
        &[
            "package",
            "install",
            "example.other@1.0.0",
            "--from",
            &tgz_arg,
        ],
        &cache,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("holds example.directory#1.0.0"),
        "{}",
        text(&out.stderr)
    );
    // No registry given: an error saying how to give one.
    let out = fhirdir(&["package", "install", "example.base@2.0.0"], &cache);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no package registry"),
        "{}",
        text(&out.stderr)
    );

    let cache_env = cache.display().to_string();
    for db in testkit::test_databases().await {
        let b = db.backend;
        let server = BinaryServer::start_with(
            &db.url,
            b,
            &[
                ("FHIRDIR_PACKAGES", "example.directory#1.0.0"),
                ("FHIR_PACKAGE_CACHE", &cache_env),
            ],
        )
        .await;
        let client = reqwest::Client::new();
        let create = |name: &str, alias: &str| {
            client
                .post(format!("{}/fhir/default/Organization", server.base))
                .header("content-type", "application/fhir+json")
                .body(
                    json!({"resourceType": "Organization", "name": name, "alias": [alias]})
                        .to_string(),
                )
                .send()
        };
        let created: Value = create("North", "Acme")
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        // Another that the parameter must leave out (an unknown parameter would be ignored
        // and match both; strict handling refuses one).
        create("South", "Other").await.expect("create");
        let bundle: Value = client
            .get(format!(
                "{}/fhir/default/Organization?nickname=acm",
                server.base
            ))
            .header("prefer", "handling=strict")
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        assert_eq!(bundle["total"], json!(1), "[{b}] {bundle}");
        assert_eq!(bundle["entry"][0]["resource"]["id"], created["id"], "[{b}]");
    }

    // A package that is not in the cache stops the start, naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", dir.path().join("x.db").display()))
        .args(["--packages", "example.base#2.0.0"])
        .env("FHIR_PACKAGE_CACHE", &cache)
        .env("FHIRDIR_AUTH", "off")
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("package example.base#2.0.0 is not in the package cache")
            && stderr.contains("fhirdir package install example.base@2.0.0"),
        "{stderr}"
    );
}
