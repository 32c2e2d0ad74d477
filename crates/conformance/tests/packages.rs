//! Loading SearchParameters from files: folders of JSON files, FHIR package folders and
//! `.tgz` packages (built here in a temporary directory), errors that name the file, and the
//! official Plan-Net package from `../shared/fhir`.

use std::path::Path;

use conformance::package::{load_dir, load_package_dir, load_package_tgz, load_path};
use conformance::{BuiltinSource, ConformanceError, Registry, SearchParamType};
use serde_json::{json, Value};

fn sp(url: &str, code: &str, base: &str, expression: &str) -> Value {
    json!({
        "resourceType": "SearchParameter",
        "url": url,
        "name": code,
        "status": "active",
        "description": "test",
        "code": code,
        "base": [base],
        "type": "string",
        "expression": expression
    })
}

fn write(path: &Path, v: &Value) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, serde_json::to_vec_pretty(v).expect("json")).expect("write");
}

fn manifest() -> Value {
    json!({"name": "example.fhir.test", "version": "0.1.0", "fhirVersions": ["4.0.1"]})
}

/// A `.tgz` package with `files` (name under `package/`, content).
fn build_tgz(path: &Path, files: &[(&str, Vec<u8>)]) {
    let file = std::fs::File::create(path).expect("create tgz");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{name}"), bytes.as_slice())
            .expect("append");
    }
    tar.into_inner()
        .expect("tar")
        .finish()
        .expect("gzip finish");
}

fn codes(loaded: &[conformance::LoadedParam]) -> Vec<String> {
    loaded.iter().map(|p| p.def.code.clone()).collect()
}

#[test]
fn a_folder_of_json_files_yields_its_search_parameters_in_name_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("b.json"),
        &sp("http://x/b", "bee", "Organization", "Organization.name"),
    );
    write(
        &dir.path().join("a.json"),
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": sp("http://x/a1", "aye", "Location", "Location.name")},
            {"resource": {"resourceType": "ValueSet", "url": "http://x/vs"}},
            {"resource": sp("http://x/a2", "ayetoo", "Location", "Location.alias")}
        ]}),
    );
    write(
        &dir.path().join("sub/c.json"),
        &sp("http://x/c", "sea", "Endpoint", "Endpoint.name"),
    );
    write(
        &dir.path().join("vs.json"),
        &json!({"resourceType": "ValueSet", "url": "http://x/vs2"}),
    );
    std::fs::write(dir.path().join("README.md"), "not a resource").expect("readme");

    let loaded = load_dir(dir.path()).expect("loads");
    assert_eq!(codes(&loaded), ["aye", "ayetoo", "bee", "sea"]);
    assert!(loaded[2].source.ends_with("b.json"), "{}", loaded[2].source);
}

#[test]
fn an_empty_profiles_folder_with_a_readme_yields_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("README.md"), "# profiles").expect("readme");
    assert_eq!(load_dir(dir.path()).expect("loads"), Vec::new());
}

#[test]
fn a_package_folder_reads_its_top_level_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pkg = dir.path().join("example.fhir.test");
    write(&pkg.join("package/package.json"), &manifest());
    write(
        &pkg.join("package/SearchParameter-one.json"),
        &sp("http://x/one", "one", "Practitioner", "Practitioner.gender"),
    );
    write(
        &pkg.join("package/example/SearchParameter-example.json"),
        &sp(
            "http://x/ex",
            "example",
            "Practitioner",
            "Practitioner.name",
        ),
    );
    write(&pkg.join("package/.index.json"), &json!({"files": []}));
    let loaded = load_package_dir(&pkg).expect("loads");
    assert_eq!(codes(&loaded), ["one"]);
    // A profiles folder recognises the package folder inside it.
    assert_eq!(codes(&load_dir(dir.path()).expect("loads")), ["one"]);
}

