//! The checking resolver: the only name resolution the guarded client does. It resolves a
//! host name, refuses the lot if ANY address is in a refused range ([`crate::address`]),
//! and otherwise hands exactly those addresses to the connector.
//!
//! Because the check runs inside the client's own resolution step, the addresses checked
//! are the addresses connected to: there is no second lookup for a DNS-rebinding answer to
//! slip into (OWASP SSRF Prevention Cheat Sheet, "DNS pinning"; the same effect as pinning
//! with `ClientBuilder::resolve_to_addrs`, without building a client per request). Checking
//! every address, not just the first, matters because the connector falls back through
//! the list (happy eyeballs, RFC 8305), so any one of them may end up used.
//!
//! A refusal travels out as a boxed [`OutboundError`] in the connector's error chain, where
//! [`crate::Outbound`] finds it again.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::refusal;
use crate::OutboundError;

/// Resolves with the system resolver (`getaddrinfo`, through tokio) and refuses internal
/// addresses. Used only for hosts outside the allow list.
#[derive(Debug)]
pub(crate) struct CheckingResolver;

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: the connector puts the URL's port on each address.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_all(&host, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn check_all(host: &str, addrs: &[SocketAddr]) -> Result<(), OutboundError> {
    if addrs.is_empty() {
        return Err(OutboundError::Transport(format!(
            "{host} resolves to no address"
        )));
    }
    for addr in addrs {
        if let Some(reason) = refusal(addr.ip()) {
            return Err(OutboundError::Refused {
                host: host.to_owned(),
                reason: format!("{host} resolves to {}, {reason}", addr.ip()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_internal_address_among_public_ones_refuses_the_host() {
        let public: SocketAddr = "8.8.8.8:0".parse().unwrap();
        let metadata: SocketAddr = "169.254.169.254:0".parse().unwrap();
        assert_eq!(check_all("a.example", &[public]), Ok(()));
        let err = check_all("a.example", &[public, metadata]).unwrap_err();
        assert!(
            matches!(&err, OutboundError::Refused { reason, .. } if reason.contains("169.254.169.254")),
            "{err:?}"
        );
        assert!(matches!(
            check_all("a.example", &[]),
            Err(OutboundError::Transport(_))
        ));
    }
}
