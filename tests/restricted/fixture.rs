//! The tenant every restricted-content test starts from, and its callers.

use auth::testing::TestClientKey;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Resp, TestApp};
use crate::support::{admin, create_tenant, spawn, token, with_token};

/// The tenant.
pub const T: &str = "ndh";

/// NDH's usage-restriction extension.
pub const USAGE: &str = "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-usage-restriction";

/// The NDH examples loaded, by file stem.
const EXAMPLES: &[&str] = &[
    "Location-LocationWomenShelter",
    "HealthcareService-HealthcareServiceWomenShelter",
    "Location-LocationWomenShelterAll",
    "Organization-MilitaryHealthcareOrganization",
    "Practitioner-JoeSmith",
];

/// Who asks.
pub struct Callers {
    /// A client the restrictions do not admit (organization `Organization/stranger`).
    pub stranger: String,
    /// A client acting for `Organization/blue`, which the test Restrictions permit.
    pub blue: String,
    /// A client acting for `Organization/green`, permitted and then denied.
    pub green: String,
    /// The operator's own tool: `see_restricted`.
    pub privileged: String,
}

pub struct Fixture {
    pub app: TestApp,
    pub who: Callers,
}

impl Fixture {
    /// `GET path` (under the tenant) as `token` (None: anonymous).
    pub async fn get(&self, token: Option<&str>, path: &str) -> Resp {
        with_token(&self.app, token, Method::GET, &self.path(path), None).await
    }

    /// `method path` with a FHIR body as `token`.
    pub async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Resp {
        with_token(&self.app, token, method, &self.path(path), Some(body)).await
    }

    /// The tenant base followed by `path` (`""`: the base itself, where Bundles are posted).
    pub fn path(&self, path: &str) -> String {
        if path.is_empty() {
            format!("/fhir/{T}")
        } else {
            format!("/fhir/{T}/{path}")
        }
    }

    /// Every caller, named, anonymous first.
    pub fn all(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("anonymous", None),
            ("stranger", Some(self.who.stranger.as_str())),
            ("blue", Some(self.who.blue.as_str())),
            ("privileged", Some(self.who.privileged.as_str())),
        ]
    }

    /// Writes `resource` as the privileged client (PUT by id).
    pub async fn put(&self, resource: &Value) -> Resp {
        let rt = resource["resourceType"].as_str().expect("resourceType");
        let id = resource["id"].as_str().expect("id");
        let token = Some(self.who.privileged.as_str());
        self.send(token, Method::PUT, &format!("{rt}/{id}"), resource)
            .await
    }
}

/// Registers a client of the tenant; answers a token for it.
async fn client(app: &TestApp, organization: &str, see_restricted: bool) -> String {
    let key = TestClientKey::ec256("k1");
    let scope = "system/*.cruds";
    let body = json!({"jwks": {"keys": [key.public_jwk()]}, "scope": scope,
        "organization": organization, "see_restricted": see_restricted});
    let resp = admin(
        app,
        Method::POST,
        &format!("/admin/tenants/{T}/clients"),
        Some(body),
    )
    .await
    .status(201);
    let id = resp.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    token(app, T, &key, &id, scope).await
}

