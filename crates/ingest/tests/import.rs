//! `ingest::import_files` on every database `testkit::test_databases()` provides: a generated
//! directory, reruns, bad input with abort and skip, gzip and Bundle files.

use std::io::Write;
use std::path::{Path, PathBuf};

use ingest::{Event, ImportError, ImportOptions, OnError};
use store::{HistoryQuery, HistoryScope, Store, StoreOptions, TenantName};

struct Ctx {
    store: Store,
    be: &'static str,
    _db: testkit::TestDb,
}

async fn stores() -> Vec<Ctx> {
    let mut out = Vec::new();
    for db in testkit::test_databases().await {
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{}] connect: {e}", db.backend));
        out.push(Ctx {
            store,
            be: db.backend,
            _db: db,
        });
    }
    out
}

fn def() -> TenantName {
    TenantName::default_tenant()
}

/// How many versions of `resource_type` the tenant holds.
async fn versions(s: &Store, resource_type: &str) -> u64 {
    let q = HistoryQuery {
        scope: HistoryScope::Type(resource_type.to_owned()),
        since: None,
        at: None,
        count: 1,
        before_seq: None,
    };
    s.history(&def(), &q).await.expect("history").total
}

fn opts(batch_size: usize, on_error: OnError) -> ImportOptions {
    ImportOptions {
        batch_size,
        on_error,
        writers: None,
        registry: None,
        defer_indexes: true,
        validate: None,
    }
}

fn line(id: &str) -> String {
    format!("{{\"resourceType\":\"Practitioner\",\"id\":\"{id}\",\"active\":true}}")
}

#[tokio::test]
async fn a_generated_directory_imports_and_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate::write_ndjson_dir(
        &generate::GenerateOptions { size: 600, seed: 3 },
        dir.path(),
    )
    .unwrap();
    let files: Vec<PathBuf> = generate::TYPE_ORDER
        .iter()
        .map(|t| dir.path().join(format!("{t}.ndjson")))
        .filter(|p| p.exists())
        .collect();
    for Ctx { store: s, be, .. } in stores().await {
        let mut commits = 0;
        let first = ingest::import_files(&s, &def(), &files, &opts(250, OnError::Abort), |e| {
            commits += usize::from(matches!(e, Event::Committed { .. }));
        })
        .await
        .unwrap_or_else(|e| panic!("[{be}] {e}"));
        assert_eq!(first.created, summary.total(), "[{be}]");
        assert_eq!(
            (first.updated, first.unchanged, first.skipped),
            (0, 0, 0),
            "[{be}]"
        );
        assert_eq!(commits as u64, first.batches, "[{be}]");
        assert_eq!(first.batches, summary.total().div_ceil(250), "[{be}]");
        for t in generate::TYPE_ORDER {
            assert_eq!(versions(&s, t).await, summary.count(t), "[{be}] {t}");
        }
        let again = ingest::import_files(&s, &def(), &files, &opts(250, OnError::Abort), |_| {})
            .await
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        assert_eq!(
            again.unchanged,
            summary.total(),
            "[{be}] rerun finds all unchanged"
        );
        for t in generate::TYPE_ORDER {
            assert_eq!(
                versions(&s, t).await,
                summary.count(t),
                "[{be}] {t}: no new versions"
            );
        }
    }
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

fn five_good_then_bad() -> Vec<String> {
    let mut lines: Vec<String> = (1..=5).map(|i| line(&format!("p{i}"))).collect();
    lines.push("{\"resourceType\":\"Practitioner\",\"active\":true}".into());
    lines.push(line("p7"));
    lines
}

