//! What authorization keeps (migration 0011): a tenant's access policy, its token-signing
//! keys with rotation, clients with one UDAP registration per issuer and community,
//! assertion ids accepted once until they expire, and the event record; all per tenant, and
//! gone with the tenant.

use serde_json::json;
use store::*;

use crate::support::*;

fn micros_from_now(seconds: i64) -> i64 {
    chrono::Utc::now().timestamp_micros() + seconds * 1_000_000
}

#[tokio::test]
async fn access_policy_defaults_to_none_and_is_per_tenant() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        let other = TenantName::parse("other").unwrap();
        s.create_tenant(&other).await.unwrap();
        assert_eq!(s.anonymous_read(&t).await.unwrap(), None, "[{be}]");
        s.set_anonymous_read(&t, false).await.unwrap();
        assert_eq!(s.anonymous_read(&t).await.unwrap(), Some(false), "[{be}]");
        assert_eq!(s.anonymous_read(&other).await.unwrap(), None, "[{be}]");
        s.set_anonymous_read(&t, true).await.unwrap();
        assert_eq!(s.anonymous_read(&t).await.unwrap(), Some(true), "[{be}]");
        let gone = TenantName::parse("gone").unwrap();
        assert!(
            matches!(
                s.set_anonymous_read(&gone, true).await,
                Err(StoreError::UnknownTenant(_))
            ),
            "[{be}] a policy for a tenant that does not exist"
        );
    }
}

#[tokio::test]
async fn a_rotated_signing_key_stays_until_dropped_and_the_first_key_is_created_once() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        s.add_signing_key(&t, "k1", "secret-1", true).await.unwrap();
        // A second "first key" loses: the tenant already has one in use.
        s.add_signing_key(&t, "k1b", "secret-1b", true)
            .await
            .unwrap();
        let keys = s.signing_keys(&t).await.unwrap();
        assert_eq!(keys.len(), 1, "[{be}] {keys:?}");
        assert_eq!(keys[0].kid, "k1");
        assert!(
            !format!("{keys:?}").contains("secret"),
            "[{be}] Debug shows a private key"
        );

        s.add_signing_key(&t, "k2", "secret-2", false)
            .await
            .unwrap();
        let keys = s.signing_keys(&t).await.unwrap();
        let in_use: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
        assert_eq!(in_use.len(), 1, "[{be}] {keys:?}");
        assert_eq!(in_use[0].kid, "k2");
        assert_eq!(keys.len(), 2, "[{be}] the retired key is kept");
        s.drop_retired_keys(&t, micros_from_now(1)).await.unwrap();
        let keys = s.signing_keys(&t).await.unwrap();
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["k2"],
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn one_udap_registration_per_issuer_and_community() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        let id = |c, i| UdapIdentity {
            community: c,
            iss: i,
        };
        s.put_client(&t, "c1", Some(id("A", "https://app")), &json!({"n": 1}))
            .await
            .unwrap();
        // The same client id again replaces its record.
        s.put_client(&t, "c1", Some(id("A", "https://app")), &json!({"n": 2}))
            .await
            .unwrap();
        let found = s
            .udap_client(&t, id("A", "https://app"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.key.as_str(), &found.record),
            ("c1", &json!({"n": 2})),
            "[{be}]"
        );
        // Another community: a separate registration.
        s.put_client(&t, "c2", Some(id("B", "https://app")), &json!({}))
            .await
            .unwrap();
        // Another client id claiming the same issuer and community is refused.
        let clash = s
            .put_client(&t, "c3", Some(id("A", "https://app")), &json!({}))
            .await;
        assert!(
            matches!(clash, Err(StoreError::Conflict(_))),
            "[{be}] {clash:?}"
        );
        // Operator clients (no UDAP identity) never clash.
        s.put_client(&t, "s1", None, &json!({})).await.unwrap();
        s.put_client(&t, "s2", None, &json!({})).await.unwrap();
        let all: Vec<String> = s
            .clients(&t)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(all.len(), 4, "[{be}] {all:?}");
        assert!(s.delete_client(&t, "c1").await.unwrap());
        assert!(
            !s.delete_client(&t, "c1").await.unwrap(),
            "[{be}] deleted twice"
        );
        assert!(s.client(&t, "c1").await.unwrap().is_none());
        assert!(s
            .udap_client(&t, id("A", "https://app"))
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn a_jti_is_accepted_once_until_it_expires() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        assert!(
            s.record_jti(&t, "c", "j1", micros_from_now(60))
                .await
                .unwrap(),
            "[{be}]"
        );
        assert!(
            !s.record_jti(&t, "c", "j1", micros_from_now(60))
                .await
                .unwrap(),
            "[{be}] replay"
        );
        // Another issuer may use the same id.
        assert!(
            s.record_jti(&t, "d", "j1", micros_from_now(60))
                .await
                .unwrap(),
            "[{be}]"
        );
        // An expired id is accepted again.
        assert!(s
            .record_jti(&t, "c", "j2", micros_from_now(-1))
            .await
            .unwrap());
        assert!(
            s.record_jti(&t, "c", "j2", micros_from_now(60))
                .await
                .unwrap(),
            "[{be}] expired id"
        );
        assert!(
            !s.record_jti(&t, "c", "j2", micros_from_now(60))
                .await
                .unwrap(),
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn deleting_a_tenant_forgets_its_authorization_data() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = TenantName::parse("temp").unwrap();
        s.create_tenant(&t).await.unwrap();
        s.set_anonymous_read(&t, false).await.unwrap();
        s.add_signing_key(&t, "k", "x", true).await.unwrap();
        s.put_client(&t, "c", None, &json!({})).await.unwrap();
        s.put_community(&t, "A", &json!({"uri": "u"}))
            .await
            .unwrap();
        let event = AuthEvent {
            at: 1,
            event: "token".into(),
            client_id: Some("c".into()),
            outcome: "success".into(),
            reason: None,
        };
        s.record_auth_event(&t, &event).await.unwrap();
        assert_eq!(s.auth_events(&t, 10).await.unwrap(), vec![event], "[{be}]");
        s.delete_tenant(&t).await.unwrap();
        s.create_tenant(&t).await.unwrap();
        assert_eq!(s.anonymous_read(&t).await.unwrap(), None, "[{be}]");
        assert!(s.signing_keys(&t).await.unwrap().is_empty(), "[{be}]");
        assert!(s.clients(&t).await.unwrap().is_empty(), "[{be}]");
        assert!(s.communities(&t).await.unwrap().is_empty(), "[{be}]");
        assert!(s.auth_events(&t, 10).await.unwrap().is_empty(), "[{be}]");
    }
}