/// One NDH example.
pub fn example(dir: &std::path::Path, stem: &str) -> Value {
    let file = dir
        .join("ndh/1.0.0-sushi-compiled")
        .join(format!("{stem}.json"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `resource` without any restriction, under id `{id}Twin`, its references to restricted
/// examples pointing at their twins.
pub fn twin(resource: &Value) -> Value {
    let mut t = resource.clone();
    let id = format!("{}Twin", t["id"].as_str().expect("id"));
    t["id"] = json!(id);
    if let Some(ext) = t.get_mut("extension").and_then(Value::as_array_mut) {
        ext.retain(|e| e["url"] != USAGE);
    }
    if let Some(obj) = t.as_object_mut() {
        obj.remove("contained");
        if let Some(meta) = obj.get_mut("meta").and_then(Value::as_object_mut) {
            meta.remove("security");
        }
    }
    let text = t.to_string().replace(
        "\"Location/LocationWomenShelter\"",
        "\"Location/LocationWomenShelterTwin\"",
    );
    serde_json::from_str(&text).expect("still JSON")
}

/// A contained Restriction `id` with provisions `provision` (null: none) and `paths`.
pub fn restriction(id: &str, paths: &[&str], provision: Value) -> Value {
    let mut c = json!({"resourceType": "Consent", "id": id, "status": "active",
        "scope": {"coding": [{"system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentScopeNdhCS",
            "code": "directory-privacy"}]},
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentCategoryNdhCS",
            "code": "DRC"}]}]});
    if !paths.is_empty() {
        c["extension"] = paths
            .iter()
            .map(|p| json!({"url": "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-restrictFhirPath",
                "valueExpression": {"language": "text/fhirpath", "expression": p}}))
            .collect();
    }
    if !provision.is_null() {
        c["provision"] = provision;
    }
    c
}

/// An Organization `id` named `name`, restricted by the contained `restrictions`.
pub fn organization(id: &str, name: &str, restrictions: Vec<Value>) -> Value {
    let ext: Vec<Value> = restrictions
        .iter()
        .map(|r| json!({"url": USAGE, "valueReference": {"reference": format!("#{}", r["id"].as_str().unwrap_or(""))}}))
        .collect();
    let mut o = json!({"resourceType": "Organization", "id": id, "active": true, "name": name});
    if !restrictions.is_empty() {
        o["extension"] = json!(ext);
        o["contained"] = json!(restrictions);
    }
    o
}

/// The tenant with the examples, their twins, and the permit/deny organizations:
/// `BlueOnly` (permits `Organization/blue`), `BlueNotGreen` (permits blue and green, and a
/// nested provision denies green). `None` when the shared data is absent (skipped loudly).
pub async fn fixture(db: &testkit::TestDb) -> Option<Fixture> {
    let dir = testkit::shared_fhir()?;
    let app = spawn(db).await;
    create_tenant(&app, T).await;
    let who = Callers {
        stranger: client(&app, "Organization/stranger", false).await,
        blue: client(&app, "Organization/blue", false).await,
        green: client(&app, "Organization/green", false).await,
        privileged: client(&app, "Organization/ops", true).await,
    };
    let f = Fixture { app, who };
    for stem in EXAMPLES {
        let resource = example(&dir, stem);
        f.put(&resource).await.status(201);
        f.put(&twin(&resource)).await.status(201);
    }
    let blue =
        json!({"type": "permit", "actor": [{"reference": {"reference": "Organization/blue"}}]});
    let blue_green = json!({"type": "permit",
        "actor": [{"reference": {"reference": "Organization/blue"}},
                  {"reference": {"reference": "Organization/green"}}],
        "provision": [{"type": "deny", "actor": [{"reference": {"reference": "Organization/green"}}]}]});
    for o in [
        organization(
            "BlueOnly",
            "Blue Only Clinic",
            vec![restriction("r", &[], blue)],
        ),
        organization(
            "BlueNotGreen",
            "Blue Not Green Clinic",
            vec![restriction("r", &[], blue_green)],
        ),
    ] {
        f.put(&twin(&o)).await.status(201);
        f.put(&o).await.status(201);
    }
    Some(f)
}

/// The ids of a searchset's `match` entries, sorted.
pub fn ids(bundle: &Value) -> Vec<String> {
    let mut out: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] != "include" && e["search"]["mode"] != "outcome")
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

/// The `type/id` of a searchset's `include` entries, sorted.
pub fn included(bundle: &Value) -> Vec<String> {
    let mut out: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| {
            let r = &e["resource"];
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

/// Whether `resource` carries the REDACTED security label.
pub fn redacted(resource: &Value) -> bool {
    resource["meta"]["security"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["code"] == "REDACTED")
}
