//! History scopes, `_since`, `_at`, `_count` and keyset paging.

use std::collections::BTreeSet;
use std::time::Duration;

use store::*;

use crate::support::*;

/// Writes a small, timestamp-separated history and checks every history scope and filter.
#[tokio::test]
async fn history_scopes_since_at_and_count() {
    for Ctx { store: s, be, .. } in stores().await {
        let step = || tokio::time::sleep(Duration::from_millis(3));
        let a1 = put(&s, &def(), "Practitioner", "a", 1)
            .await
            .record
            .last_updated;
        step().await;
        let b1 = put(&s, &def(), "Organization", "b", 1)
            .await
            .record
            .last_updated;
        step().await;
        let a2 = put(&s, &def(), "Practitioner", "a", 2)
            .await
            .record
            .last_updated;
        step().await;
        let DeleteOutcome::Deleted {
            last_updated: b2, ..
        } = s
            .delete(&def(), "Organization", "b", Precondition::None)
            .await
            .unwrap()
        else {
            panic!("[{be}] delete b");
        };
        step().await;
        put(&s, &def(), "Practitioner", "c", 1).await;
        assert!(a1 < b1 && b1 < a2 && a2 < b2, "[{be}] timestamps separated");

        let all = s
            .history(&def(), &hq(HistoryScope::System, 100))
            .await
            .unwrap();
        assert_eq!(
            keys(&all.entries),
            vec![
                k("Practitioner", "c", 1),
                k("Organization", "b", 2),
                k("Practitioner", "a", 2),
                k("Organization", "b", 1),
                k("Practitioner", "a", 1)
            ],
            "[{be}] system history, newest first"
        );
        assert_eq!((all.total, all.next_before_seq), (5, None), "[{be}]");
        assert!(
            all.entries[1].deleted && all.entries[1].body.is_none(),
            "[{be}] tombstone entry"
        );

        let ty = s
            .history(&def(), &hq(HistoryScope::Type("Practitioner".into()), 100))
            .await
            .unwrap();
        assert_eq!(
            keys(&ty.entries),
            vec![
                k("Practitioner", "c", 1),
                k("Practitioner", "a", 2),
                k("Practitioner", "a", 1)
            ],
            "[{be}] type history"
        );
        let inst = s
            .history(
                &def(),
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "a".into()),
                    100,
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            keys(&inst.entries),
            vec![k("Practitioner", "a", 2), k("Practitioner", "a", 1)],
            "[{be}]"
        );
        assert_eq!(
            parse(&inst.entries[1])["n"],
            1,
            "[{be}] history carries each version's body"
        );

        let mut q = hq(HistoryScope::System, 100);
        q.since = Some(a2);
        let since = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&since.entries),
            vec![
                k("Practitioner", "c", 1),
                k("Organization", "b", 2),
                k("Practitioner", "a", 2)
            ],
            "[{be}] _since is inclusive"
        );
        assert_eq!(since.total, 3, "[{be}]");

        // At a2: a was at version 2 (just written), b at version 1, c did not exist yet.
        let mut q = hq(HistoryScope::System, 100);
        q.at = Some(a2.into());
        let at = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&at.entries),
            vec![k("Practitioner", "a", 2), k("Organization", "b", 1)],
            "[{be}] _at"
        );
        // Between b1 and a2: a still at version 1.
        q.at = Some((a2 - chrono::Duration::microseconds(1)).into());
        let at = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&at.entries),
            vec![k("Organization", "b", 1), k("Practitioner", "a", 1)],
            "[{be}] _at just before a2"
        );
        // After the delete: b's current version is its tombstone.
        q.at = Some(b2.into());
        let at = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&at.entries),
            vec![k("Organization", "b", 2), k("Practitioner", "a", 2)],
            "[{be}] _at after the delete"
        );
        q.at = Some((a1 - chrono::Duration::microseconds(1)).into());
        assert_eq!(
            s.history(&def(), &q).await.unwrap().total,
            0,
            "[{be}] _at before anything"
        );

        let mut q = hq(HistoryScope::Type("Organization".into()), 100);
        q.since = Some(b1);
        q.at = Some(b1.into());
        let both = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&both.entries),
            vec![k("Organization", "b", 1)],
            "[{be}] _since with _at"
        );

        let zero = s
            .history(&def(), &hq(HistoryScope::System, 0))
            .await
            .unwrap();
        assert_eq!(
            (zero.entries.len(), zero.total, zero.next_before_seq),
            (0, 5, None),
            "[{be}] _count=0"
        );
        let two = s
            .history(&def(), &hq(HistoryScope::System, 2))
            .await
            .unwrap();
        assert_eq!(
            keys(&two.entries),
            keys(&all.entries[..2]),
            "[{be}] _count=2"
        );
        assert_eq!(two.total, 5, "[{be}] total counts every page");
        assert!(two.next_before_seq.is_some(), "[{be}]");
    }
}

#[tokio::test]
async fn history_pages_have_no_duplicates_and_no_gaps() {
    for Ctx { store: s, be, .. } in stores().await {
        for n in 0..7 {
            put(&s, &def(), "Practitioner", &format!("p{}", n % 3), n).await;
            put(&s, &def(), "Location", "l", n).await;
        }
        for scope in [
            HistoryScope::System,
            HistoryScope::Type("Practitioner".into()),
        ] {
            let full = s.history(&def(), &hq(scope.clone(), 1000)).await.unwrap();
            let mut paged = Vec::new();
            let mut q = hq(scope.clone(), 3);
            let mut pages = 0;
            loop {
                let page = s.history(&def(), &q).await.unwrap();
                assert_eq!(page.total, full.total, "[{be}] total on every page");
                assert!(page.entries.len() <= 3, "[{be}]");
                paged.extend(keys(&page.entries));
                pages += 1;
                match page.next_before_seq {
                    Some(seq) => q.before_seq = Some(seq),
                    None => break,
                }
                assert!(pages < 100, "[{be}] paging does not end");
            }
            assert_eq!(
                paged,
                keys(&full.entries),
                "[{be}] {scope:?}: pages concatenate to the full history"
            );
            let distinct: BTreeSet<_> = paged.iter().collect();
            assert_eq!(distinct.len(), paged.len(), "[{be}] duplicates");
            let want = if scope == HistoryScope::System { 14 } else { 7 };
            assert_eq!(
                (paged.len(), full.total),
                (want, want as u64),
                "[{be}] {scope:?}"
            );
            assert_eq!(pages, want.div_ceil(3), "[{be}] {scope:?}: page count");
        }
    }
}