#[test]
fn a_tgz_package_yields_its_search_parameters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("example.fhir.test-0.1.0.tgz");
    let bytes = |v: Value| serde_json::to_vec(&v).expect("json");
    build_tgz(
        &path,
        &[
            ("package.json", bytes(manifest())),
            (
                "SearchParameter-two.json",
                bytes(sp("http://x/two", "two", "Location", "Location.name")),
            ),
            (
                "StructureDefinition-x.json",
                bytes(json!({"resourceType": "StructureDefinition", "url": "http://x/sd"})),
            ),
            (
                "example/SearchParameter-ex.json",
                bytes(sp("http://x/ex", "ex", "Location", "Location.name")),
            ),
        ],
    );
    let loaded = load_package_tgz(&path).expect("loads");
    assert_eq!(codes(&loaded), ["two"]);
    assert!(
        loaded[0]
            .source
            .ends_with("example.fhir.test-0.1.0.tgz!package/SearchParameter-two.json"),
        "{}",
        loaded[0].source
    );
    assert_eq!(codes(&load_path(&path).expect("loads")), ["two"]);
    assert_eq!(codes(&load_dir(dir.path()).expect("loads")), ["two"]);

    let registry = Registry::builtin().extended(loaded.iter().map(|p| &p.def));
    let two = registry.get("Location", "two").expect("extended");
    assert_eq!(two.kind, SearchParamType::String);
    assert!(Registry::builtin().get("Location", "two").is_none());
}

#[test]
fn invalid_files_fail_with_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = |v: Value| serde_json::to_vec(&v).expect("json");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("broken.json", b"{ not json".to_vec(), "not valid JSON"),
        ("nort.json", bytes(json!({"url": "x"})), "no resourceType"),
        (
            "badexpr.json",
            bytes(sp(
                "http://x/bad",
                "bad",
                "Location",
                "Location.name.where(",
            )),
            "SearchParameter.expression",
        ),
        (
            "badbase.json",
            bytes(sp("http://x/bad", "bad", "Locaton", "Locaton.name")),
            "SearchParameter.base",
        ),
    ];
    for (name, content, want) in cases {
        let case = dir.path().join(name.trim_end_matches(".json"));
        std::fs::create_dir_all(&case).expect("mkdir");
        std::fs::write(case.join(name), &content).expect("write");
        let err = load_dir(&case).expect_err(name);
        let ConformanceError::Load { path, message } = &err else {
            panic!("{name}: unexpected error {err:?}");
        };
        assert!(path.ends_with(name), "{name}: {err}");
        assert!(message.contains(want), "{name}: {err}");
    }

    // Inside an archive the error names the archive and the entry.
    let tgz = dir.path().join("bad.tgz");
    build_tgz(
        &tgz,
        &[
            ("package.json", bytes(manifest())),
            ("SearchParameter-bad.json", b"[1,".to_vec()),
        ],
    );
    let err = load_package_tgz(&tgz).expect_err("bad entry").to_string();
    assert!(
        err.contains("bad.tgz!package/SearchParameter-bad.json"),
        "{err}"
    );
    let no_manifest = dir.path().join("nomanifest.tgz");
    build_tgz(&no_manifest, &[("x.json", bytes(json!({})))]);
    let err = load_package_tgz(&no_manifest)
        .expect_err("no manifest")
        .to_string();
    assert!(err.contains("package/package.json"), "{err}");
    let not_gz = dir.path().join("text.tgz");
    std::fs::write(&not_gz, "plain text").expect("write");
    let err = load_path(&not_gz).expect_err("not gzip").to_string();
    assert!(err.contains("text.tgz"), "{err}");
    let err = load_path(&dir.path().join("missing")).expect_err("missing");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn the_official_plan_net_package_folder_loads_the_builtin_definitions() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let loaded = load_package_dir(&shared.join("plan-net/1.2.0")).expect("Plan-Net loads");
    assert_eq!(loaded.len(), 55);
    let builtin = BuiltinSource::PlanNet.params();
    for p in &loaded {
        let b = builtin
            .iter()
            .find(|b| b.url == p.def.url)
            .unwrap_or_else(|| panic!("{} is not built in", p.def.url));
        assert_eq!(b.code, p.def.code, "{}", p.def.url);
        assert_eq!(b.base, p.def.base, "{}", p.def.url);
        assert_eq!(b.kind, p.def.kind, "{}", p.def.url);
    }
}

