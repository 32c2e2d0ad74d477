//! Certificates and JWTs for tests of this crate and of the server (feature `testing`).
//!
//! Keys come from a per-process pool, generated on first use and then reused, because RSA key
//! generation is slow; certificates are cheap and made on each call with serial numbers from a
//! process-wide counter, so no two share a serial (a CRL revoking one revokes no other).
//! Validity windows are fixed (valid: 2020–2099, expired: 2001–2002), so any realistic `now`
//! sees a valid certificate as valid and an expired one as expired.
//!
//! Helpers panic on failure: they are for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use serde_json::{json, Value};

use crate::cert::encode_x5c_entry;
use crate::community::{random_jti, Community};
use crate::issue;

/// Start of the validity of valid test certificates (2020-01-01T00:00:00Z).
pub const VALID_FROM: i64 = 1_577_836_800;
/// End of the validity of valid test certificates (2099-12-31T00:00:00Z).
pub const VALID_UNTIL: i64 = 4_102_358_400;
/// End of the validity of expired test certificates (2002-01-01T00:00:00Z).
pub const EXPIRED_AT: i64 = 1_009_843_200;
const EXPIRED_FROM: i64 = 978_307_200; // 2001-01-01

/// A key of the per-process pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// RSA 2048, slot 0..8.
    Rsa(usize),
    /// EC P-256, slot 0..8.
    EcP256(usize),
}

const SLOTS: usize = 8;
static RSA_KEYS: [OnceLock<Vec<u8>>; SLOTS] = [const { OnceLock::new() }; SLOTS];
static EC_KEYS: [OnceLock<Vec<u8>>; SLOTS] = [const { OnceLock::new() }; SLOTS];

/// Pool slots the named helpers use; tests wanting an unrelated key take another slot.
const CA_SLOT: usize = 0;
const UNTRUSTED_CA_SLOT: usize = 1;
const SERVER_SLOT: usize = 2;
const CLIENT_SLOT: usize = 3;

impl TestKey {
    fn pkcs8(self) -> &'static [u8] {
        match self {
            Self::Rsa(slot) => {
                RSA_KEYS[slot].get_or_init(|| issue::rsa_pkcs8().expect("generate an RSA test key"))
            }
            Self::EcP256(slot) => EC_KEYS[slot]
                .get_or_init(|| issue::ec_p256_pkcs8().expect("generate an EC test key")),
        }
    }

    /// The private key as PKCS#8 PEM.
    pub fn pem(self) -> String {
        issue::pkcs8_pem(self.pkcs8())
    }

    fn key_pair(self) -> KeyPair {
        issue::key_pair(self.pkcs8()).expect("load a test key")
    }
}

/// A test CA.
pub struct TestCa {
    /// Its certificate, PEM: the anchor to configure.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A test end-entity certificate and its key.
#[derive(Debug, Clone)]
pub struct TestCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The chain to put in `x5c` or configure as a server chain (leaf first; just the leaf).
    pub chain_pem: Vec<String>,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    serial: SerialNumber,
}

fn next_serial() -> SerialNumber {
    static NEXT: AtomicU64 = AtomicU64::new(0x1000);
    SerialNumber::from(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn make_ca(common_name: &str, key: TestKey) -> TestCa {
    let params = issue::ca_params(
        common_name,
        issue::date(VALID_FROM).expect("date"),
        issue::date(VALID_UNTIL).expect("date"),
        next_serial(),
    );
    let key = key.key_pair();
    let cert = params.self_signed(&key).expect("self-sign the test CA");
    TestCa {
        cert_pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// The CA of this process's tests' community (RSA, `fhirdir test UDAP CA`).
pub fn trusted_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| make_ca("fhirdir test UDAP CA", TestKey::Rsa(CA_SLOT)))
}

/// A CA no test community trusts.
pub fn untrusted_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| make_ca("fhirdir untrusted UDAP CA", TestKey::Rsa(UNTRUSTED_CA_SLOT)))
}

/// Issues an end-entity certificate: `san_uri` as subjectAltName URI (none if `None`), the
/// pool key `key`, valid 2020–2099 or (if `expired`) 2001–2002, with `crl_url` as its CRL
/// distribution point if given.
pub fn issue(
    ca: &TestCa,
    san_uri: Option<&str>,
    key: TestKey,
    expired: bool,
    crl_url: Option<&str>,
) -> TestCert {
    let (from, until) = if expired {
        (EXPIRED_FROM, EXPIRED_AT)
    } else {
        (VALID_FROM, VALID_UNTIL)
    };
    let serial = next_serial();
    let params = issue::leaf_params(
        "fhirdir test UDAP entity",
        san_uri,
        issue::date(from).expect("date"),
        issue::date(until).expect("date"),
        serial.clone(),
        crl_url,
    )
    .expect("test certificate parameters");
    let cert = params
        .signed_by(&key.key_pair(), &ca.issuer)
        .expect("sign a test certificate");
    TestCert {
        cert_pem: cert.pem(),
        chain_pem: vec![cert.pem()],
        key_pem: key.pem(),
        der: cert.der().to_vec(),
        serial,
    }
}

/// A server certificate (RSA, SAN URI = `base_url`) from [`trusted_ca`].
pub fn server_cert(base_url: &str) -> TestCert {
    issue(
        trusted_ca(),
        Some(base_url),
        TestKey::Rsa(SERVER_SLOT),
        false,
        None,
    )
}

/// A server certificate with an EC P-256 key, which [`Community::new`] refuses.
pub fn server_cert_ec(base_url: &str) -> TestCert {
    issue(
        trusted_ca(),
        Some(base_url),
        TestKey::EcP256(1),
        false,
        None,
    )
}

