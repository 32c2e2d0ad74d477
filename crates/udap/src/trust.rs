//! Certificate path validation to a community's trust anchors, with CRL revocation checks
//! (UDAP Dynamic Client Registration §4 and JWT-Based Client Authentication §6: "validate the
//! certificate chain", including revocation; FAST Security STU2 §7.1.6 "JWT validation").
//!
//! Validation is RFC 5280 path building by `rustls-webpki`. Extended key usage is required only
//! when present (`KeyUsage::required_if_present`): community certificates often carry none.
//!
//! Revocation is soft-fail here: a certificate is refused when a CRL given by the caller lists
//! it, and passes when no given CRL covers it. The caller fetches the CRLs named by
//! [`crate::crl_urls`]; a caller that wants hard-fail refuses when such a fetch fails.

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    BorrowedCertRevocationList, CertRevocationList, EndEntityCert, KeyUsage, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

/// The end-entity use a chain is validated for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Usage {
    /// A client app (software statements, client assertions).
    Client,
    /// The server (signed metadata).
    Server,
}

/// Trust anchors parsed once, at configuration time.
#[derive(Debug, Clone)]
pub(crate) struct Anchors(Vec<TrustAnchor<'static>>);

impl Anchors {
    /// Parses DER anchors; the error is the index and reason of the first one refused.
    pub(crate) fn from_der(ders: &[Vec<u8>]) -> Result<Self, (usize, String)> {
        ders.iter()
            .enumerate()
            .map(|(index, der)| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map(|anchor| anchor.to_owned())
                    .map_err(|e| (index, format!("{e:?}")))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// Validates `chain` (DER, leaf first, the rest as candidate intermediates) to one of `anchors`
/// at `now`, checking revocation of every certificate against the parseable `crls`.
pub(crate) fn validate(
    chain: &[Vec<u8>],
    anchors: &Anchors,
    crls: &[Vec<u8>],
    now: i64,
    usage: Usage,
) -> Result<(), webpki::Error> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(webpki::Error::BadDer);
    };
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let leaf = EndEntityCert::try_from(&leaf_der)?;
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    // A CRL that does not parse is as good as none: the status stays unknown (soft-fail above).
    let crls: Vec<CertRevocationList<'_>> = crls
        .iter()
        .filter_map(|der| BorrowedCertRevocationList::from_der(der).ok())
        .map(CertRevocationList::from)
        .collect();
    let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs)
        .ok()
        .map(|builder| {
            builder
                .with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .build()
        });
    let usage = match usage {
        Usage::Client => KeyUsage::client_auth(),
        Usage::Server => KeyUsage::server_auth(),
    };
    let time =
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0).unsigned_abs()));
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors.0,
        &intermediates,
        time,
        usage,
        revocation,
        None,
    )
    .map(|_| ())
}

/// Whether a validation failure means "not trusted" (no path to an anchor, or revoked) rather
/// than "invalid" (expired, malformed, bad signature): UDAP DCR answers the former with
/// `unapproved_software_statement`.
pub(crate) fn is_untrusted(error: &webpki::Error) -> bool {
    matches!(
        error,
        webpki::Error::UnknownIssuer | webpki::Error::CertRevoked
    )
}

/// A validation failure in words.
pub(crate) fn describe(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::UnknownIssuer => "the certificate chain does not lead to a trust anchor".to_owned(),
        E::CertExpired { not_after, .. } => format!(
            "a certificate of the chain expired at {}",
            rfc3339(not_after.as_secs())
        ),
        E::CertNotValidYet { not_before, .. } => format!(
            "a certificate of the chain is not valid before {}",
            rfc3339(not_before.as_secs())
        ),
        E::CertRevoked => {
            "a certificate of the chain is revoked (listed by its issuer's CRL)".to_owned()
        }
        E::InvalidSignatureForPublicKey => {
            "a certificate's signature does not verify with its issuer's key".to_owned()
        }
        E::CaUsedAsEndEntity => "the first certificate of the chain is a CA certificate".to_owned(),
        E::RequiredEkuNotFoundContext(_) => {
            "the certificate's extended key usage does not allow this use".to_owned()
        }
        other => format!("the certificate chain does not validate ({other})"),
    }
}

/// Seconds since the Unix epoch as an RFC 3339 date, for messages.
pub(crate) fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after the Unix epoch"))
}
