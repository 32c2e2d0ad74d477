//! Change events (`Store::change_events`): one per version written or deleted, by every write
//! path, numbered per tenant in commit order, kept for the tenant's retention. On every
//! database `testkit::test_databases()` provides; assertion messages start with the backend.

use serde_json::json;
use store::*;

struct Ctx {
    store: Store,
    be: &'static str,
    _db: testkit::TestDb,
}

async fn stores() -> Vec<Ctx> {
    let mut out = Vec::new();
    for db in testkit::test_databases().await {
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{}] connect: {e}", db.backend));
        out.push(Ctx {
            store,
            be: db.backend,
            _db: db,
        });
    }
    out
}

fn def() -> TenantName {
    TenantName::default_tenant()
}

fn req(id: &str, n: i64, method: Method) -> WriteRequest {
    let resource = json!({"resourceType": "Practitioner", "n": n});
    WriteRequest {
        resource_type: "Practitioner".into(),
        id: id.into(),
        resource: resource.as_object().cloned().unwrap_or_default(),
        precondition: Precondition::None,
        method,
    }
}

fn batch(reqs: Vec<WriteRequest>) -> Vec<BatchWrite> {
    reqs.into_iter()
        .map(|request| BatchWrite {
            request,
            index: Vec::new(),
            restriction: None,
            hidden: Default::default(),
        })
        .collect()
}

async fn all(s: &Store, t: &TenantName, filter: &EventFilter) -> Vec<ChangeEvent> {
    s.change_events(t, filter, EventOrder::OldestFirst, 10_000)
        .await
        .unwrap()
}

/// (number, id, version, action, method, agent) of each event.
type Row = (i64, String, i64, ChangeAction, Method, Agent);

fn rows(events: &[ChangeEvent]) -> Vec<Row> {
    events
        .iter()
        .map(|e| {
            (
                e.number,
                e.id.clone(),
                e.version,
                e.action,
                e.method,
                e.agent.clone(),
            )
        })
        .collect()
}

fn row(n: i64, id: &str, v: i64, a: ChangeAction, m: Method, agent: &Agent) -> Row {
    (n, id.to_owned(), v, a, m, agent.clone())
}

