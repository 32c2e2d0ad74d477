//! Installing from a registry (npm protocol) served on loopback by the test: the asked
//! package and its dependencies, integrity checked, clear errors, nothing fetched twice.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use base64::Engine;
use packages::{PackageCache, PackageId, Registry};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use support::{search_parameter, tgz};

/// Named things a test registry holds, shared with its handlers.
type Shelf<T> = Arc<Mutex<Vec<(String, T)>>>;

/// A registry: package listings and archives, and every path asked.
#[derive(Clone, Default)]
struct Fake {
    listings: Shelf<Value>,
    archives: Shelf<Vec<u8>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    /// Publishes `bytes` as `name` at `version` with its integrity (or a wrong one).
    fn publish(&self, base: &str, name: &str, version: &str, bytes: Vec<u8>, honest: bool) {
        let file = format!("{name}-{version}.tgz");
        let digest = if honest {
            Sha512::digest(&bytes).to_vec()
        } else {
            Sha512::digest(b"something else").to_vec()
        };
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        let mut listings = self.listings.lock().expect("lock");
        let entry =
            json!({"dist": {"tarball": format!("{base}/-/{file}"), "integrity": integrity}});
        match listings.iter_mut().find(|(n, _)| n == name) {
            Some((_, l)) => {
                l["versions"][version] = entry;
            }
            None => listings.push((
                name.to_owned(),
                json!({"name": name, "dist-tags": {"latest": version}, "versions": {version: entry}}),
            )),
        }
        self.archives.lock().expect("lock").push((file, bytes));
    }
}

async fn listing(State(f): State<Fake>, Path(name): Path<String>) -> impl IntoResponse {
    f.asked.lock().expect("lock").push(name.clone());
    let listings = f.listings.lock().expect("lock");
    match listings.iter().find(|(n, _)| *n == name) {
        Some((_, l)) => (StatusCode::OK, l.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, "{}").into_response(),
    }
}

async fn archive(State(f): State<Fake>, Path(file): Path<String>) -> impl IntoResponse {
    f.asked.lock().expect("lock").push(format!("-/{file}"));
    let archives = f.archives.lock().expect("lock");
    match archives.iter().find(|(n, _)| *n == file) {
        Some((_, b)) => (StatusCode::OK, b.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new()
        .route("/-/{file}", get(archive))
        .route("/{name}", get(listing))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn a_package_is_installed_with_its_dependencies_and_checked() {
    let fake = Fake::default();
    let base = serve(fake.clone()).await;
    let sp = search_parameter("alias");
    fake.publish(
        &base,
        "example.directory",
        "1.0.0",
        tgz(
            "example.directory",
            "1.0.0",
            json!({"example.base": "2.0.0"}),
            &[("SearchParameter-alias.json", &sp)],
        ),
        true,
    );
    fake.publish(
        &base,
        "example.base",
        "2.0.0",
        tgz("example.base", "2.0.0", json!({}), &[]),
        true,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = PackageCache::new(dir.path());
    let registry = Registry::new(&base).expect("registry");
    let done = registry
        .install(&cache, "example.directory", "1.0.0")
        .await
        .expect("installs");
    let ids: Vec<String> = done.iter().map(|d| d.id.to_string()).collect();
    assert_eq!(ids, ["example.directory#1.0.0", "example.base#2.0.0"]);
    assert_eq!(
        cache.list().expect("list"),
        vec![
            PackageId::parse("example.base#2.0.0").expect("id"),
            PackageId::parse("example.directory#1.0.0").expect("id"),
        ]
    );
    assert!(dir
        .path()
        .join("example.directory#1.0.0/package/SearchParameter-alias.json")
        .is_file());

    // Installed already: the registry is not asked again.
    let before = fake.asked.lock().expect("lock").len();
    let again = registry
        .install(&cache, "example.directory", "1.0.0")
        .await
        .expect("again");
    assert!(again.is_empty());
    assert_eq!(fake.asked.lock().expect("lock").len(), before);

    // `latest` is the registry's dist-tag.
    let other = tempfile::tempdir().expect("tempdir");
    let done = registry
        .install(&PackageCache::new(other.path()), "example.base", "latest")
        .await
        .expect("latest");
    assert_eq!(done[0].id.to_string(), "example.base#2.0.0");
}

#[tokio::test]
async fn registry_failures_are_errors_that_say_what_and_install_nothing() {
    let fake = Fake::default();
    let base = serve(fake.clone()).await;
    fake.publish(
        &base,
        "example.tampered",
        "1.0.0",
        tgz("example.tampered", "1.0.0", json!({}), &[]),
        false,
    );
    fake.publish(
        &base,
        "example.liar",
        "1.0.0",
        tgz("example.other", "1.0.0", json!({}), &[]),
        true,
    );
    fake.publish(
        &base,
        "example.broken-dep",
        "1.0.0",
        tgz(
            "example.broken-dep",
            "1.0.0",
            json!({"example.missing": "1.0.0"}),
            &[],
        ),
        true,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = PackageCache::new(dir.path());
    let registry = Registry::new(&base).expect("registry");
    for (name, version, says) in [
        ("example.tampered", "1.0.0", "does not match its integrity"),
        (
            "example.tampered",
            "9.9.9",
            "has no version 9.9.9 (versions: 1.0.0)",
        ),
        ("example.unknown", "1.0.0", "404"),
        ("example.liar", "1.0.0", "holds example.other#1.0.0"),
        ("Bad/Name", "1.0.0", "not a package name"),
        ("example.broken-dep", "1.0.0", "example.missing"),
    ] {
        let err = registry
            .install(&cache, name, version)
            .await
            .expect_err(name)
            .to_string();
        assert!(err.contains(says), "{name}@{version}: {err}");
    }
    // Only the package whose own archive was sound is there (its dependency is not); the
    // archive that held another package than asked is not.
    let ids: Vec<String> = cache
        .list()
        .expect("list")
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ids, ["example.broken-dep#1.0.0"]);
    assert!(Registry::new("ftp://x").is_err());
}
