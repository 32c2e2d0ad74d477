//! Concurrent writers (<https://hl7.org/fhir/R4/http.html#concurrency>): no lost updates,
//! exactly one winner per If-Match version, version numbers without gaps; once per backend.

mod common;

use std::collections::BTreeSet;

use common::{fhir_body, practitioner, spawn_app, test_databases, Resp, TestApp};
use futures::future::join_all;
use reqwest::Method;
use server::ServerConfig;

const WRITERS: usize = 20;

/// `WRITERS` PUTs of `path` sent at once, writer `i` naming itself `W{i}`.
async fn concurrent_puts(app: &TestApp, path: &str, id: &str, if_match: Option<&str>) -> Vec<Resp> {
    join_all((0..WRITERS).map(|i| {
        let mut req = fhir_body(
            app.request(Method::PUT, path),
            &practitioner(Some(id), &format!("W{i}")),
        );
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        app.send(req)
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_with_the_same_if_match_have_exactly_one_winner() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/race";
        app.put(path, &practitioner(Some("race"), "Start"))
            .await
            .status(201);

        let answers = concurrent_puts(&app, path, "race", Some("W/\"1\"")).await;
        let winners: Vec<(usize, &Resp)> = answers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code == 200)
            .collect();
        let losers: Vec<&Resp> = answers.iter().filter(|r| r.code == 412).collect();
        let codes: Vec<u16> = answers.iter().map(|r| r.code).collect();
        assert_eq!(winners.len(), 1, "[{}] winners: {codes:?}", app.backend);
        assert_eq!(
            losers.len(),
            WRITERS - 1,
            "[{}] 412s: {codes:?}",
            app.backend
        );
        for l in &losers {
            l.outcome(412, "conflict");
        }
        let (winner, r) = winners[0];
        assert_eq!(r.etag_version(), 2, "{}", r.what);

        let read = app.get(path).await.status(200);
        assert_eq!(read.etag_version(), 2, "{}", read.what);
        assert_eq!(
            read.json()["name"][0]["family"],
            format!("W{winner}"),
            "{}: not the winner's content",
            read.what
        );
        assert_eq!(
            app.instance_versions("default", "Practitioner", "race")
                .await,
            vec![2, 1],
            "[{}]",
            app.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unconditional_puts_all_succeed_without_gaps_or_lost_versions() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/many";
        app.put(path, &practitioner(Some("many"), "Start"))
            .await
            .status(201);

        let answers = concurrent_puts(&app, path, "many", None).await;
        let mut versions = BTreeSet::new();
        let mut family_of_version = std::collections::BTreeMap::new();
        for (i, r) in answers.iter().enumerate() {
            assert_eq!(r.code, 200, "{}: {}", r.what, r.text());
            let v = r.etag_version();
            assert!(versions.insert(v), "{}: version {v} given twice", r.what);
            assert_eq!(r.json()["meta"]["versionId"], v.to_string(), "{}", r.what);
            family_of_version.insert(v, format!("W{i}"));
        }
        assert_eq!(
            versions,
            (2..=21).collect(),
            "[{}] versions handed out",
            app.backend
        );

        let expected: Vec<i64> = (1..=21).rev().collect();
        assert_eq!(
            app.instance_versions("default", "Practitioner", "many")
                .await,
            expected,
            "[{}]",
            app.backend
        );
        // Every version holds the content of the writer it was acknowledged to.
        for (v, family) in &family_of_version {
            let r = app.get(&format!("{path}/_history/{v}")).await.status(200);
            assert_eq!(
                &r.json()["name"][0]["family"],
                family.as_str(),
                "{}",
                r.what
            );
        }
        let read = app.get(path).await.status(200);
        assert_eq!(read.etag_version(), 21, "{}", read.what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_on_update_of_one_new_id_creates_it_once() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/fresh";
        let answers = concurrent_puts(&app, path, "fresh", None).await;
        let codes: Vec<u16> = answers.iter().map(|r| r.code).collect();
        assert_eq!(
            codes.iter().filter(|c| **c == 201).count(),
            1,
            "[{}] 201s: {codes:?}",
            app.backend
        );
        assert_eq!(
            codes.iter().filter(|c| **c == 200).count(),
            WRITERS - 1,
            "[{}] 200s: {codes:?}",
            app.backend
        );
        let created = answers
            .iter()
            .find(|r| r.code == 201)
            .map(Resp::etag_version);
        assert_eq!(
            created,
            Some(1),
            "[{}] the creating write is version 1",
            app.backend
        );
        let expected: Vec<i64> = (1..=WRITERS as i64).rev().collect();
        assert_eq!(
            app.instance_versions("default", "Practitioner", "fresh")
                .await,
            expected,
            "[{}]",
            app.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_distinct_ids_and_all_land_in_history() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let bodies: Vec<_> = (0..50)
            .map(|i| practitioner(None, &format!("C{i}")))
            .collect();
        let answers = join_all(
            bodies
                .iter()
                .map(|b| app.post("/fhir/default/Practitioner", b)),
        )
        .await;
        let mut ids = BTreeSet::new();
        for r in &answers {
            assert_eq!(r.code, 201, "{}: {}", r.what, r.text());
            assert!(
                ids.insert(r.json()["id"].as_str().unwrap_or_default().to_owned()),
                "{}: id reused",
                r.what
            );
        }
        let pages = app
            .history_pages("/fhir/default/Practitioner/_history?_count=7")
            .await;
        let seen: BTreeSet<String> = common::entry_keys(app.backend, &pages)
            .into_iter()
            .map(|(url, _)| url.rsplit('/').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(seen, ids, "[{}] history of concurrent creates", app.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_and_if_match_updates_never_resurrect_or_duplicate() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/dz";
        app.put(path, &practitioner(Some("dz"), "Start"))
            .await
            .status(201);
        let updates = (0..10).map(|i| {
            let req = fhir_body(
                app.request(Method::PUT, path),
                &practitioner(Some("dz"), &format!("U{i}")),
            )
            .header("if-match", "W/\"1\"");
            app.send(req)
        });
        let deletes = (0..10).map(|_| {
            app.send(
                app.request(Method::DELETE, path)
                    .header("if-match", "W/\"1\""),
            )
        });
        let (u, d) = futures::join!(join_all(updates), join_all(deletes));
        let winners = u.iter().filter(|r| r.code == 200).count()
            + d.iter().filter(|r| r.code == 200 || r.code == 204).count();
        let codes: Vec<u16> = u.iter().chain(d.iter()).map(|r| r.code).collect();
        assert_eq!(
            winners, 1,
            "[{}] exactly one conditional write may win: {codes:?}",
            app.backend
        );
        assert!(
            codes.iter().all(|c| [200, 204, 412].contains(c)),
            "[{}] {codes:?}",
            app.backend
        );
        assert_eq!(
            app.instance_versions("default", "Practitioner", "dz").await,
            vec![2, 1],
            "[{}]",
            app.backend
        );
    }
}
