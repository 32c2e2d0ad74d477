//! `fhirdir import` end to end: the binary is run against every database
//! `testkit::test_databases()` provides, and the result is read back through the store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use store::{HistoryQuery, HistoryScope, Scope, Store, StoreOptions, TenantName, Viewer};

fn fhirdir(url: &str, args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .arg("import")
        .args(["--database", url])
        .args(args)
        .args(files)
        .env_remove("FHIRDIR_DATABASE_URL")
        .env_remove("FHIRDIR_CONFIG")
        .output()
        .expect("run fhirdir")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn open(url: &str) -> Store {
    Store::connect(url, &StoreOptions::default())
        .await
        .expect("connect")
}

/// How many versions of `resource_type` tenant `default` holds.
async fn versions(s: &Store, resource_type: &str) -> u64 {
    let q = HistoryQuery {
        scope: HistoryScope::Type(resource_type.to_owned()),
        since: None,
        at: None,
        count: 1,
        before_seq: None,
    };
    s.history(&TenantName::default_tenant(), &q)
        .await
        .expect("history")
        .total
}

async fn exists(s: &Store, resource_type: &str, id: &str) -> bool {
    s.read(&TenantName::default_tenant(), resource_type, id)
        .await
        .expect("read")
        .is_some()
}

fn practitioner(id: &str) -> String {
    format!("{{\"resourceType\":\"Practitioner\",\"id\":\"{id}\",\"active\":true}}")
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("write");
    p
}

#[tokio::test]
async fn import_loads_a_generated_directory_and_a_rerun_adds_no_versions() {
    let dir = tempfile::tempdir().unwrap();
    let opts = generate::GenerateOptions {
        size: 2_000,
        seed: 7,
    };
    let summary = generate::write_ndjson_dir(&opts, dir.path()).unwrap();
    let files: Vec<PathBuf> = generate::TYPE_ORDER
        .iter()
        .map(|t| dir.path().join(format!("{t}.ndjson")))
        .filter(|p| p.exists())
        .collect();
    for db in testkit::test_databases().await {
        let be = db.backend;
        let out = fhirdir(
            &db.url,
            &["--tenant", "default", "--batch-size", "300"],
            &files,
        );
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "[{be}] {}", text(&out.stderr));
        let want = format!("imported {} resources in ", summary.total());
        assert!(stdout.starts_with(&want), "[{be}] {stdout:?}");
        assert!(
            stdout.trim_end().ends_with(" resources/s)"),
            "[{be}] {stdout:?}"
        );
        let s = open(&db.url).await;
        for t in generate::TYPE_ORDER {
            assert_eq!(versions(&s, t).await, summary.count(t), "[{be}] {t}");
        }
        // The tenant was empty: its index is this binary's, so a server will not rebuild it.
        let recorded = s
            .indexed_search_params(&TenantName::default_tenant())
            .await
            .expect("record");
        assert_eq!(
            recorded.get(search::INDEX_FORMAT_URL).map(String::as_str),
            Some(search::index_format()),
            "[{be}] {recorded:?}"
        );

        let again = fhirdir(&db.url, &["--tenant", "default"], &files);
        assert!(again.status.success(), "[{be}] {}", text(&again.stderr));
        let stderr = text(&again.stderr);
        assert!(
            stderr.contains(&format!(
                "0 created, 0 updated, {} unchanged",
                summary.total()
            )),
            "[{be}] {stderr}"
        );
        for t in generate::TYPE_ORDER {
            assert_eq!(
                versions(&s, t).await,
                summary.count(t),
                "[{be}] {t}: a rerun adds no versions"
            );
        }
        s.close().await;
    }
}

#[tokio::test]
async fn a_bad_line_aborts_with_its_file_and_line_and_its_batch_is_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (1..=5).map(|i| practitioner(&format!("p{i}"))).collect();
    lines.push("{\"resourceType\":\"Practitioner\",\"id\":\"bad id\"}".into());
    lines.push(practitioner("p7"));
    let file = write_lines(dir.path(), "Practitioner.ndjson", &lines);
    for db in testkit::test_databases().await {
        let be = db.backend;
        let out = fhirdir(
            &db.url,
            &["--tenant", "default", "--batch-size", "2"],
            std::slice::from_ref(&file),
        );
        assert!(!out.status.success(), "[{be}] must fail");
        let stderr = text(&out.stderr);
        let want = format!("{}:6: Practitioner: invalid id \"bad id\"", file.display());
        assert!(stderr.contains(&want), "[{be}] {stderr}");
        let s = open(&db.url).await;
        for (id, there) in [("p1", true), ("p4", true), ("p5", false), ("p7", false)] {
            assert_eq!(exists(&s, "Practitioner", id).await, there, "[{be}] {id}");
        }
        s.close().await;
    }
}

