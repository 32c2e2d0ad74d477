//! PATCH entries in transaction and batch Bundles: a JSON Patch travels as a `Binary`, a
//! FHIRPath Patch as `Parameters`.

use super::*;

/// Standard base64 (RFC 4648) with padding, for a JSON Patch carried by a Binary.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

/// A transaction Bundle of `entries`.
fn tx(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn patch_entry(url: &str, resource: Value) -> Value {
    json!({"request": {"method": "PATCH", "url": url}, "resource": resource})
}

/// A JSON Patch carried by a Binary, as a transaction entry's resource.
fn binary(ops: &Value) -> Value {
    json!({"resourceType": "Binary", "contentType": JSON_PATCH,
           "data": base64(ops.to_string().as_bytes())})
}

#[tokio::test]
async fn patch_inside_a_transaction_is_applied_or_rolled_back_with_the_rest() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        for id in ["t1", "t2", "t3", "t4"] {
            put_curie(&app, id).await;
        }
        let mut npi = curie("t3");
        npi["identifier"] = json!([{"system": NPI, "value": "1234567893"}]);
        app.put("/fhir/default/Practitioner/t3", &npi)
            .await
            .status(200);
        let to_other = json!([{"op": "replace", "path": "/gender", "value": "other"}]);
        let fhirpath = parameters(vec![op(
            "replace",
            vec![
                path("Practitioner.gender"),
                part("value", "valueCode", json!("male")),
            ],
        )]);
        let r = app
            .post(
                "/fhir/default",
                &tx(vec![
                    patch_entry("Practitioner/t1", binary(&to_other)),
                    patch_entry("Practitioner/t2", fhirpath.clone()),
                    patch_entry(
                        &format!("Practitioner?identifier={NPI}|1234567893"),
                        binary(&to_other),
                    ),
                ]),
            )
            .await
            .status(200);
        let es = common::entries(&r.json());
        assert_eq!(es.len(), 3, "[{b}] {}", r.text());
        for (e, v) in es.iter().zip([2, 2, 3]) {
            assert!(
                e["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("200"),
                "[{b}] {e}"
            );
            assert_eq!(e["response"]["etag"], format!("W/\"{v}\""), "[{b}] {e}");
        }
        assert_eq!(read(&app, "t1").await.1["gender"], "other", "[{b}]");
        assert_eq!(read(&app, "t2").await.1["gender"], "male", "[{b}]");
        let (v, t3) = read(&app, "t3").await;
        assert_eq!((v, &t3["gender"]), (3, &json!("other")), "[{b}]");

        // A failing PATCH as the last entry undoes the whole transaction.
        let failing = [
            (
                "test fails",
                patch_entry(
                    "Practitioner/t4",
                    binary(&json!([{"op": "test", "path": "/gender", "value": "male"}])),
                ),
                422,
            ),
            (
                "stale ifMatch",
                json!({"request": {"method": "PATCH", "url": "Practitioner/t4", "ifMatch": "W/\"3\""},
                       "resource": fhirpath}),
                412,
            ),
            (
                "conditional, no match",
                patch_entry(
                    &format!("Practitioner?identifier={NPI}|0"),
                    binary(&to_other),
                ),
                404,
            ),
            (
                "conditional, several",
                patch_entry("Practitioner?family=Curie", binary(&to_other)),
                412,
            ),
            (
                "changes the id",
                patch_entry(
                    "Practitioner/t4",
                    binary(&json!([{"op": "replace", "path": "/id", "value": "zz"}])),
                ),
                422,
            ),
        ];
        for (what, last, status) in failing {
            let r = app
                .post(
                    "/fhir/default",
                    &tx(vec![
                        json!({"fullUrl": "urn:uuid:7f000000-0000-4000-8000-000000000001",
                               "request": {"method": "POST", "url": "Practitioner"},
                               "resource": {"resourceType": "Practitioner",
                                            "name": [{"family": "PatchTxSide"}]}}),
                        patch_entry("Practitioner/t1", binary(&to_other)),
                        last,
                    ]),
                )
                .await;
            let code = r.code;
            assert_eq!(code, status, "[{b}] {what}: {}", r.text());
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let diag = r.outcome(code, &issue);
            assert!(diag.contains("entry 2"), "[{b}] {what}: {diag}");
            assert_unchanged(&app, "t4", what).await;
            assert_eq!(read(&app, "t1").await.0, 2, "[{b}] {what}: t1 patched");
            let side = app
                .get("/fhir/default/Practitioner?family=PatchTxSide")
                .await
                .status(200)
                .json();
            assert_eq!(side["total"], 0, "[{b}] {what}: {side}");
        }
    }
}

#[tokio::test]
async fn patch_entries_of_a_batch_succeed_or_fail_on_their_own() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "b1").await;
        put_curie(&app, "b2").await;
        let to_other = json!([{"op": "replace", "path": "/gender", "value": "other"}]);
        let failing = json!([{"op": "test", "path": "/gender", "value": "male"}]);
        let r = app
            .post(
                "/fhir/default",
                &json!({"resourceType": "Bundle", "type": "batch", "entry": [
                    patch_entry("Practitioner/b1", binary(&to_other)),
                    patch_entry("Practitioner/b2", binary(&failing)),
                    patch_entry("Practitioner/none", binary(&to_other)),
                    patch_entry("Practitioner/b2", parameters(vec![op("replace", vec![
                        path("Practitioner.active"), part("value", "valueBoolean", json!(false))])])),
                ]}),
            )
            .await
            .status(200);
        let bundle = r.json();
        assert_eq!(bundle["type"], "batch-response", "[{b}] {bundle}");
        let es = common::entries(&bundle);
        let statuses: Vec<&str> = es
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(statuses.len(), 4, "[{b}] {bundle}");
        for (s, expected) in statuses.iter().zip(["200", "422", "404", "200"]) {
            assert!(s.starts_with(expected), "[{b}] {statuses:?}");
        }
        assert_eq!(
            es[1]["response"]["outcome"]["resourceType"],
            "OperationOutcome"
        );
        assert_eq!(read(&app, "b1").await.1["gender"], "other", "[{b}]");
        let (v, b2) = read(&app, "b2").await;
        assert_eq!(
            (v, &b2["gender"], &b2["active"]),
            (2, &json!("female"), &json!(false)),
            "[{b}]"
        );
    }
}
