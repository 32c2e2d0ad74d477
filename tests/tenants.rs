//! Tenancy: the `/admin/tenants` API and its guard, the CLI face of it, and isolation
//! between tenants for every interaction; once per backend.

mod common;

use common::{admin_config, practitioner, spawn_app, test_databases, Resp, TestApp};
use reqwest::Method;
use serde_json::json;
use server::ServerConfig;

const TOKEN: &str = "s3cret-admin-token";

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<serde_json::Value>) -> Resp {
    let mut req = app.request(method, path).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    app.send(req).await
}

async fn create_tenant(app: &TestApp, name: &str) -> Resp {
    admin(
        app,
        Method::POST,
        "/admin/tenants",
        Some(json!({ "name": name })),
    )
    .await
}

async fn tenant_names(app: &TestApp) -> Vec<String> {
    let list = admin(app, Method::GET, "/admin/tenants", None)
        .await
        .status(200)
        .json();
    list["tenants"]
        .as_array()
        .unwrap_or_else(|| panic!("[{}] no tenants array: {list}", app.backend))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn admin_api_requires_the_bearer_token() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        let calls = [
            (Method::GET, "/admin/tenants"),
            (Method::POST, "/admin/tenants"),
            (Method::DELETE, "/admin/tenants/default"),
        ];
        for (method, path) in calls {
            let body = json!({"name": "sneaky"}).to_string();
            let req = || {
                app.request(method.clone(), path)
                    .header("content-type", "application/json")
                    .body(body.clone())
            };

            let r = app.send(req()).await;
            r.outcome(401, "login");
            let challenge = r.must_header("www-authenticate");
            assert!(
                challenge.starts_with("Bearer"),
                "{}: WWW-Authenticate {challenge:?}",
                r.what
            );

            let basic = app
                .send(req().header("authorization", "Basic YWRtaW46YWRtaW4="))
                .await;
            basic.outcome(401, "login");

            for wrong in [
                "wrong",
                "s3cret-admin-toke",
                "s3cret-admin-token-and-more",
                "S3CRET-ADMIN-TOKEN",
            ] {
                app.send(req().bearer_auth(wrong))
                    .await
                    .outcome(403, "forbidden");
            }
        }
        assert_eq!(
            tenant_names(&app).await,
            vec!["default"],
            "[{}] a refused call changed tenants",
            app.backend
        );
        app.get("/fhir/default/Practitioner/x")
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test]
async fn admin_api_is_forbidden_when_no_token_is_configured() {
    for db in test_databases().await {
        for token in [None, Some(String::new())] {
            let app = spawn_app(
                &db,
                ServerConfig {
                    admin_token: token,
                    ..ServerConfig::auth_off()
                },
            )
            .await;
            for auth in [None, Some(""), Some(TOKEN)] {
                let mut req = app.request(Method::GET, "/admin/tenants");
                if let Some(a) = auth {
                    req = req.bearer_auth(a);
                }
                app.send(req).await.outcome(403, "forbidden");
            }
            let req = app
                .request(Method::POST, "/admin/tenants")
                .bearer_auth("")
                .body("{\"name\":\"x\"}");
            app.send(req).await.outcome(403, "forbidden");
            app.get("/fhir/x/metadata").await.outcome(404, "not-found");
        }
    }
}

#[tokio::test]
async fn admin_creates_lists_and_deletes_tenants() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        assert_eq!(
            tenant_names(&app).await,
            vec!["default"],
            "[{}]",
            app.backend
        );

        let r = create_tenant(&app, "acme").await.status(201);
        assert_eq!(r.json()["name"], "acme", "{}", r.what);
        assert_eq!(
            r.must_header("location"),
            format!("{}/fhir/acme", app.base),
            "{}",
            r.what
        );
        let mut names = tenant_names(&app).await;
        names.sort();
        assert_eq!(names, vec!["acme", "default"], "[{}]", app.backend);
        let cs = app.get("/fhir/acme/metadata").await.status(200).json();
        assert_eq!(
            cs["resourceType"], "CapabilityStatement",
            "[{}]",
            app.backend
        );

        create_tenant(&app, "acme").await.outcome(409, "conflict");

        let r = admin(&app, Method::DELETE, "/admin/tenants/acme", None).await;
        assert!(r.code == 204 || r.code == 200, "{}: {}", r.what, r.code);
        assert_eq!(
            tenant_names(&app).await,
            vec!["default"],
            "[{}]",
            app.backend
        );
        admin(&app, Method::DELETE, "/admin/tenants/acme", None)
            .await
            .outcome(404, "not-found");
        admin(&app, Method::DELETE, "/admin/tenants/never", None)
            .await
            .outcome(404, "not-found");
        admin(&app, Method::DELETE, "/admin/tenants/default", None)
            .await
            .outcome(409, "conflict");
        app.get("/fhir/default/metadata").await.status(200);
    }
}

