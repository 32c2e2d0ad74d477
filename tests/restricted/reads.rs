//! Read, vread and history: a resource hidden from a caller answers exactly as an id that does
//! not exist; one with hidden elements comes redacted, with the stored version's ETag.

use serde_json::Value;

use crate::common::{link, test_databases, Resp};
use crate::fixture::{fixture, redacted, Fixture};

/// `(resource, callers it admits)` for the resources restricted as a whole.
const WHOLE: &[(&str, &[&str])] = &[
    // No provision: any authenticated client (NDH tiered access).
    (
        "Organization/MilitaryHealthcareOrganization",
        &["stranger", "blue", "green", "privileged"],
    ),
    // Only a deny, for an actor named by display: see_restricted clients only.
    ("Location/LocationWomenShelterAll", &["privileged"]),
    // A permit for Organization/blue.
    ("Organization/BlueOnly", &["blue", "privileged"]),
    // Permits blue and green, denies green: the deny wins.
    ("Organization/BlueNotGreen", &["blue", "privileged"]),
];

/// The answer's diagnostics with `id` replaced, to compare with a missing id's.
fn diagnostics(resp: &Resp, id: &str) -> String {
    resp.json()["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .replace(id, "{id}")
}

/// Asserts that `path` (containing `target`) answers `as_missing` as it answers for the missing
/// id `Nope` in its place: status, issue code, diagnostics, no ETag.
async fn same_as_missing(f: &Fixture, who: &str, token: Option<&str>, path: &str, id: &str) {
    let hidden = f.get(token, path).await;
    let missing = f.get(token, &path.replace(id, "Nope")).await;
    assert_eq!(
        hidden.code,
        missing.code,
        "{who}: {}: {}",
        hidden.what,
        hidden.text()
    );
    assert_eq!(hidden.code, 404, "{who}: {}", hidden.what);
    assert_eq!(
        hidden.json()["issue"][0]["code"],
        missing.json()["issue"][0]["code"]
    );
    assert_eq!(
        diagnostics(&hidden, id),
        diagnostics(&missing, "Nope"),
        "{who}: {}",
        hidden.what
    );
    assert!(hidden.header("etag").is_none(), "{who}: {}", hidden.what);
}

#[tokio::test]
async fn a_resource_hidden_from_a_caller_reads_as_an_id_that_does_not_exist() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        for (target, admits) in WHOLE {
            let id = target.split('/').nth(1).expect("id");
            for (who, token) in f
                .all()
                .into_iter()
                .chain([("green", Some(f.who.green.as_str()))])
            {
                let twin = f.get(token, &format!("{target}Twin")).await.status(200);
                assert_eq!(twin.json()["id"], format!("{id}Twin"));
                if admits.contains(&who) {
                    let r = f.get(token, target).await.status(200);
                    assert_eq!(r.json()["id"], id, "{who}");
                    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""), "{who}");
                    assert!(!redacted(&r.json()), "{who}: {target} is whole");
                    f.get(token, &format!("{target}/_history/1"))
                        .await
                        .status(200);
                    let h = f
                        .get(token, &format!("{target}/_history"))
                        .await
                        .status(200);
                    assert_eq!(h.json()["total"], 1, "{who}: {target}");
                } else {
                    same_as_missing(&f, who, token, target, id).await;
                    same_as_missing(&f, who, token, &format!("{target}/_history/1"), id).await;
                    let h = f.get(token, &format!("{target}/_history")).await;
                    let m = f
                        .get(token, &format!("{}/_history", target.replace(id, "Nope")))
                        .await;
                    assert_eq!((h.code, m.code), (m.code, m.code), "{who}: {}", h.what);
                    if h.code == 200 {
                        assert_eq!(h.json()["total"], 0, "{who}: {}", h.what);
                        assert_eq!(h.json()["total"], m.json()["total"]);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn hidden_elements_are_removed_and_labelled_with_the_stored_etag() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let path = "Location/LocationWomenShelter";
        let whole = f.get(Some(&f.who.privileged), path).await.status(200);
        let body = whole.json();
        assert_eq!(body["address"]["city"], "Ann Arbor");
        assert!(!redacted(&body));
        for (who, token) in f.all().into_iter().filter(|(w, _)| *w != "privileged") {
            let r = f.get(token, path).await.status(200);
            let b = r.json();
            assert!(b.get("address").is_none(), "{who}: {b}");
            assert!(b.get("telecom").is_none(), "{who}: {b}");
            assert!(!r.text().contains("Washtenaw"), "{who}: the street leaks");
            assert!(redacted(&b), "{who}: no REDACTED label");
            assert_eq!(b["name"], body["name"], "{who}: visible elements stay");
            assert_eq!(
                b["contained"], body["contained"],
                "{who}: the Restriction stays"
            );
            assert_eq!(r.header("etag"), whole.header("etag"), "{who}");
            assert_eq!(b["meta"]["versionId"], body["meta"]["versionId"], "{who}");
            // The twin is whole for everyone.
            let t = f
                .get(token, "Location/LocationWomenShelterTwin")
                .await
                .status(200);
            assert_eq!(t.json()["address"]["city"], "Ann Arbor", "{who}");
            assert!(!redacted(&t.json()));
            // vread and history redact the same way.
            let v = f
                .get(token, &format!("{path}/_history/1"))
                .await
                .status(200);
            assert!(
                v.json().get("address").is_none() && redacted(&v.json()),
                "{who}"
            );
            let h = f
                .get(token, &format!("{path}/_history"))
                .await
                .status(200)
                .json();
            assert!(!h.to_string().contains("Washtenaw"), "{who}: history leaks");
        }
        // Only the home address and phone of the practitioner.
        let r = f
            .get(None, "Practitioner/JoeSmith")
            .await
            .status(200)
            .json();
        let uses: Vec<&Value> = r["address"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| &a["use"])
            .collect();
        assert_eq!(uses, vec!["work"], "{r}");
        assert!(
            !r.to_string().contains("555-123-6666"),
            "home phone leaks: {r}"
        );
        assert!(
            r.to_string().contains("555-123-1234"),
            "work phone kept: {r}"
        );
        let full = f
            .get(Some(&f.who.privileged), "Practitioner/JoeSmith")
            .await
            .status(200)
            .json();
        assert_eq!(full["address"].as_array().map(Vec::len), Some(2));
    }
}

/// Follows `next` from `path` as `token`; answers every match's `type/id` and the pages.
async fn all_pages(f: &Fixture, token: Option<&str>, path: &str) -> (Vec<String>, usize, Value) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut url = f.app.url(&f.path(path));
    let mut first = Value::Null;
    loop {
        let resp = crate::support::with_token(&f.app, token, reqwest::Method::GET, &url, None)
            .await
            .status(200);
        let page = resp.json();
        if pages == 0 {
            first = page.clone();
        }
        pages += 1;
        for e in page["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            if r.is_object() && e["search"]["mode"] != "outcome" {
                out.push(format!(
                    "{}/{}",
                    r["resourceType"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or("")
                ));
            } else if let Some(u) = e["request"]["url"].as_str() {
                out.push(u.to_owned());
            }
        }
        match link(&page, "next") {
            Some(next) => url = next,
            None => break,
        }
        assert!(pages < 1000);
    }
    (out, pages, first)
}