#[tokio::test]
async fn on_error_skip_reports_bad_lines_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        practitioner("a"),
        "{\"resourceType\":\"Practitioner\"".into(),
        "[]".into(),
        practitioner("b"),
    ];
    let file = write_lines(dir.path(), "Practitioner.ndjson", &lines);
    for db in testkit::test_databases().await {
        let be = db.backend;
        let out = fhirdir(
            &db.url,
            &["--tenant", "default", "--on-error", "skip"],
            std::slice::from_ref(&file),
        );
        assert!(out.status.success(), "[{be}] {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        for line in [2, 3] {
            let at = format!("{}:{line}: ", file.display());
            assert!(
                stderr.contains(&at),
                "[{be}] line {line} reported: {stderr}"
            );
        }
        assert!(
            text(&out.stdout).starts_with("imported 2 resources"),
            "[{be}]"
        );
        let s = open(&db.url).await;
        assert!(exists(&s, "Practitioner", "b").await, "[{be}]");
        s.close().await;
    }
}

#[tokio::test]
async fn gzip_ndjson_and_bundle_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let gz_path = dir.path().join("Practitioner.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..25 {
        writeln!(gz, "{}", practitioner(&format!("z{i}"))).unwrap();
    }
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Organization", "id": "org1", "name": "Acme"}},
            {"resource": {"resourceType": "Location", "id": "loc1", "name": "Main"}}
        ]
    });
    let bundle_path = dir.path().join("bundle.json");
    std::fs::write(&bundle_path, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    for db in testkit::test_databases().await {
        let be = db.backend;
        let files = [gz_path.clone(), bundle_path.clone()];
        let out = fhirdir(&db.url, &["--tenant", "default"], &files);
        assert!(out.status.success(), "[{be}] {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("imported 27 resources"),
            "[{be}]"
        );
        let s = open(&db.url).await;
        for (t, id) in [
            ("Practitioner", "z24"),
            ("Organization", "org1"),
            ("Location", "loc1"),
        ] {
            assert!(exists(&s, t, id).await, "[{be}] {t}/{id}");
        }
        s.close().await;
    }
}

#[tokio::test]
async fn an_unknown_tenant_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_lines(dir.path(), "p.ndjson", &[practitioner("a")]);
    let db = testkit::sqlite_db();
    let out = fhirdir(
        &db.url,
        &["--tenant", "nobody"],
        std::slice::from_ref(&file),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tenant nobody does not exist"),
        "{}",
        text(&out.stderr)
    );
}

/// A file holding two versions of one restricted resource imports both (one batch), and the
/// resource stays hidden from anonymous callers as its last version says, in searches too.
#[tokio::test]
async fn two_versions_of_a_restricted_resource_in_one_file_import() {
    let dir = tempfile::tempdir().unwrap();
    let restricted = |name: &str| {
        serde_json::json!({
            "resourceType": "Practitioner", "id": "hidden", "name": [{"family": name}],
            "extension": [{
                "url": "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-usage-restriction",
                "valueReference": {"reference": "#r"}}],
            "contained": [{"resourceType": "Consent", "id": "r", "status": "active",
                "scope": {"coding": [{"code": "patient-privacy"}]},
                "category": [{"coding": [{"code": "59284-0"}]}]}]
        })
        .to_string()
    };
    let lines = vec![restricted("First"), restricted("Second")];
    let file = write_lines(dir.path(), "Practitioner.ndjson", &lines);
    for db in testkit::test_databases().await {
        let be = db.backend;
        let out = fhirdir(
            &db.url,
            &["--tenant", "default"],
            std::slice::from_ref(&file),
        );
        assert!(out.status.success(), "[{be}] {}", text(&out.stderr));
        let s = open(&db.url).await;
        assert_eq!(versions(&s, "Practitioner").await, 2, "[{be}]");
        let tenant = TenantName::default_tenant();
        let all = s
            .read(&tenant, "Practitioner", "hidden")
            .await
            .expect("read");
        let body = all.and_then(|r| r.body).expect("fhirdir itself sees it");
        assert!(body.contains("Second"), "[{be}] {body}");
        let anonymous = Scope::viewing(&tenant, Viewer::Anonymous);
        let seen = s
            .read(anonymous, "Practitioner", "hidden")
            .await
            .expect("read");
        assert!(seen.is_none(), "[{be}] hidden from anonymous callers");
        // Nor found by its values, nor counted.
        let registry = conformance::Registry::builtin();
        let pairs =
            [("family", "Second"), ("_total", "accurate")].map(|(n, v)| (n.into(), v.into()));
        let q = search::SearchQuery::parse("Practitioner", &pairs, &registry).expect("query");
        let page = s
            .search(anonymous, &q, &registry, None)
            .await
            .expect("search");
        assert_eq!((page.matches.len(), page.total), (0, Some(0)), "[{be}]");
        let page = s
            .search(&tenant, &q, &registry, None)
            .await
            .expect("search");
        assert_eq!((page.matches.len(), page.total), (1, Some(1)), "[{be}]");
        s.close().await;
    }
}