/// A community `uri` trusting [`trusted_ca`], served by [`server_cert`] for `base_url`.
pub fn community(uri: &str, base_url: &str, now: i64) -> Community {
    let server = server_cert(base_url);
    Community::new(
        uri,
        &[trusted_ca().cert_pem.clone()],
        &server.chain_pem,
        &server.key_pem,
        base_url,
        now,
    )
    .expect("the test community is valid")
}

/// A valid client certificate (RSA, SAN URI = `client_uri`) from [`trusted_ca`].
pub fn client_cert(client_uri: &str) -> TestCert {
    issue(
        trusted_ca(),
        Some(client_uri),
        TestKey::Rsa(CLIENT_SLOT),
        false,
        None,
    )
}

/// A valid client certificate with an EC P-256 key (for ES256).
pub fn client_cert_ec(client_uri: &str) -> TestCert {
    issue(
        trusted_ca(),
        Some(client_uri),
        TestKey::EcP256(0),
        false,
        None,
    )
}

/// A client certificate from [`trusted_ca`] that expired on [`EXPIRED_AT`].
pub fn expired_client_cert(client_uri: &str) -> TestCert {
    issue(
        trusted_ca(),
        Some(client_uri),
        TestKey::Rsa(CLIENT_SLOT),
        true,
        None,
    )
}

/// A valid client certificate from [`untrusted_ca`].
pub fn untrusted_client_cert(client_uri: &str) -> TestCert {
    issue(
        untrusted_ca(),
        Some(client_uri),
        TestKey::Rsa(CLIENT_SLOT),
        false,
        None,
    )
}

/// A valid client certificate naming `crl_url` as its CRL distribution point.
pub fn client_cert_with_crl_url(client_uri: &str, crl_url: &str) -> TestCert {
    issue(
        trusted_ca(),
        Some(client_uri),
        TestKey::Rsa(CLIENT_SLOT),
        false,
        Some(crl_url),
    )
}

/// A client certificate naming `crl_url`, and the DER CRL of [`trusted_ca`] that revokes it.
pub fn revoked_client_cert(client_uri: &str, crl_url: &str) -> (TestCert, Vec<u8>) {
    let cert = client_cert_with_crl_url(client_uri, crl_url);
    let crl = crl(trusted_ca(), &[&cert]);
    (cert, crl)
}

/// A DER CRL of `ca` revoking `revoked` (none: an empty CRL), valid 2020–2099.
pub fn crl(ca: &TestCa, revoked: &[&TestCert]) -> Vec<u8> {
    let params = CertificateRevocationListParams {
        this_update: issue::date(VALID_FROM).expect("date"),
        next_update: issue::date(VALID_UNTIL).expect("date"),
        crl_number: next_serial(),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|cert| RevokedCertParams {
                serial_number: cert.serial.clone(),
                revocation_time: issue::date(VALID_FROM + 86_400).expect("date"),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params
        .signed_by(&ca.issuer)
        .expect("sign a test CRL")
        .der()
        .to_vec()
}

/// A compact JWS of `claims` with header `alg` and `x5c` = `chain_pem` (leaf first), signed
/// with `key_pem`: PKCS#8 PEM for RS*/ES*, the PEM text itself as the secret for HS* (the
/// public-key-as-HMAC-secret attack), no signature at all for `none`.
pub fn sign_jwt(claims: &Value, alg: &str, chain_pem: &[String], key_pem: &str) -> String {
    use base64::Engine as _;
    let x5c: Vec<String> = chain_pem
        .iter()
        .flat_map(|p| pem::parse_many(p).expect("chain PEM"))
        .map(|block| encode_x5c_entry(block.contents()))
        .collect();
    if alg == "none" {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        return format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "x5c": x5c})),
            b64(claims)
        );
    }
    let algorithm: Algorithm = alg.parse().expect("a JWS alg jsonwebtoken knows");
    let key = match alg {
        "RS256" | "RS384" | "RS512" => {
            EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("RSA key PEM")
        }
        "ES256" | "ES384" => EncodingKey::from_ec_pem(key_pem.as_bytes()).expect("EC key PEM"),
        _ => EncodingKey::from_secret(key_pem.as_bytes()).expect("a non-empty HMAC secret"),
    };
    let mut header = Header::new(algorithm);
    header.x5c = Some(x5c);
    jsonwebtoken::encode(&header, claims, &key).expect("sign the test JWT")
}

/// Valid software statement claims for a `client_credentials` app (FAST Security STU2 §3.1).
pub fn software_statement_claims(client_uri: &str, registration_url: &str, now: i64) -> Value {
    json!({
        "iss": client_uri,
        "sub": client_uri,
        "aud": registration_url,
        "iat": now,
        "exp": now + 240,
        "jti": random_jti(),
        "client_name": "fhirdir test client",
        "contacts": ["mailto:udap-test@example.org"],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "system/*.rs",
    })
}

/// Valid client assertion claims with the `hl7-b2b` extension (FAST Security STU2 §5.2.1.1),
/// `purpose_of_use` a bare code as Inferno's UDAP test kit sends it.
pub fn b2b_assertion_claims(client_id: &str, token_url: &str, now: i64) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + 240,
        "jti": random_jti(),
        "extensions": {
            "hl7-b2b": {
                "version": "1",
                "organization_id": "https://example.org/fhirdir-test-organization",
                "organization_name": "fhirdir test organization",
                "purpose_of_use": ["SYSDEV"],
            }
        }
    })
}
