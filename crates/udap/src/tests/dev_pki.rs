//! `dev_pki`: what it hands out configures a community, and its client registers there.

use super::{CLIENT_URI, COMMUNITY_URI};
use crate::{crl_urls, dev_pki, dev_pki_with_crl, testing, verify_software_statement, Community};

const BASE: &str = "http://localhost:8080/t/demo/fhir";

#[test]
fn dev_pki_configures_a_community_whose_client_registers() {
    let pki = dev_pki(BASE, CLIENT_URI).expect("dev PKI");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("seconds");
    let community = Community::new(
        COMMUNITY_URI,
        std::slice::from_ref(&pki.ca_cert_pem),
        std::slice::from_ref(&pki.server_cert_pem),
        &pki.server_key_pem,
        BASE,
        now,
    )
    .expect("the dev PKI configures a community");
    let register = format!("{BASE}/udap/register");
    let register_at = |t: i64| {
        let claims = testing::software_statement_claims(CLIENT_URI, &register, t);
        let jwt = testing::sign_jwt(
            &claims,
            "RS256",
            std::slice::from_ref(&pki.client_cert_pem),
            &pki.client_key_pem,
        );
        verify_software_statement(&jwt, &[&community], &register, &[], t)
    };
    assert_eq!(
        register_at(now).expect("the client registers").iss,
        CLIENT_URI
    );
    let day = 24 * 60 * 60;
    register_at(now + 300 * day).expect("the certificates last a year");
    let err = register_at(now + 400 * day).expect_err("then expire");
    assert!(err.description.contains("expired at"), "{err}");
    assert!(!pki.ca_key_pem.is_empty() && pki.ca_key_pem.contains("PRIVATE KEY"));
}

#[test]
fn dev_pki_with_crl_names_the_url_and_issues_a_crl_that_revokes_nothing() {
    let crl_url = "http://localhost:8080/t/demo/udap/crl";
    let pki = dev_pki_with_crl(BASE, CLIENT_URI, crl_url).expect("dev PKI");
    let crl = pki.ca_crl_der.clone().expect("a CRL");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("seconds");
    let community = Community::new(
        COMMUNITY_URI,
        std::slice::from_ref(&pki.ca_cert_pem),
        std::slice::from_ref(&pki.server_cert_pem),
        &pki.server_key_pem,
        BASE,
        now,
    )
    .expect("community");
    let metadata = community
        .signed_metadata(&serde_json::Map::new(), now)
        .expect("signed");
    assert_eq!(crl_urls(&metadata), vec![crl_url.to_owned()]);
    let register = format!("{BASE}/udap/register");
    let claims = testing::software_statement_claims(CLIENT_URI, &register, now);
    let jwt = testing::sign_jwt(
        &claims,
        "RS256",
        std::slice::from_ref(&pki.client_cert_pem),
        &pki.client_key_pem,
    );
    assert_eq!(crl_urls(&jwt), vec![crl_url.to_owned()]);
    verify_software_statement(&jwt, &[&community], &register, &[crl], now).expect("not revoked");
    assert!(dev_pki(BASE, CLIENT_URI)
        .expect("dev PKI")
        .ca_crl_der
        .is_none());
}