#[tokio::test]
async fn every_write_path_records_one_event_per_version_in_order() {
    use ChangeAction::*;
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        let client = Agent::Client("app-1".into());
        // A single write and an update, by a client.
        let mut tx = s.begin(&t).await.unwrap();
        tx.set_agent(client.clone());
        tx.write(req("a", 1, Method::Post)).await.unwrap();
        tx.write(req("a", 2, Method::Patch)).await.unwrap();
        tx.commit().await.unwrap();
        // A batch: one new, one update, one unchanged (no version, no event).
        let mut tx = s.begin(&t).await.unwrap();
        tx.set_agent(Agent::Anonymous);
        let writes = batch(vec![
            req("b", 1, Method::Put),
            req("a", 3, Method::Put),
            req("a", 3, Method::Put),
        ]);
        let out = tx
            .write_batch(writes, OnUnchanged::KeepCurrent)
            .await
            .unwrap();
        assert!(out[2].unchanged, "[{be}]");
        tx.commit().await.unwrap();
        // A delete (fhirdir's own: no agent set), a second delete (nothing), a write after it.
        s.delete(&t, "Practitioner", "b", Precondition::None)
            .await
            .unwrap();
        s.delete(&t, "Practitioner", "b", Precondition::None)
            .await
            .unwrap();
        s.write(&t, req("b", 5, Method::Put)).await.unwrap();
        // Rolled back and dropped transactions leave no event and take no number.
        let mut tx = s.begin(&t).await.unwrap();
        tx.write(req("c", 1, Method::Put)).await.unwrap();
        tx.rollback().await.unwrap();
        let mut tx = s.begin(&t).await.unwrap();
        tx.write(req("c", 1, Method::Put)).await.unwrap();
        drop(tx);
        s.write(&t, req("d", 1, Method::Post)).await.unwrap();

        let sys = Agent::System;
        let anon = Agent::Anonymous;
        let expected = vec![
            row(1, "a", 1, Create, Method::Post, &client),
            row(2, "a", 2, Update, Method::Patch, &client),
            row(3, "b", 1, Create, Method::Put, &anon),
            row(4, "a", 3, Update, Method::Put, &anon),
            row(5, "b", 2, Delete, Method::Delete, &sys),
            row(6, "b", 3, Create, Method::Put, &sys),
            row(7, "d", 1, Create, Method::Post, &sys),
        ];
        let events = all(&s, &t, &EventFilter::default()).await;
        assert_eq!(rows(&events), expected, "[{be}]");
        // Each event's time is its version's lastUpdated.
        let a3 = s.vread(&t, "Practitioner", "a", 3).await.unwrap().unwrap();
        assert_eq!(events[3].at, a3.last_updated, "[{be}]");

        // Newest first, with a limit.
        let newest = s
            .change_events(&t, &EventFilter::default(), EventOrder::NewestFirst, 2)
            .await
            .unwrap();
        assert_eq!(
            newest.iter().map(|e| e.number).collect::<Vec<_>>(),
            [7, 6],
            "[{be}]"
        );
        // Filters: each alone, then together.
        let numbers = |f: EventFilter| {
            let s = s.clone();
            let t = t.clone();
            async move {
                let events = all(&s, &t, &f).await;
                let count = s.count_change_events(&t, &f).await.unwrap();
                assert_eq!(count, events.len() as u64, "[{be}] count of {f:?}");
                events.iter().map(|e| e.number).collect::<Vec<_>>()
            }
        };
        let entity = |id: &str, v: Option<i64>| ("Practitioner".to_owned(), id.to_owned(), v);
        let f = EventFilter {
            entities: vec![entity("b", None)],
            ..Default::default()
        };
        assert_eq!(numbers(f).await, [3, 5, 6], "[{be}]");
        let f = EventFilter {
            entities: vec![entity("b", Some(2)), entity("a", Some(1))],
            ..Default::default()
        };
        assert_eq!(numbers(f).await, [1, 5], "[{be}]");
        let f = EventFilter {
            agents: vec![client.clone()],
            ..Default::default()
        };
        assert_eq!(numbers(f).await, [1, 2], "[{be}]");
        let f = EventFilter {
            actions: vec![Delete, Create],
            methods: vec![Method::Put, Method::Delete],
            ..Default::default()
        };
        assert_eq!(numbers(f).await, [3, 5, 6], "[{be}]");
        let f = EventFilter {
            after_number: Some(2),
            below_number: Some(6),
            ..Default::default()
        };
        assert_eq!(numbers(f).await, [3, 4, 5], "[{be}]");
        let at = |n: usize| events[n].at.timestamp_micros();
        let f = EventFilter {
            at_least: vec![at(2)],
            before: vec![at(4)],
            ..Default::default()
        };
        assert_eq!(numbers(f).await, [3, 4], "[{be}]");
        let f = EventFilter {
            resource_types: vec!["Organization".into()],
            ..Default::default()
        };
        assert_eq!(numbers(f).await, Vec::<i64>::new(), "[{be}]");
    }
}

#[tokio::test]
async fn tenants_number_and_see_only_their_own_events() {
    for Ctx { store: s, be, .. } in stores().await {
        let (a, b) = (def(), TenantName::parse("other").unwrap());
        s.create_tenant(&b).await.unwrap();
        s.write(&a, req("x", 1, Method::Put)).await.unwrap();
        s.write(&b, req("x", 1, Method::Put)).await.unwrap();
        s.write(&b, req("y", 1, Method::Put)).await.unwrap();
        let ids = |events: Vec<ChangeEvent>| {
            events
                .into_iter()
                .map(|e| (e.number, e.id))
                .collect::<Vec<_>>()
        };
        let f = EventFilter::default();
        assert_eq!(ids(all(&s, &a, &f).await), [(1, "x".into())], "[{be}]");
        assert_eq!(
            ids(all(&s, &b, &f).await),
            [(1, "x".into()), (2, "y".into())],
            "[{be}]"
        );
        // A tenant deleted and created again goes on from its last number: a replica that
        // followed it never sees a number twice.
        s.delete_tenant(&b).await.unwrap();
        assert!(all(&s, &b, &f).await.is_empty(), "[{be}]");
        s.create_tenant(&b).await.unwrap();
        s.write(&b, req("z", 1, Method::Put)).await.unwrap();
        assert_eq!(ids(all(&s, &b, &f).await), [(3, "z".into())], "[{be}]");
    }
}