#[tokio::test]
async fn abort_stops_at_the_bad_line_and_leaves_its_batch_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_lines(dir.path(), "p.ndjson", &five_good_then_bad());
    for Ctx { store: s, be, .. } in stores().await {
        let r = ingest::import_files(
            &s,
            &def(),
            std::slice::from_ref(&p),
            &opts(2, OnError::Abort),
            |_| {},
        )
        .await;
        let Err(ImportError::Invalid(problem)) = r else {
            panic!("[{be}] expected a problem, got {r:?}")
        };
        assert_eq!(problem.to_string(), format!("{}:6: Practitioner has no id (import keeps the file's ids so that references hold and reruns change nothing)", p.display()), "[{be}]");
        for (id, there) in [("p1", true), ("p4", true), ("p5", false), ("p7", false)] {
            let found = s.read(&def(), "Practitioner", id).await.unwrap().is_some();
            assert_eq!(found, there, "[{be}] {id}: batches before the bad one only");
        }
    }
}

/// With several batches in flight at once, a resource that appears in more than one of them
/// still ends as its last line says, with one version per distinct line, in file order.
#[tokio::test]
async fn with_concurrent_writers_the_later_line_of_a_resource_wins() {
    let dir = tempfile::tempdir().unwrap();
    // Batches of 3: p0 is in batches 1, 2 and 4; every line is a distinct content.
    let lines: Vec<String> = (0..12)
        .map(|i| {
            let id = if i % 3 == 0 && i != 6 { "p0".to_owned() } else { format!("p{i}") };
            format!("{{\"resourceType\":\"Practitioner\",\"id\":\"{id}\",\"name\":[{{\"family\":\"Line{i}\"}}]}}")
        })
        .collect();
    let p = write_lines(dir.path(), "p.ndjson", &lines);
    for Ctx { store: s, be, .. } in stores().await {
        let opts = ImportOptions {
            batch_size: 3,
            on_error: OnError::Abort,
            writers: Some(4),
            registry: None,
            defer_indexes: true,
            validate: None,
        };
        let stats = ingest::import_files(&s, &def(), std::slice::from_ref(&p), &opts, |_| {})
            .await
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        assert_eq!((stats.created, stats.updated), (10, 2), "[{be}]");
        let p0 = s
            .read(&def(), "Practitioner", "p0")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("[{be}] p0 missing"));
        assert_eq!(p0.version, 3, "[{be}] one version per line of p0");
        let body: serde_json::Value =
            serde_json::from_str(p0.body.as_deref().unwrap_or("{}")).unwrap();
        assert_eq!(
            body["name"][0]["family"], "Line9",
            "[{be}] the last line wins"
        );
        assert_eq!(versions(&s, "Practitioner").await, 12, "[{be}]");
    }
}

/// An import indexes with the registry it is given (the CLI passes the tenant's view: built-in,
/// `--profiles`, the tenant's SearchParameters), so a custom parameter finds imported data
/// without waiting for a reindex.
#[tokio::test]
async fn imported_resources_are_indexed_for_the_given_registry() {
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        r#"{"resourceType":"Practitioner","id":"a","birthDate":"1970-01-01","gender":"female"}"#
            .to_owned(),
        r#"{"resourceType":"Practitioner","id":"b","birthDate":"1980-01-01","gender":"male"}"#
            .to_owned(),
    ];
    let p = write_lines(dir.path(), "p.ndjson", &lines);
    let custom = conformance::SearchParamDef::from_resource(&serde_json::json!({
        "resourceType": "SearchParameter", "url": "http://example.org/sp/born",
        "code": "born", "base": ["Practitioner"], "type": "date",
        "expression": "Practitioner.birthDate"
    }))
    .expect("a valid definition");
    let registry = std::sync::Arc::new(conformance::Registry::builtin().extended([&custom]));
    let pairs = [("born".to_owned(), "lt1975".to_owned())];
    let query = search::SearchQuery::parse("Practitioner", &pairs, &registry).expect("parses");
    for Ctx { store: s, be, .. } in stores().await {
        let opts = ImportOptions {
            registry: Some(registry.clone()),
            ..ImportOptions::default()
        };
        ingest::import_files(&s, &def(), std::slice::from_ref(&p), &opts, |_| {})
            .await
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        let page = s
            .search(&def(), &query, &registry, None)
            .await
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        let ids: Vec<&str> = page.matches.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a"], "[{be}]");
    }
}

