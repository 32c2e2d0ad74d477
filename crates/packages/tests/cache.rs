//! The package cache: archives unpacked as `name#version/package/`, listed, never written
//! outside the cache, and a bad archive leaves nothing behind.

mod support;

use packages::{PackageCache, PackageId};
use serde_json::json;
use support::{raw_tgz, search_parameter, tgz};

#[test]
fn an_archive_is_installed_under_its_name_and_version_and_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = PackageCache::new(dir.path().join("packages"));
    assert_eq!(cache.list().expect("empty list"), vec![]);
    let archive = tgz(
        "example.directory",
        "1.0.0",
        json!({"hl7.fhir.r4.core": "4.0.1"}),
        &[
            ("SearchParameter-alias.json", &search_parameter("alias")),
            ("example/Organization-x.json", b"{}"),
        ],
    );
    let done = cache.install_tgz(&archive, "x.tgz").expect("installs");
    let id = PackageId::parse("example.directory#1.0.0").expect("id");
    assert_eq!(done.id, id);
    assert!(done.new);
    assert_eq!(
        done.dependencies,
        vec![PackageId::parse("hl7.fhir.r4.core#4.0.1").expect("id")]
    );
    let root = dir.path().join("packages/example.directory#1.0.0/package");
    assert!(root.join("package.json").is_file());
    assert!(root.join("SearchParameter-alias.json").is_file());
    assert!(root.join("example/Organization-x.json").is_file());
    assert!(cache.contains(&id));
    assert_eq!(cache.list().expect("list"), vec![id.clone()]);
    assert_eq!(cache.dependencies(&id).expect("deps"), done.dependencies);
    // Again: kept as it was, and nothing is left of the second unpacking.
    let again = cache.install_tgz(&archive, "x.tgz").expect("again");
    assert!(!again.new);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("packages"))
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["example.directory#1.0.0".to_owned()]);
}

#[test]
fn bad_archives_are_refused_naming_the_archive_and_leave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = PackageCache::new(dir.path());
    let manifest = |v: serde_json::Value| serde_json::to_vec(&v).expect("json");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("plain.tgz", b"not an archive".to_vec(), "not a gzipped tar"),
        (
            "nomanifest.tgz",
            raw_tgz(&[("package/x.json".into(), b"{}".to_vec())]),
            "no package/package.json",
        ),
        (
            "noversion.tgz",
            raw_tgz(&[(
                "package/package.json".into(),
                manifest(json!({"name": "a.b"})),
            )]),
            "no version",
        ),
        (
            "badname.tgz",
            raw_tgz(&[(
                "package/package.json".into(),
                manifest(json!({"name": "../up", "version": "1.0.0"})),
            )]),
            "not a package name",
        ),
        (
            "escape.tgz",
            raw_tgz(&[
                (
                    "package/package.json".into(),
                    manifest(json!({"name": "a.b", "version": "1.0.0"})),
                ),
                ("package/../../evil.json".into(), b"{}".to_vec()),
            ]),
            "outside the package",
        ),
    ];
    for (name, bytes, says) in cases {
        let err = cache.install_tgz(&bytes, name).expect_err(name).to_string();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    assert!(!dir.path().join("evil.json").exists());
    assert!(!dir
        .path()
        .parent()
        .expect("parent")
        .join("evil.json")
        .exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read").collect();
    assert!(left.is_empty(), "nothing left in the cache: {left:?}");
    assert_eq!(cache.list().expect("list"), vec![]);
}
