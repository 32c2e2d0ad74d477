//! Unit tests: each refusal is checked as carefully as the success it guards. One PKI per test
//! binary (keys pooled by `crate::testing`, the community built once here).

mod assertion;
mod community;
mod dev_pki;
mod registration;

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::testing::{self, TestCert};
use crate::Community;

/// The tenant base URL the test server certificate carries.
const BASE: &str = "https://fhir.example.org/t/acme/fhir";
const REGISTER: &str = "https://fhir.example.org/t/acme/fhir/udap/register";
const TOKEN: &str = "https://fhir.example.org/t/acme/fhir/udap/token";
const COMMUNITY_URI: &str = "udap://fhirdir.test/community";
const CLIENT_URI: &str = "https://client.example.org/apps/directory-sync";
/// 2027-01-15T08:00:00Z: inside every valid test certificate, after every expired one.
const NOW: i64 = 1_800_000_000;

fn community() -> &'static Community {
    static COMMUNITY: OnceLock<Community> = OnceLock::new();
    COMMUNITY.get_or_init(|| testing::community(COMMUNITY_URI, BASE, NOW))
}

/// `claims` as a mutable object, changed by `edit`.
fn edited(claims: Value, edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let Value::Object(mut map) = claims else {
        panic!("claims are an object")
    };
    edit(&mut map);
    Value::Object(map)
}

/// `claims` signed RS256 (or ES256 for an EC certificate) by `cert`'s own key.
fn signed_by(cert: &TestCert, alg: &str, claims: &Value) -> String {
    testing::sign_jwt(claims, alg, &cert.chain_pem, &cert.key_pem)
}
