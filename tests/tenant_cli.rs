//! Tenants managed with the `fhirdir tenant` CLI while a server runs on the same database:
//! served (or gone) at once, without a restart; once per backend.

mod common;

use common::{practitioner, spawn_app, test_databases};
use server::ServerConfig;

/// Runs `fhirdir ARGS... --database URL` and returns (success, stdout, stderr).
async fn cli(args: &[&str], db_url: &str) -> (bool, String, String) {
    let args: Vec<&str> = args.iter().copied().chain(["--database", db_url]).collect();
    common::fhirdir_cli(&args).await
}

#[tokio::test]
async fn tenants_managed_with_the_cli_are_served_at_once_by_a_running_server() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        app.get("/fhir/clinic/metadata")
            .await
            .outcome(404, "not-found");

        let (ok, out, err) = cli(&["tenant", "create", "clinic"], &db.url).await;
        assert!(ok, "[{}] tenant create failed: {out} {err}", db.backend);
        app.get("/fhir/clinic/metadata").await.status(200);
        app.put("/fhir/clinic/Practitioner/p", &practitioner(Some("p"), "C"))
            .await
            .status(201);

        let (ok, out, err) = cli(&["tenant", "list"], &db.url).await;
        assert!(
            ok && out.lines().any(|l| l.starts_with("clinic")),
            "[{}] tenant list: {out} {err}",
            db.backend
        );

        let (ok, _, _) = cli(&["tenant", "create", "clinic"], &db.url).await;
        assert!(
            !ok,
            "[{}] creating an existing tenant succeeded",
            db.backend
        );
        let (ok, _, _) = cli(&["tenant", "create", "Bad_Name"], &db.url).await;
        assert!(!ok, "[{}] an invalid tenant name was accepted", db.backend);

        let (ok, out, err) = cli(&["tenant", "delete", "clinic"], &db.url).await;
        assert!(ok, "[{}] tenant delete failed: {out} {err}", db.backend);
        app.get("/fhir/clinic/metadata")
            .await
            .outcome(404, "not-found");
        app.get("/fhir/clinic/Practitioner/p")
            .await
            .outcome(404, "not-found");
        // The server saw the tenant before another process deleted it: a search, a history
        // page and a write must not act on it either.
        app.get("/fhir/clinic/Practitioner?family=C")
            .await
            .outcome(404, "not-found");
        app.get("/fhir/clinic/_history")
            .await
            .outcome(404, "not-found");
        app.put("/fhir/clinic/Practitioner/p", &practitioner(Some("p"), "C"))
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_can_create_tenants_while_the_server_is_writing() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let load = async {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("l{}", n % 5);
                app.put(
                    &format!("/fhir/default/Practitioner/{id}"),
                    &practitioner(Some(&id), &format!("N{n}")),
                )
                .await;
                n += 1;
            }
            n
        };
        let admin_work = async {
            let mut results = Vec::new();
            for name in ["cli-a", "cli-b", "cli-c"] {
                results.push((name, cli(&["tenant", "create", name], &db.url).await));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            results
        };
        let (writes, results) = tokio::join!(load, admin_work);
        assert!(writes > 0, "[{}] no writes ran", db.backend);
        for (name, (ok, out, err)) in results {
            assert!(
                ok,
                "[{}] tenant create {name} failed while the server wrote: {out} {err}",
                db.backend
            );
            app.get(&format!("/fhir/{name}/metadata")).await.status(200);
        }
    }
}