#[tokio::test]
async fn type_and_system_history_leave_out_every_version_of_a_hidden_resource() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        // A second version of the military organization: both stay hidden.
        let mut military = f
            .get(
                Some(&f.who.privileged),
                "Organization/MilitaryHealthcareOrganization",
            )
            .await
            .json();
        military["name"] = serde_json::json!("Military Healthcare Organization (renamed)");
        f.put(&military).await.status(200);
        let everything = all_pages(
            &f,
            Some(&f.who.privileged),
            "Organization/_history?_count=2",
        )
        .await;
        for (who, token) in f.all() {
            let (entries, pages, first) =
                all_pages(&f, token, "Organization/_history?_count=2").await;
            let hidden: Vec<&str> = match who {
                "anonymous" => vec!["MilitaryHealthcareOrganization", "BlueOnly", "BlueNotGreen"],
                "stranger" => vec!["BlueOnly", "BlueNotGreen"],
                _ => vec![],
            };
            let expected: Vec<String> = everything
                .0
                .iter()
                .filter(|e| !hidden.iter().any(|h| e.ends_with(&format!("/{h}"))))
                .cloned()
                .collect();
            assert_eq!(entries, expected, "{who}");
            assert_eq!(first["total"], expected.len(), "{who}: total");
            assert_eq!(pages, expected.len().div_ceil(2).max(1), "{who}: pages");
            let system = all_pages(&f, token, "_history?_count=50").await.0;
            for h in &hidden {
                assert!(
                    !system.iter().any(|e| e.ends_with(&format!("/{h}"))),
                    "{who}: {h} in system history"
                );
            }
        }
    }
}