#[tokio::test]
async fn skip_reports_each_bad_line_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = five_good_then_bad();
    lines.push("not json".into());
    lines.push("{\"resourceType\":\"Nope\",\"id\":\"x\"}".into());
    let p = write_lines(dir.path(), "p.ndjson", &lines);
    for Ctx { store: s, be, .. } in stores().await {
        let mut skipped = Vec::new();
        let stats = ingest::import_files(
            &s,
            &def(),
            std::slice::from_ref(&p),
            &opts(2, OnError::Skip),
            |e| {
                if let Event::Skipped(problem) = e {
                    skipped.push(problem.line);
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{be}] {e}"));
        assert_eq!(skipped, vec![6, 8, 9], "[{be}]");
        assert_eq!((stats.created, stats.skipped), (6, 3), "[{be}]");
        assert!(
            s.read(&def(), "Practitioner", "p7")
                .await
                .unwrap()
                .is_some(),
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn gzip_ndjson_and_bundle_files_import() {
    let dir = tempfile::tempdir().unwrap();
    let gz_path = dir.path().join("a.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..10 {
        writeln!(gz, "{}", line(&format!("g{i}"))).unwrap();
    }
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "Organization/o1", "resource": {"resourceType": "Organization", "id": "o1", "name": "A"}},
            {"resource": {"resourceType": "Location", "id": "l1", "name": "B"}}
        ]
    });
    let bundle_path = dir.path().join("b.json");
    std::fs::write(&bundle_path, serde_json::to_string_pretty(&bundle).unwrap()).unwrap();
    for Ctx { store: s, be, .. } in stores().await {
        let files = [gz_path.clone(), bundle_path.clone()];
        let stats = ingest::import_files(&s, &def(), &files, &opts(4, OnError::Abort), |_| {})
            .await
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        assert_eq!(stats.created, 12, "[{be}]");
        for (t, id) in [
            ("Practitioner", "g9"),
            ("Organization", "o1"),
            ("Location", "l1"),
        ] {
            assert!(
                s.read(&def(), t, id).await.unwrap().is_some(),
                "[{be}] {t}/{id}"
            );
        }
        // Imported resources are indexed: search finds them.
        let registry = conformance::Registry::builtin();
        let pairs = [("name".to_owned(), "b".to_owned())];
        let q = search::SearchQuery::parse("Location", &pairs, &registry).unwrap();
        let page = s.search(&def(), &q, &registry, None).await.unwrap();
        let ids: Vec<String> = page.matches.into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec!["l1"], "[{be}]");
    }
}

#[tokio::test]
async fn unknown_formats_missing_files_and_tenants_fail_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_lines(dir.path(), "p.ndjson", &[line("a")]);
    for Ctx { store: s, be, .. } in stores().await {
        let bad_name = dir.path().join("p.csv");
        let missing = dir.path().join("missing.ndjson");
        for files in [vec![good.clone(), bad_name], vec![good.clone(), missing]] {
            let r =
                ingest::import_files(&s, &def(), &files, &ImportOptions::default(), |_| {}).await;
            assert!(
                matches!(
                    r,
                    Err(ImportError::UnknownFormat(_) | ImportError::File { .. })
                ),
                "[{be}] {r:?}"
            );
        }
        assert!(
            s.read(&def(), "Practitioner", "a").await.unwrap().is_none(),
            "[{be}]"
        );
        let nobody = TenantName::parse("nobody").unwrap();
        let r = ingest::import_files(
            &s,
            &nobody,
            std::slice::from_ref(&good),
            &ImportOptions::default(),
            |_| {},
        )
        .await;
        assert!(
            matches!(
                r,
                Err(ImportError::Store(store::StoreError::UnknownTenant(_)))
            ),
            "[{be}] {r:?}"
        );
    }
}
