//! Deferred index builds for a first bulk load (`Store::defer_search_indexes`), on every
//! backend: only into empty search tables, searches stay correct while indexes are missing,
//! every dropped index comes back, and an interrupted load is repaired by the next start.

mod search_support;

use serde_json::json;

use search_support::{set, stores};

#[tokio::test]
async fn indexes_are_deferred_only_for_empty_tables_and_all_come_back() {
    for c in stores().await {
        let be = c.be;
        let dropped = c.store.defer_search_indexes().await.expect("defer");
        assert!(dropped >= 20, "[{be}] only {dropped} indexes deferred");
        // A second call finds nothing left to drop.
        assert_eq!(
            c.store.defer_search_indexes().await.expect("defer"),
            0,
            "[{be}]"
        );
        assert_eq!(
            c.store.build_deferred_indexes().await.expect("build"),
            dropped,
            "[{be}] every deferred index is built"
        );
        assert_eq!(
            c.store.build_deferred_indexes().await.expect("build"),
            0,
            "[{be}]"
        );
        // The tables are still empty and every index is back: the same number is dropped.
        assert_eq!(
            c.store.defer_search_indexes().await.expect("defer"),
            dropped,
            "[{be}]"
        );
        c.store.build_deferred_indexes().await.expect("build");

        c.put(json!({"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Ng"}]}))
            .await;
        assert_eq!(
            c.store.defer_search_indexes().await.expect("defer"),
            0,
            "[{be}] tables holding rows keep their indexes"
        );
    }
}

#[tokio::test]
async fn searches_are_right_while_deferred_and_a_restart_rebuilds_what_a_killed_load_left() {
    for mut c in stores().await {
        let be = c.be;
        let dropped = c.store.defer_search_indexes().await.expect("defer");
        assert!(dropped > 0, "[{be}]");
        for (id, family, city) in [
            ("a", "Ng", "Omaha"),
            ("b", "Nguyen", "Lincoln"),
            ("c", "Smith", "Omaha"),
        ] {
            c.put(
                json!({"resourceType": "Practitioner", "id": id, "name": [{"family": family}],
                         "address": [{"city": city}]}),
            )
            .await;
        }
        assert_eq!(
            c.ids("Practitioner", "name=ng").await,
            set(&["a", "b"]),
            "[{be}]"
        );
        assert_eq!(
            c.ids("Practitioner", "address-city=Omaha").await,
            set(&["a", "c"]),
            "[{be}]"
        );

        // The load is "killed" here: nothing builds the indexes until the next start.
        c.reconnect().await;
        assert_eq!(
            c.store.build_deferred_indexes().await.expect("build"),
            0,
            "[{be}] the restart built every deferred index"
        );
        assert_eq!(
            c.ids("Practitioner", "name=ng").await,
            set(&["a", "b"]),
            "[{be}]"
        );
        assert_eq!(
            c.ids("Practitioner", "address-city=Omaha").await,
            set(&["a", "c"]),
            "[{be}]"
        );
    }
}
