//! `fhirdir udap dev-pki`: a throwaway PKI for trying UDAP on a laptop — a CA to configure as a
//! community's anchor, a server certificate for the tenant's signed metadata, and a client
//! certificate for software statements and client assertions (FAST Security STU2 §2.3, §3.1).
//! Not for production: the CA key is handed out with everything else.
//!
//! [`dev_pki_with_crl`] also names a CRL distribution point and issues the CA's (empty) CRL for
//! the server to publish there: Inferno's UDAP test kit checks the signed metadata chain with
//! OpenSSL's `CRL_CHECK_ALL` (ruby-jwt `X5cKeyFinder`), which fails a chain whose CRLs it cannot
//! fetch.

use rsa::rand_core::{OsRng, RngCore as _};

use crate::error::UdapError;
use crate::issue;

/// The throwaway PKI, all PEM. Keys are unencrypted PKCS#8.
#[derive(Debug, Clone)]
pub struct DevPki {
    /// The CA certificate: the community's trust anchor.
    pub ca_cert_pem: String,
    /// The CA's RSA key, to issue more certificates by hand.
    pub ca_key_pem: String,
    /// The server certificate (SAN URI = tenant base URL), signed by the CA.
    pub server_cert_pem: String,
    /// The server's RSA key.
    pub server_key_pem: String,
    /// The client certificate (SAN URI = the client URI), signed by the CA.
    pub client_cert_pem: String,
    /// The client's RSA key.
    pub client_key_pem: String,
    /// The CA's CRL (DER, revoking nothing, valid as long as the CA) when the certificates name
    /// a CRL distribution point ([`dev_pki_with_crl`]).
    pub ca_crl_der: Option<Vec<u8>>,
}

/// Validity of every certificate of the dev PKI: one year.
const LIFETIME_SECS: i64 = 365 * 24 * 60 * 60;
/// Certificates start an hour in the past so a peer with a slow clock accepts them.
const BACKDATE_SECS: i64 = 60 * 60;

/// A CA (RSA 2048, one year), a server certificate (RSA, SAN URI = `tenant_base_url`) and a
/// client certificate (RSA, SAN URI = `client_uri`), both signed by the CA.
pub fn dev_pki(tenant_base_url: &str, client_uri: &str) -> Result<DevPki, UdapError> {
    make(tenant_base_url, client_uri, None)
}

/// [`dev_pki`] whose server and client certificates name `crl_url` as their CRL distribution
/// point, with the CA's CRL in [`DevPki::ca_crl_der`] for the server to publish at that URL.
pub fn dev_pki_with_crl(
    tenant_base_url: &str,
    client_uri: &str,
    crl_url: &str,
) -> Result<DevPki, UdapError> {
    make(tenant_base_url, client_uri, Some(crl_url))
}

fn make(
    tenant_base_url: &str,
    client_uri: &str,
    crl_url: Option<&str>,
) -> Result<DevPki, UdapError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| UdapError::Generation(e.to_string()))?
        .as_secs();
    let now = i64::try_from(now).map_err(|e| UdapError::Generation(e.to_string()))?;
    let not_before = issue::date(now - BACKDATE_SECS)?;
    let not_after = issue::date(now + LIFETIME_SECS)?;

    let ca_pkcs8 = issue::rsa_pkcs8()?;
    let ca_key = issue::key_pair(&ca_pkcs8)?;
    let ca_params = issue::ca_params(
        "fhirdir dev UDAP CA",
        not_before,
        not_after,
        random_serial(),
    );
    let ca_cert = ca_params.self_signed(&ca_key).map_err(generation)?;
    let ca = rcgen::Issuer::new(ca_params, ca_key);

    let leaf = |common_name: &str, uri: &str| -> Result<(String, String), UdapError> {
        let pkcs8 = issue::rsa_pkcs8()?;
        let key = issue::key_pair(&pkcs8)?;
        let params = issue::leaf_params(
            common_name,
            Some(uri),
            not_before,
            not_after,
            random_serial(),
            crl_url,
        )?;
        let cert = params.signed_by(&key, &ca).map_err(generation)?;
        Ok((cert.pem(), issue::pkcs8_pem(&pkcs8)))
    };
    let (server_cert_pem, server_key_pem) = leaf("fhirdir dev UDAP server", tenant_base_url)?;
    let (client_cert_pem, client_key_pem) = leaf("fhirdir dev UDAP client", client_uri)?;
    let ca_crl_der = match crl_url {
        None => None,
        Some(_) => Some(issue::empty_crl(
            &ca,
            not_before,
            not_after,
            random_serial(),
        )?),
    };
    Ok(DevPki {
        ca_cert_pem: ca_cert.pem(),
        ca_key_pem: issue::pkcs8_pem(&ca_pkcs8),
        server_cert_pem,
        server_key_pem,
        client_cert_pem,
        client_key_pem,
        ca_crl_der,
    })
}

fn generation(e: rcgen::Error) -> UdapError {
    UdapError::Generation(e.to_string())
}

/// A random 16-byte serial, its first byte non-zero with the high bit clear: a positive integer
/// of exactly 16 octets (RFC 5280 §4.1.2.2: unique per CA, at most 20 octets).
fn random_serial() -> rcgen::SerialNumber {
    let mut bytes = [0_u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}
