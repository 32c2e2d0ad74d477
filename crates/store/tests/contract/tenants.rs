//! Tenant management and isolation: nothing of one tenant is visible from another.

use serde_json::json;
use store::*;

use crate::support::*;

#[tokio::test]
async fn tenants_are_isolated() {
    for Ctx { store: s, be, .. } in stores().await {
        let (ta, tb) = (tenant("t-a"), tenant("t-b"));
        assert!(s.create_tenant(&ta).await.unwrap(), "[{be}]");
        assert!(s.create_tenant(&tb).await.unwrap(), "[{be}]");
        put(&s, &ta, "Practitioner", "same", 10).await;
        put(&s, &ta, "Practitioner", "same", 11).await;
        put(&s, &tb, "Practitioner", "same", 20).await;
        put(&s, &ta, "Practitioner", "only-a", 1).await;

        let a = s
            .read(&ta, "Practitioner", "same")
            .await
            .unwrap()
            .expect("a");
        let b = s
            .read(&tb, "Practitioner", "same")
            .await
            .unwrap()
            .expect("b");
        assert_eq!(
            (a.version, parse(&a)["n"].clone()),
            (2, json!(11)),
            "[{be}]"
        );
        assert_eq!(
            (b.version, parse(&b)["n"].clone()),
            (1, json!(20)),
            "[{be}]"
        );
        assert_eq!(
            s.vread(&tb, "Practitioner", "same", 2).await.unwrap(),
            None,
            "[{be}] vread"
        );
        assert_eq!(
            s.read(&tb, "Practitioner", "only-a").await.unwrap(),
            None,
            "[{be}] read"
        );
        assert_eq!(
            s.read(&def(), "Practitioner", "same").await.unwrap(),
            None,
            "[{be}] default"
        );

        let hb = s
            .history(&tb, &hq(HistoryScope::System, 100))
            .await
            .unwrap();
        assert_eq!(
            (keys(&hb.entries), hb.total),
            (vec![k("Practitioner", "same", 1)], 1),
            "[{be}]"
        );
        let hb = s
            .history(
                &tb,
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "only-a".into()),
                    100,
                ),
            )
            .await
            .unwrap();
        assert_eq!(hb.total, 0, "[{be}] instance history across tenants");

        let r = s
            .delete(&tb, "Practitioner", "only-a", Precondition::None)
            .await
            .unwrap();
        assert_eq!(r, DeleteOutcome::NotFound, "[{be}] delete across tenants");
        s.delete(&tb, "Practitioner", "same", Precondition::None)
            .await
            .unwrap();
        let a = s
            .read(&ta, "Practitioner", "same")
            .await
            .unwrap()
            .expect("a");
        assert_eq!(
            (a.version, a.deleted),
            (2, false),
            "[{be}] delete in b left a alone"
        );
        // An If-Match valid in one tenant means nothing in the other.
        let r = s
            .write(
                &tb,
                req(
                    "Practitioner",
                    "only-a",
                    json!({}),
                    Precondition::IfMatch(1),
                    Method::Put,
                ),
            )
            .await;
        assert!(is_conflict(&r), "[{be}] {r:?}");
    }
}

#[tokio::test]
async fn tenant_management() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = tenant("acme");
        assert!(
            s.tenant_exists(&def()).await.unwrap(),
            "[{be}] default exists after migrate"
        );
        assert!(!s.tenant_exists(&t).await.unwrap(), "[{be}]");
        assert!(s.create_tenant(&t).await.unwrap(), "[{be}] created");
        assert!(
            !s.create_tenant(&t).await.unwrap(),
            "[{be}] second create is false"
        );
        assert!(s.tenant_exists(&t).await.unwrap(), "[{be}]");
        let names: Vec<String> = s
            .list_tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            vec!["acme".to_owned(), "default".to_owned()],
            "[{be}] sorted"
        );
        let created = s.list_tenants().await.unwrap()[0].created_at;
        assert!(
            (chrono::Utc::now() - created).num_seconds().abs() < 60,
            "[{be}] created_at {created}"
        );

        assert!(
            matches!(
                s.delete_tenant(&def()).await,
                Err(StoreError::DefaultTenant)
            ),
            "[{be}]"
        );
        assert!(
            !s.delete_tenant(&tenant("never")).await.unwrap(),
            "[{be}] unknown -> false"
        );
    }
}

#[tokio::test]
async fn delete_tenant_removes_all_its_data_and_only_its_data() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = tenant("gone");
        s.create_tenant(&t).await.unwrap();
        put(&s, &t, "Practitioner", "p", 1).await;
        put(&s, &t, "Practitioner", "p", 2).await;
        s.delete(&t, "Practitioner", "p", Precondition::None)
            .await
            .unwrap();
        put(&s, &def(), "Practitioner", "p", 1).await;

        assert!(s.delete_tenant(&t).await.unwrap(), "[{be}]");
        assert!(!s.tenant_exists(&t).await.unwrap(), "[{be}]");
        // Re-creating the name must not bring anything back.
        assert!(s.create_tenant(&t).await.unwrap(), "[{be}]");
        assert_eq!(
            s.read(&t, "Practitioner", "p").await.unwrap(),
            None,
            "[{be}] current rows"
        );
        assert_eq!(
            s.vread(&t, "Practitioner", "p", 1).await.unwrap(),
            None,
            "[{be}] versions"
        );
        assert_eq!(
            s.history(&t, &hq(HistoryScope::System, 10))
                .await
                .unwrap()
                .total,
            0,
            "[{be}]"
        );
        let p = put(&s, &t, "Practitioner", "p", 5).await;
        assert_eq!(
            (p.kind, p.record.version),
            (WriteKind::Created, 1),
            "[{be}] numbering restarts"
        );
        assert!(
            s.read(&def(), "Practitioner", "p").await.unwrap().is_some(),
            "[{be}] default untouched"
        );
    }
}

#[tokio::test]
async fn unknown_tenants_are_errors_not_empty_results() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = tenant("nobody");
        let unknown = |r: &Result<_, StoreError>| matches!(r, Err(StoreError::UnknownTenant(n)) if n == "nobody");
        let w = s
            .write(
                &t,
                req(
                    "Practitioner",
                    "p",
                    json!({}),
                    Precondition::None,
                    Method::Put,
                ),
            )
            .await;
        assert!(unknown(&w.map(|_| ())), "[{be}] write");
        let d = s.delete(&t, "Practitioner", "p", Precondition::None).await;
        assert!(unknown(&d.map(|_| ())), "[{be}] delete");
        assert!(
            unknown(&s.read(&t, "Practitioner", "p").await.map(|_| ())),
            "[{be}] read"
        );
        assert!(
            unknown(&s.vread(&t, "Practitioner", "p", 1).await.map(|_| ())),
            "[{be}] vread"
        );
        let h = s.history(&t, &hq(HistoryScope::System, 10)).await;
        assert!(unknown(&h.map(|_| ())), "[{be}] history");
        assert!(
            !s.tenant_exists(&t).await.unwrap(),
            "[{be}] the failed write created nothing"
        );
    }
}
