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

/// AuditEvent (served from the change events) is a channel too: the events of a resource
/// hidden from a client are hidden with it, from its searches, totals and reads, as if the
/// resource had never been written; its twin's are there for every client.
#[tokio::test]
async fn the_audit_events_of_a_hidden_resource_are_hidden_with_it() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let clients = [
            ("stranger", f.who.stranger.as_str()),
            ("blue", f.who.blue.as_str()),
            ("green", f.who.green.as_str()),
            ("privileged", f.who.privileged.as_str()),
        ];
        let found = |token: &str, query: String| {
            let f = &f;
            let token = token.to_owned();
            async move {
                let b = f
                    .get(
                        Some(&token),
                        &format!("AuditEvent?{query}&_total=accurate&_count=1000"),
                    )
                    .await
                    .status(200)
                    .json();
                let n = b["entry"].as_array().map_or(0, Vec::len);
                assert_eq!(
                    b["total"], n,
                    "{query}: the total counts what the page shows"
                );
                b["entry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e["resource"]["id"].as_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
            }
        };
        let mut totals = Vec::new();
        for (who, token) in clients {
            for (target, admits) in WHOLE {
                let twin = found(token, format!("entity={target}Twin")).await;
                assert_eq!(twin.len(), 1, "{who}: {target}Twin");
                let own = found(token, format!("entity={target}")).await;
                let expected = usize::from(admits.contains(&who));
                assert_eq!(own.len(), expected, "{who}: {target}");
                if let Some(id) = own.first() {
                    f.get(Some(token), &format!("AuditEvent/{id}"))
                        .await
                        .status(200);
                    // A client the restriction refuses reads the event as one that does not
                    // exist.
                    for (other, other_token) in clients {
                        if !admits.contains(&other) {
                            let hidden =
                                f.get(Some(other_token), &format!("AuditEvent/{id}")).await;
                            let missing =
                                f.get(Some(other_token), "AuditEvent/change-999999").await;
                            assert_eq!((hidden.code, missing.code), (404, 404), "{other}: {id}");
                            assert_eq!(
                                hidden.json()["issue"][0]["diagnostics"]
                                    .as_str()
                                    .map(|d| d.replace(id.as_str(), "X")),
                                missing.json()["issue"][0]["diagnostics"]
                                    .as_str()
                                    .map(|d| d.replace("change-999999", "X")),
                                "{other}: {id}"
                            );
                        }
                    }
                }
            }
            totals.push(found(token, String::new()).await.len());
        }
        // The privileged client sees every event; the others fewer, by what is hidden from
        // them (all of the whole-restricted examples' events but those they are admitted to).
        let all = totals[3];
        for (i, (who, _)) in clients.iter().enumerate().take(3) {
            let hidden = WHOLE.iter().filter(|(_, a)| !a.contains(who)).count();
            assert_eq!(totals[i] + hidden, all, "{who}");
        }
    }
}