#[tokio::test]
async fn tenant_names_are_validated() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        let too_long = format!("a{}", "b".repeat(63));
        for bad in [
            "",
            "UPPER",
            "-lead",
            "a_b",
            "a b",
            "a.b",
            "ümlaut",
            "a/b",
            too_long.as_str(),
        ] {
            let r = create_tenant(&app, bad).await;
            let diag = r.outcome(400, "invalid");
            assert!(!diag.is_empty(), "{}: name {bad:?}", r.what);
        }
        let longest = format!("z{}", "9".repeat(62));
        for good in ["a", "0", "a-", "t-1-2", longest.as_str()] {
            create_tenant(&app, good).await.status(201);
            app.get(&format!("/fhir/{good}/metadata")).await.status(200);
        }
        assert_eq!(tenant_names(&app).await.len(), 6, "[{}]", app.backend);
    }
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_base_and_data() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        create_tenant(&app, "gone").await.status(201);
        app.put("/fhir/gone/Practitioner/p", &practitioner(Some("p"), "G"))
            .await
            .status(201);
        admin(&app, Method::DELETE, "/admin/tenants/gone", None).await;

        for path in [
            "/fhir/gone/metadata",
            "/fhir/gone/Practitioner/p",
            "/fhir/gone/_history",
        ] {
            app.get(path).await.outcome(404, "not-found");
        }
        app.put("/fhir/gone/Practitioner/p", &practitioner(Some("p"), "G"))
            .await
            .outcome(404, "not-found");

        // A tenant created again under the same name starts empty.
        create_tenant(&app, "gone").await.status(201);
        app.get("/fhir/gone/Practitioner/p")
            .await
            .outcome(404, "not-found");
        let h = app.get("/fhir/gone/_history").await.status(200).json();
        assert_eq!(
            h["total"], 0,
            "[{}] data survived its tenant: {h}",
            app.backend
        );
    }
}

#[tokio::test]
async fn the_same_id_in_two_tenants_is_two_independent_resources() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        create_tenant(&app, "a").await.status(201);
        create_tenant(&app, "b").await.status(201);
        app.put(
            "/fhir/a/Practitioner/same",
            &practitioner(Some("same"), "InA"),
        )
        .await
        .status(201);
        app.put(
            "/fhir/b/Practitioner/same",
            &practitioner(Some("same"), "InB"),
        )
        .await
        .status(201);
        app.put(
            "/fhir/a/Practitioner/same",
            &practitioner(Some("same"), "InA2"),
        )
        .await
        .status(200);

        let a = app.get("/fhir/a/Practitioner/same").await.status(200);
        let b = app.get("/fhir/b/Practitioner/same").await.status(200);
        assert_eq!(
            (a.etag_version(), b.etag_version()),
            (2, 1),
            "[{}]",
            app.backend
        );
        assert_eq!(a.json()["name"][0]["family"], "InA2", "{}", a.what);
        assert_eq!(b.json()["name"][0]["family"], "InB", "{}", b.what);

        app.delete("/fhir/a/Practitioner/same").await;
        app.get("/fhir/a/Practitioner/same")
            .await
            .outcome(410, "deleted");
        let b = app.get("/fhir/b/Practitioner/same").await.status(200);
        assert_eq!(b.etag_version(), 1, "{}: delete in a reached b", b.what);
    }
}

