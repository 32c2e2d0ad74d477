//! Making keys and certificates, for [`crate::dev_pki`] and [`crate::testing`]: RSA keys from
//! the `rsa` crate (ring signs with RSA but cannot generate RSA keys), EC keys and certificates
//! from `rcgen`. Certificates follow what UDAP communities issue: a CA with `keyCertSign` and
//! `cRLSign`, leaves identified by a subjectAltName URI (FAST Security STU2 §2.3, §3.1).

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, DistinguishedName, DnType, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rsa::pkcs8::EncodePrivateKey as _;
use time::OffsetDateTime;

use crate::error::UdapError;

fn generation(e: impl std::fmt::Display) -> UdapError {
    UdapError::Generation(e.to_string())
}

/// A fresh RSA 2048 private key, PKCS#8 DER.
pub(crate) fn rsa_pkcs8() -> Result<Vec<u8>, UdapError> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(generation)?;
    Ok(key.to_pkcs8_der().map_err(generation)?.as_bytes().to_vec())
}

/// A fresh EC P-256 private key, PKCS#8 DER.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn ec_p256_pkcs8() -> Result<Vec<u8>, UdapError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generation)?;
    Ok(key.serialize_der())
}

/// An rcgen key pair from PKCS#8 DER (RSA keys sign with SHA-256).
pub(crate) fn key_pair(pkcs8: &[u8]) -> Result<KeyPair, UdapError> {
    KeyPair::try_from(pkcs8).map_err(generation)
}

/// PKCS#8 DER as a `PRIVATE KEY` PEM block.
pub(crate) fn pkcs8_pem(pkcs8: &[u8]) -> String {
    crate::cert::encode_pem("PRIVATE KEY", pkcs8)
}

/// Unix seconds as a certificate date.
pub(crate) fn date(unix: i64) -> Result<OffsetDateTime, UdapError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(generation)
}

/// Parameters of a CA certificate.
pub(crate) fn ca_params(
    common_name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    serial: SerialNumber,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(serial);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Parameters of an end-entity certificate identified by `san_uri`.
pub(crate) fn leaf_params(
    common_name: &str,
    san_uri: Option<&str>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    serial: SerialNumber,
    crl_url: Option<&str>,
) -> Result<CertificateParams, UdapError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(serial);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    if let Some(uri) = san_uri {
        let uri = uri.try_into().map_err(|e| {
            UdapError::Generation(format!("subjectAltName URI {uri:?} is not ASCII: {e}"))
        })?;
        params.subject_alt_names = vec![SanType::URI(uri)];
    }
    if let Some(url) = crl_url {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.to_owned()],
        }];
    }
    Ok(params)
}

/// A CRL of `ca` revoking nothing, DER.
pub(crate) fn empty_crl(
    ca: &rcgen::Issuer<'_, KeyPair>,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    number: SerialNumber,
) -> Result<Vec<u8>, UdapError> {
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: number,
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(ca).map_err(generation)?.der().to_vec())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
