//! Black-box `phonetic` search over HTTP, per backend: Practitioner names match by sound
//! (Soundex) on their family and given names only, Organization names word by word, a value
//! with no letter to code is a 400 OperationOutcome, and `:missing` still works
//! (<https://hl7.org/fhir/R4/practitioner.html#search>: "a portion of either family or given
//! name using some kind of phonetic matching algorithm").

mod common;

use serde_json::{json, Value};
use server::ServerConfig;

use common::{entries, spawn_app, test_databases, TestApp};

async fn ids(app: &TestApp, path: &str) -> Vec<String> {
    let bundle = app.get(path).await.status(200).json();
    let mut ids: Vec<String> = entries(&bundle)
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

fn practitioner(id: &str, name: Value) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "name": [name]})
}

#[tokio::test]
async fn phonetic_matches_names_by_sound() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        for r in [
            practitioner(
                "smith",
                json!({"family": "Smith", "given": ["Robert"], "prefix": ["Dr"], "suffix": ["MD"]}),
            ),
            practitioner("schmidt", json!({"family": "Schmidt", "given": ["Anna"]})),
            practitioner(
                "vanderberg",
                json!({"family": "Van Der Berg", "given": ["Marie"]}),
            ),
            practitioner("textonly", json!({"text": "Robert Smith"})),
            json!({"resourceType": "Practitioner", "id": "nameless", "active": true}),
            json!({"resourceType": "Organization", "id": "acme", "name": "Acme Health Partners"}),
            json!({"resourceType": "Organization", "id": "other", "name": "Northside Clinic"}),
        ] {
            app.put_resource(&r).await;
        }
        let cases: [(&str, &[&str]); 13] = [
            // Soundex codes Schmidt like Smith (S530): C after S is the same digit.
            ("Practitioner?phonetic=Smyth", &["schmidt", "smith"]),
            ("Practitioner?phonetic=SMITH", &["schmidt", "smith"]),
            ("Practitioner?phonetic=Rupert", &["smith"]),
            ("Practitioner?phonetic=Ana", &["schmidt"]),
            (
                "Practitioner?phonetic=Rupert,Marie",
                &["smith", "vanderberg"],
            ),
            // One word of a multi-word family, or the family as one word.
            ("Practitioner?phonetic=Berg", &["vanderberg"]),
            ("Practitioner?phonetic=Vanderberg", &["vanderberg"]),
            // Not a prefix search: "Smi" is S500, Smith S530.
            ("Practitioner?phonetic=Smi", &[]),
            // Prefix and suffix are not names; text alone indexes nothing.
            ("Practitioner?phonetic=MD", &[]),
            (
                "Practitioner?phonetic:missing=true",
                &["nameless", "textonly"],
            ),
            ("Organization?phonetic=Akme", &["acme"]),
            ("Organization?phonetic=Partner", &["acme"]),
            ("Organization?phonetic=Clinik", &["other"]),
        ];
        for (query, want) in cases {
            let got = ids(&app, &format!("/fhir/default/{query}")).await;
            assert_eq!(got, want, "[{b}] {query}");
        }
        // `name` is still an ordinary starts-with search.
        assert_eq!(
            ids(&app, "/fhir/default/Practitioner?name=rob").await,
            ["smith", "textonly"],
            "[{b}]"
        );
        let diag = app
            .get("/fhir/default/Practitioner?phonetic=123")
            .await
            .outcome(400, "invalid");
        assert!(diag.contains("123"), "[{b}] {diag}");
    }
}