#[tokio::test]
async fn nothing_of_one_tenant_is_reachable_from_another() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        create_tenant(&app, "owner").await.status(201);
        create_tenant(&app, "intruder").await.status(201);
        let secret = "/fhir/owner/Practitioner/secret";
        for f in ["S1", "S2", "S3"] {
            app.put(secret, &practitioner(Some("secret"), f)).await;
        }
        let other = json!({"resourceType": "Organization", "id": "o", "name": "Hidden"});
        app.put("/fhir/owner/Organization/o", &other)
            .await
            .status(201);

        let i = "/fhir/intruder";
        app.get(&format!("{i}/Practitioner/secret"))
            .await
            .outcome(404, "not-found");
        for v in 1..=3 {
            app.get(&format!("{i}/Practitioner/secret/_history/{v}"))
                .await
                .outcome(404, "not-found");
        }
        for path in [
            format!("{i}/Practitioner/secret/_history"),
            format!("{i}/Practitioner/_history"),
            format!("{i}/Organization/_history"),
            format!("{i}/_history"),
        ] {
            let h = app.get(&path).await.status(200).json();
            assert_eq!(h["total"], 0, "[{}] {path} leaks: {h}", app.backend);
            assert!(
                common::entries(&h).is_empty(),
                "[{}] {path} leaks: {h}",
                app.backend
            );
        }
        // Conditional writes cannot see the other tenant's version either.
        let req = common::fhir_body(
            app.request(Method::PUT, &format!("{i}/Practitioner/secret")),
            &practitioner(Some("secret"), "Hijack"),
        )
        .header("if-match", "W/\"3\"");
        app.send(req).await.outcome(412, "conflict");
        let req = app
            .request(Method::DELETE, &format!("{i}/Practitioner/secret"))
            .header("if-match", "W/\"3\"");
        app.send(req).await.outcome(412, "conflict");
        app.delete(&format!("{i}/Practitioner/secret")).await;
        app.delete(&format!("{i}/Organization/o")).await;
        // An unconditional PUT makes the intruder its own version 1.
        let r = app
            .put(
                &format!("{i}/Practitioner/secret"),
                &practitioner(Some("secret"), "Mine"),
            )
            .await
            .status(201);
        assert_eq!(r.etag_version(), 1, "{}", r.what);

        let owner = app.get(secret).await.status(200);
        assert_eq!(
            owner.etag_version(),
            3,
            "{}: the intruder changed the owner's resource",
            owner.what
        );
        assert_eq!(owner.json()["name"][0]["family"], "S3", "{}", owner.what);
        app.get("/fhir/owner/Organization/o").await.status(200);
        assert_eq!(
            app.instance_versions("owner", "Practitioner", "secret")
                .await,
            vec![3, 2, 1],
            "[{}] owner history",
            app.backend
        );
        let h = app.get("/fhir/owner/_history").await.status(200).json();
        assert_eq!(h["total"], 4, "[{}] owner history: {h}", app.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_tenant_have_exactly_one_winner() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        let answers = futures::future::join_all((0..10).map(|_| create_tenant(&app, "racy"))).await;
        let codes: Vec<u16> = answers.iter().map(|r| r.code).collect();
        assert_eq!(
            codes.iter().filter(|c| **c == 201).count(),
            1,
            "[{}] {codes:?}",
            app.backend
        );
        for r in answers.iter().filter(|r| r.code != 201) {
            r.outcome(409, "conflict");
        }
        app.get("/fhir/racy/metadata").await.status(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_tenant_during_writes_leaves_nothing_behind() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        create_tenant(&app, "busy").await.status(201);
        // Four writers keep writing until they have seen the tenant gone a few times.
        let writer = |w: usize| {
            let app = &app;
            async move {
                let mut codes = Vec::new();
                let mut after = 0;
                for n in 0..2000 {
                    let id = format!("w{w}-{}", n % 4);
                    let r = app
                        .put(
                            &format!("/fhir/busy/Practitioner/{id}"),
                            &practitioner(Some(&id), &format!("F{n}")),
                        )
                        .await;
                    if r.code == 404 {
                        r.outcome(404, "not-found");
                        after += 1;
                        if after == 5 {
                            break;
                        }
                    } else {
                        assert!(r.code == 200 || r.code == 201, "{}: {}", r.what, r.code);
                    }
                    codes.push(r.code);
                }
                codes
            }
        };
        let delete = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            admin(&app, Method::DELETE, "/admin/tenants/busy", None).await
        };
        let (codes, deleted) = tokio::join!(futures::future::join_all((0..4).map(writer)), delete);
        assert!(
            deleted.code == 204 || deleted.code == 200,
            "{}: {}",
            deleted.what,
            deleted.code
        );
        let written = codes.iter().flatten().filter(|c| **c != 404).count();
        assert!(
            written > 0,
            "[{}] no write landed before the delete",
            app.backend
        );
        app.get("/fhir/busy/metadata")
            .await
            .outcome(404, "not-found");

        // A write that raced the delete must not survive into a new tenant of that name.
        create_tenant(&app, "busy").await.status(201);
        let h = app.get("/fhir/busy/_history").await.status(200).json();
        assert_eq!(
            h["total"], 0,
            "[{}] writes outlived their tenant: {h}",
            app.backend
        );
        for i in 0..16 {
            app.get(&format!("/fhir/busy/Practitioner/w{}-{}", i / 4, i % 4))
                .await
                .outcome(404, "not-found");
        }
    }
}

#[tokio::test]
async fn urls_in_a_tenant_name_that_tenant() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config(TOKEN)).await;
        create_tenant(&app, "acme").await.status(201);
        let r = app
            .post("/fhir/acme/Practitioner", &practitioner(None, "T"))
            .await
            .status(201);
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let tenant_base = format!("{}/fhir/acme", app.base);
        assert_eq!(
            r.must_header("location"),
            format!("{tenant_base}/Practitioner/{id}/_history/1"),
            "{}",
            r.what
        );
        for path in ["/fhir/acme/_history", "/fhir/acme/Practitioner/_history"] {
            let h = app
                .get(&format!("{path}?_count=1"))
                .await
                .status(200)
                .json();
            for rel in ["self", "first"] {
                let l = common::link(&h, rel).unwrap_or_default();
                assert!(
                    l.starts_with(&format!("{tenant_base}/")),
                    "[{}] {rel}: {l}",
                    app.backend
                );
            }
            let e = &common::entries(&h)[0];
            assert_eq!(
                e["fullUrl"],
                format!("{tenant_base}/Practitioner/{id}"),
                "[{}] {e}",
                app.backend
            );
        }
        let cs = app.get("/fhir/acme/metadata").await.status(200).json();
        assert_eq!(
            cs["implementation"]["url"], tenant_base,
            "[{}]",
            app.backend
        );
    }
}