/// A reader that has seen event N never later finds a smaller number appear: at every look,
/// the numbers committed are exactly 1..=max, while writers commit concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_commit_their_numbers_in_order() {
    const WRITERS: usize = 6;
    const TRANSACTIONS: usize = 15;
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (s, t, done) = (s.clone(), t.clone(), done.clone());
            tokio::spawn(async move {
                let mut looks = 0;
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                    let numbers: Vec<i64> = all(&s, &t, &EventFilter::default())
                        .await
                        .iter()
                        .map(|e| e.number)
                        .collect();
                    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
                    assert_eq!(numbers, expected, "[{be}] a gap below a committed number");
                    looks += 1;
                    if finished {
                        return (looks, numbers.len());
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let (s, t) = (s.clone(), t.clone());
            tasks.spawn(async move {
                for i in 0..TRANSACTIONS {
                    let mut tx = s.begin(&t).await?;
                    tx.write(req(&format!("w{w}-{i}"), 1, Method::Put)).await?;
                    if i % 2 == 0 {
                        tx.write(req(&format!("w{w}-{i}-b"), 1, Method::Put))
                            .await?;
                    }
                    tx.commit().await?;
                }
                Ok::<_, StoreError>(())
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task").unwrap_or_else(|e| panic!("[{be}] {e}"));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let (looks, seen) = reader.await.expect("reader");
        let per_writer = TRANSACTIONS + TRANSACTIONS.div_ceil(2);
        assert_eq!(seen, WRITERS * per_writer, "[{be}]");
        assert!(looks > 1, "[{be}] the reader looked {looks} times");
    }
}

#[tokio::test]
async fn retention_trims_only_events_older_than_it() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        s.write(&t, req("a", 1, Method::Put)).await.unwrap();
        s.write(&t, req("a", 2, Method::Put)).await.unwrap();
        // A subscription numbered both events for itself.
        let mut tx = s.begin(&t).await.unwrap();
        tx.set_agent(Agent::Client("c1".into()));
        tx.note_subscription("sub", "requested").await.unwrap();
        tx.commit().await.unwrap();
        let mut state = s
            .subscription_states(&t, Some("sub"))
            .await
            .unwrap()
            .remove(0);
        state.status = "active".into();
        state.events_since_start = 2;
        let mut tx = s.begin(&t).await.unwrap();
        let saved = tx
            .save_subscription_state(&state, &[(1, 1), (2, 2)], "requested")
            .await
            .unwrap();
        assert!(saved, "[{be}]");
        tx.commit().await.unwrap();
        assert_eq!(
            s.subscription_events(&t, "sub", 1, 9).await.unwrap().len(),
            2,
            "[{be}]"
        );
        let mut tx = s.begin(&t).await.unwrap();
        assert_eq!(
            tx.event_retention_days().await.unwrap(),
            DEFAULT_RETENTION_DAYS,
            "[{be}]"
        );
        tx.set_event_retention_days(2).await.unwrap();
        let now = chrono::Utc::now();
        assert_eq!(tx.trim_events(now).await.unwrap(), 0, "[{be}]");
        let later = now + chrono::Duration::days(2) + chrono::Duration::minutes(1);
        assert_eq!(tx.trim_events(later).await.unwrap(), 2, "[{be}]");
        tx.commit().await.unwrap();
        assert!(
            all(&s, &t, &EventFilter::default()).await.is_empty(),
            "[{be}]"
        );
        // The subscription's numbers of trimmed events go with them.
        assert!(
            s.subscription_events(&t, "sub", 1, 9)
                .await
                .unwrap()
                .is_empty(),
            "[{be}]"
        );
        // Numbers go on after a trim; the resource's history is untouched.
        s.write(&t, req("a", 3, Method::Put)).await.unwrap();
        let events = all(&s, &t, &EventFilter::default()).await;
        assert_eq!(
            events.iter().map(|e| e.number).collect::<Vec<_>>(),
            [3],
            "[{be}]"
        );
        let a1 = s.vread(&t, "Practitioner", "a", 1).await.unwrap();
        assert!(a1.is_some(), "[{be}] history trimmed with the events");
    }
}

#[tokio::test]
async fn marks_order_with_the_changes_and_a_committed_write_is_not_late() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        let first = s.change_mark(&t).await.unwrap();
        s.write(&t, req("m", 1, Method::Put)).await.unwrap();
        let second = s.change_mark(&t).await.unwrap();
        let third = s.change_mark(&t).await.unwrap();
        assert!(
            first < second && second < third,
            "[{be}] {first} {second} {third}"
        );
        // The write began and committed between the first two marks: not late for either.
        assert_eq!(s.late_changes(&t, first).await.unwrap(), [], "[{be}]");
        assert_eq!(s.late_changes(&t, second).await.unwrap(), [], "[{be}]");
    }
}
