//! The harvest's and verification's bookkeeping ([`store::HarvestedRow`], sources, due rows),
//! on every database `testkit::test_databases()` provides. Assertion messages start with the
//! backend.

use store::*;

fn row(rtype: &str, id: &str, hash: &str, pass: i64) -> HarvestedRow {
    HarvestedRow {
        resource_type: rtype.into(),
        id: id.into(),
        hash: hash.into(),
        pass,
        refs: String::new(),
    }
}

#[tokio::test]
async fn passes_find_what_they_did_not_see_and_stamp_the_networks_they_brought() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap();
        let t = TenantName::default_tenant();
        let source = SourceRow {
            tenant: t.clone(),
            name: "acme".into(),
            setting: "{}".into(),
            state: "{\"a\":1}".into(),
            updated: 1,
        };
        store.put_source(&source).await.unwrap();
        // Pass 1 saw two organizations and a practitioner; pass 2 only one organization.
        let mut tx = store.begin(&t).await.unwrap();
        tx.mark_harvested(
            "acme",
            &[
                row("Organization", "acme-net", "h1", 1),
                row("Organization", "acme-gone", "h2", 1),
                row("Practitioner", "acme-p", "h3", 1),
            ],
        )
        .await
        .unwrap();
        // The network was written at t=100 (the write pipeline's stamp).
        let at = chrono::DateTime::from_timestamp_micros(100).unwrap();
        tx.touch_networks(&["Organization/acme-net", "Organization/other"], at)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin(&t).await.unwrap();
        tx.mark_harvested("acme", &[row("Organization", "acme-net", "h1", 2)])
            .await
            .unwrap();
        let held = tx
            .harvested_of("acme", "Organization", &["acme-net", "acme-none"])
            .await
            .unwrap();
        assert_eq!(
            held,
            vec![row("Organization", "acme-net", "h1", 2)],
            "[{be}]"
        );
        tx.commit().await.unwrap();
        let types = vec!["Organization".to_owned()];
        let gone = store
            .harvested_before(&t, "acme", &types, 2, 10)
            .await
            .unwrap();
        assert_eq!(
            gone,
            vec![("Organization".into(), "acme-gone".into())],
            "[{be}] only the types asked"
        );

        // The networks the source brought move to the pass's time; others do not.
        store
            .touch_harvested_networks(&t, "acme", 500)
            .await
            .unwrap();
        let nets = vec![
            "Organization/acme-net".to_owned(),
            "Organization/other".to_owned(),
        ];
        let mut activity = store.network_activity(&t, &nets).await.unwrap();
        activity.sort();
        let micros: Vec<(String, i64)> = activity
            .into_iter()
            .map(|(n, at)| (n, at.timestamp_micros()))
            .collect();
        assert_eq!(
            micros,
            vec![
                ("Organization/acme-net".into(), 500),
                ("Organization/other".into(), 100)
            ],
            "[{be}]"
        );

        // The state is replaced only from the state expected.
        assert!(
            !store
                .replace_source_state(&t, "acme", "{}", "{\"b\":2}")
                .await
                .unwrap(),
            "[{be}]"
        );
        assert!(
            store
                .replace_source_state(&t, "acme", "{\"a\":1}", "{\"b\":2}")
                .await
                .unwrap(),
            "[{be}]"
        );
        assert_eq!(
            store.source(&t, "acme").await.unwrap().unwrap().state,
            "{\"b\":2}",
            "[{be}]"
        );
        // Replacing the setting keeps the state; removing forgets what it brought.
        store
            .put_source(&SourceRow {
                setting: "{\"x\":1}".into(),
                ..source.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            store.source(&t, "acme").await.unwrap().unwrap().state,
            "{\"b\":2}",
            "[{be}]"
        );
        assert!(store.remove_source(&t, "acme").await.unwrap(), "[{be}]");
        assert!(
            store.harvested(&t, "acme").await.unwrap().is_empty(),
            "[{be}]"
        );
        assert!(!store.remove_source(&t, "acme").await.unwrap(), "[{be}]");
    }
}

#[tokio::test]
async fn due_verifications_are_taken_once() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap();
        let t = TenantName::default_tenant();
        let due = |id: &'static str, at: i64| Schedule {
            resource_type: "Practitioner",
            id,
            due_at: at,
            action: "retry",
            attempt: 1,
            attester: Some("client-1"),
        };
        store
            .schedule_verification(&t, &due("a", 10))
            .await
            .unwrap();
        store
            .schedule_verification(&t, &due("b", 1_000))
            .await
            .unwrap();
        // Rescheduling replaces.
        store
            .schedule_verification(&t, &due("a", 20))
            .await
            .unwrap();
        let now = store.due_verifications(100, 10).await.unwrap();
        assert_eq!(now.len(), 1, "[{be}] {now:?}");
        assert_eq!((now[0].id.as_str(), now[0].due_at), ("a", 20), "[{be}]");
        assert_eq!(now[0].attester.as_deref(), Some("client-1"), "[{be}]");
        assert!(store.take_due(&now[0]).await.unwrap(), "[{be}]");
        assert!(!store.take_due(&now[0]).await.unwrap(), "[{be}] taken once");
        assert!(
            store.due_verifications(100, 10).await.unwrap().is_empty(),
            "[{be}]"
        );
        // Settings: one per tenant and name, replaced by the next.
        store
            .set_tenant_setting(&t, "verification", "{\"x\":1}")
            .await
            .unwrap();
        store
            .set_tenant_setting(&t, "verification", "{\"x\":2}")
            .await
            .unwrap();
        store
            .set_tenant_setting(&t, "validation", "{\"y\":1}")
            .await
            .unwrap();
        assert_eq!(
            store
                .tenant_setting(&t, "validation")
                .await
                .unwrap()
                .as_deref(),
            Some("{\"y\":1}")
        );
        assert_eq!(store.tenant_setting(&t, "other").await.unwrap(), None);
        assert_eq!(
            store
                .tenant_setting(&t, "verification")
                .await
                .unwrap()
                .as_deref(),
            Some("{\"x\":2}")
        );
    }
}