#[tokio::test]
async fn a_tenant_that_enforces_validation_gets_only_valid_resources() {
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        practitioner("ok1"),
        "{\"resourceType\":\"Practitioner\",\"id\":\"bad\",\"gender\":\"robot\"}".into(),
        practitioner("ok2"),
    ];
    let file = write_lines(dir.path(), "Practitioner.ndjson", &lines);
    let package = gender_package(dir.path());
    for db in testkit::test_databases().await {
        let be = db.backend;
        let s = open(&db.url).await;
        // Warn (the default): everything is imported.
        let out = fhirdir(
            &db.url,
            &["--tenant", "default"],
            std::slice::from_ref(&file),
        );
        assert!(out.status.success(), "[{be}] {}", text(&out.stderr));
        assert!(exists(&s, "Practitioner", "bad").await, "[{be}]");
        // Enforce: the invalid line is a problem of its file and line.
        let t = TenantName::default_tenant();
        s.set_tenant_setting(&t, "validation", "{\"mode\":\"enforce\"}")
            .await
            .unwrap();
        let bad = write_lines(
            dir.path(),
            "More.ndjson",
            &[
                practitioner("ok3"),
                "{\"resourceType\":\"Practitioner\",\"id\":\"bad2\",\"gender\":\"robot\"}".into(),
            ],
        );
        let out = fhirdir(
            &db.url,
            &["--tenant", "default"],
            std::slice::from_ref(&bad),
        );
        assert!(!out.status.success(), "[{be}] abort exits non-zero");
        let stderr = text(&out.stderr);
        let at = format!("{}:2: ", bad.display());
        assert!(stderr.contains(&at), "[{be}] {stderr}");
        assert!(stderr.contains("Practitioner.gender"), "[{be}] {stderr}");
        assert!(!exists(&s, "Practitioner", "bad2").await, "[{be}]");
        let out = fhirdir(
            &db.url,
            &["--tenant", "default", "--on-error", "skip"],
            std::slice::from_ref(&bad),
        );
        assert!(out.status.success(), "[{be}] {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(&at),
            "[{be}] the skipped line is printed"
        );
        assert!(exists(&s, "Practitioner", "ok3").await, "[{be}]");
        assert!(!exists(&s, "Practitioner", "bad2").await, "[{be}]");
        // The tenant's packages and required profiles, as the server applies them: the
        // package comes from --profiles (or the package cache), as `serve` reads it.
        s.set_tenant_setting(
            &t,
            "validation",
            &json!({"mode": "enforce", "packages": ["example.directory#1.0.0"],
                    "require_profiles": {"Practitioner": [GENDER_PROFILE]}})
            .to_string(),
        )
        .await
        .unwrap();
        let genderless = write_lines(
            dir.path(),
            "Genderless.ndjson",
            &["{\"resourceType\":\"Practitioner\",\"id\":\"nogender\"}".into()],
        );
        let out = fhirdir(
            &db.url,
            &[
                "--tenant",
                "default",
                "--profiles",
                &package.display().to_string(),
            ],
            std::slice::from_ref(&genderless),
        );
        assert!(!out.status.success(), "[{be}] refused");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("{}:1: ", genderless.display()))
                && stderr.contains("`gender`")
                && stderr.contains(GENDER_PROFILE),
            "[{be}] {stderr}"
        );
        assert!(!exists(&s, "Practitioner", "nogender").await, "[{be}]");
        // What a loaded package's profiles need but nobody loaded is said as it loads: NDH's
        // US Core bases.
        if let Some(shared) = testkit::shared_fhir() {
            let ndh = shared.join("ndh/1.0.0-sushi-compiled");
            let out = fhirdir(
                &db.url,
                &[
                    "--tenant",
                    "default",
                    "--profiles",
                    &ndh.display().to_string(),
                ],
                std::slice::from_ref(&file),
            );
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("ndh-Organization")
                    && stderr.contains("us-core-organization|6.1.0 is not loaded"),
                "[{be}] {stderr}"
            );
        }
        s.close().await;
    }
}

const GENDER_PROFILE: &str = "http://example.org/fhir/StructureDefinition/with-gender";

/// A package folder holding one profile: Practitioner.gender required.
fn gender_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("with-gender");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        json!({"name": "example.directory", "version": "1.0.0"}).to_string(),
    )
    .unwrap();
    let profile = json!({
        "resourceType": "StructureDefinition", "url": GENDER_PROFILE, "name": "WithGender",
        "status": "active", "kind": "resource", "abstract": false, "type": "Practitioner",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Practitioner",
        "derivation": "constraint",
        "differential": {"element": [
            {"id": "Practitioner.gender", "path": "Practitioner.gender", "min": 1}
        ]}
    });
    std::fs::write(
        pkg.join("StructureDefinition-with-gender.json"),
        profile.to_string(),
    )
    .unwrap();
    pkg
}