#[test]
fn the_official_r4_core_search_parameter_bundle_loads_every_definition() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let loaded =
        load_path(&shared.join("r4-core/search-parameters.json")).expect("R4 core bundle loads");
    assert_eq!(loaded.len(), 1375);
    // Types fhirdir does not build in become searchable once the bundle is loaded.
    assert!(Registry::builtin().get("Patient", "birthdate").is_none());
    let registry = Registry::builtin().extended(loaded.iter().map(|p| &p.def));
    let birthdate = registry.get("Patient", "birthdate").expect("loaded");
    assert_eq!(birthdate.kind, SearchParamType::Date);
}

/// Every SearchParameter of the directory guides in `../shared/fhir` loads, including a
/// `target` of `Resource` (NDH's and VHDir's `verificationresult-target`: any type).
#[test]
fn every_search_parameter_of_the_directory_guides_loads() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    for (folder, count) in [
        ("plan-net/1.1.0", 51),
        ("plan-net/1.2.0", 55),
        ("ndh/1.0.0-sushi-compiled", 77),
        ("vhdir", 144),
    ] {
        // As `--profiles` takes it: a package folder, or a folder of JSON files.
        let loaded = load_path(&shared.join(folder)).unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert_eq!(loaded.len(), count, "{folder}");
    }
    let ndh = load_path(&shared.join("ndh/1.0.0-sushi-compiled")).expect("NDH loads");
    let target = ndh
        .iter()
        .find(|p| p.def.code == "target" && p.def.base == ["VerificationResult"])
        .expect("verificationresult-target");
    assert_eq!(target.def.target, ["Resource"]);
}

/// The definitions validation uses, named as the FHIR tooling names packages: from
/// `package.json` (Plan-Net), from the ImplementationGuide of a folder without one (NDH), or
/// not at all (VHDir's loose source files); with their dependencies.
#[test]
fn definitions_load_with_their_package_names_and_dependencies() {
    use conformance::package::load_definitions;
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let count = |p: &conformance::DefinitionPackage, t: &str| {
        p.resources
            .iter()
            .filter(|r| r["resourceType"] == t)
            .count()
    };
    let pn = load_definitions(&shared.join("plan-net/1.2.0")).expect("Plan-Net loads");
    assert_eq!(pn.len(), 1);
    assert_eq!(
        pn[0].id.as_deref(),
        Some("hl7.fhir.us.davinci-pdex-plan-net#1.2.0")
    );
    assert!(pn[0]
        .dependencies
        .contains(&"hl7.fhir.us.core.v311#3.1.1".to_owned()));
    assert_eq!(count(&pn[0], "StructureDefinition"), 22);
    assert_eq!(count(&pn[0], "ValueSet"), 24);
    let ndh = load_definitions(&shared.join("ndh/1.0.0-sushi-compiled")).expect("NDH loads");
    assert_eq!(ndh.len(), 1);
    assert_eq!(ndh[0].id.as_deref(), Some("hl7.fhir.us.ndh#1.0.0"));
    assert!(ndh[0]
        .dependencies
        .contains(&"hl7.fhir.us.core#6.1.0".to_owned()));
    // Definitions only: the examples in the same folder are left out.
    assert_eq!(count(&ndh[0], "StructureDefinition"), 79);
    assert_eq!(count(&ndh[0], "Organization"), 0);
    let vhdir = load_definitions(&shared.join("vhdir/ig-resources")).expect("VHDir loads");
    assert_eq!(vhdir.len(), 1);
    assert_eq!(vhdir[0].id, None);
    assert_eq!(count(&vhdir[0], "StructureDefinition"), 35);
}
