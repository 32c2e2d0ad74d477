//! Reading certificates: PEM inputs into DER, `x5c` entries into DER, and the facts UDAP needs
//! from one certificate (SAN URIs, CRL distribution points, the subject public key).
//!
//! UDAP identifies an app or server by a `uniformResourceIdentifier` subjectAltName
//! (FAST Security STU2 §2.3 and §3.1) and binds JWT signatures to the certificate's key
//! (STU2 §7.1.3, "JWT headers").

use base64::Engine as _;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer as _;

use crate::error::UdapError;

/// The subject public key of a certificate, as far as JWS algorithms go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// An RSA key: its PKCS#1 `RSAPublicKey` DER and modulus size in bits.
    Rsa { pkcs1: Vec<u8>, bits: usize },
    /// An EC key on P-256 or P-384: the SEC1 point.
    Ec { curve: Curve, point: Vec<u8> },
    /// Anything else, named for messages.
    Other(String),
}

/// The EC curves of the JWS algorithms UDAP allows (ES256, ES384).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl PublicKey {
    /// The key type in words, for refusals.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Rsa { bits, .. } => format!("RSA {bits}-bit"),
            Self::Ec {
                curve: Curve::P256, ..
            } => "EC P-256".to_owned(),
            Self::Ec {
                curve: Curve::P384, ..
            } => "EC P-384".to_owned(),
            Self::Other(name) => name.clone(),
        }
    }
}

/// What UDAP reads from one certificate.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    /// subjectAltName `uniformResourceIdentifier` entries, in order.
    pub san_uris: Vec<String>,
    /// CRL distribution point URIs (full names only), in order.
    pub crl_urls: Vec<String>,
    /// The subject public key.
    pub key: PublicKey,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertInfo {
    /// Reads `der`; the error is the parser's reason.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".to_owned());
        }
        Ok(Self {
            san_uris: san_uris(&cert)?,
            crl_urls: crl_urls(&cert),
            key: public_key(&cert),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

fn san_uris(cert: &X509Certificate<'_>) -> Result<Vec<String>, String> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("subjectAltName: {e}"))?;
    Ok(san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

fn crl_urls(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut urls = Vec::new();
    for ext in cert.iter_extensions() {
        let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() else {
            continue;
        };
        for point in points.iter() {
            if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                for name in names {
                    if let GeneralName::URI(uri) = name {
                        urls.push((*uri).to_owned());
                    }
                }
            }
        }
    }
    urls
}

fn public_key(cert: &X509Certificate<'_>) -> PublicKey {
    let spki = cert.public_key();
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let pkcs1 = spki.subject_public_key.data.to_vec();
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
            _ => return PublicKey::Other("malformed RSA".to_owned()),
        };
        return PublicKey::Rsa { pkcs1, bits };
    }
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let point = spki.subject_public_key.data.to_vec();
        return match curve {
            Some(oid) if oid == OID_EC_P256 => PublicKey::Ec {
                curve: Curve::P256,
                point,
            },
            Some(oid) if oid == OID_NIST_EC_P384 => PublicKey::Ec {
                curve: Curve::P384,
                point,
            },
            Some(oid) => PublicKey::Other(format!("EC (curve {oid})")),
            None => PublicKey::Other("EC (no named curve)".to_owned()),
        };
    }
    PublicKey::Other(format!("non-RSA, non-EC (algorithm {algorithm})"))
}

/// Every `CERTIFICATE` block of the given PEM strings, as DER, in order. A string may hold
/// several blocks; blocks of other types are refused so a key pasted among anchors is noticed.
pub(crate) fn certificates_from_pem(
    what: &'static str,
    inputs: &[String],
) -> Result<Vec<Vec<u8>>, UdapError> {
    let mut ders = Vec::new();
    for input in inputs {
        let blocks = pem::parse_many(input).map_err(|e| UdapError::Pem {
            what,
            reason: e.to_string(),
        })?;
        for block in blocks {
            if block.tag() != "CERTIFICATE" {
                return Err(UdapError::Pem {
                    what,
                    reason: format!(
                        "a {} block where only CERTIFICATE blocks belong",
                        block.tag()
                    ),
                });
            }
            ders.push(block.into_contents());
        }
    }
    if ders.is_empty() {
        return Err(UdapError::NoCertificate { what });
    }
    for (index, der) in ders.iter().enumerate() {
        CertInfo::parse(der).map_err(|reason| UdapError::Certificate {
            what,
            index,
            reason,
        })?;
    }
    Ok(ders)
}

/// DER certificates as PEM strings, one a certificate.
pub(crate) fn to_pem(ders: &[Vec<u8>]) -> Vec<String> {
    ders.iter()
        .map(|der| encode_pem("CERTIFICATE", der))
        .collect()
}

/// One PEM block with Unix line endings (the `pem` crate's default is CRLF), as operators'
/// files and rcgen's output have them.
pub(crate) fn encode_pem(tag: &str, contents: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, contents.to_vec()), config)
}

/// One `x5c` entry as DER. RFC 7515 §4.1.6 says standard base64 with padding; Inferno's UDAP
/// test kit sends the URL-safe alphabet, so both alphabets are read, with or without padding.
pub(crate) fn decode_x5c_entry(entry: &str) -> Option<Vec<u8>> {
    let standard: String = entry
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(standard.trim_end_matches('='))
        .ok()
}

/// One certificate as an `x5c` entry (standard base64, RFC 7515 §4.1.6).
pub(crate) fn encode_x5c_entry(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}
