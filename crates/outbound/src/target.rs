//! The scheme and host rules, applied to the URL text before anything touches the network:
//! `https` only, unless the host is in the operator's allow list; an IP-literal host must
//! not be in a refused range ([`crate::address`]) unless allow-listed. Host names are judged
//! later, by the addresses they resolve to ([`crate::resolve`]).
//!
//! Hosts are compared in the form the URL parser (WHATWG URL Standard) gives them: domain
//! names lower-cased, IPv4 in dotted-quad (so `http://2130706433/` is `127.0.0.1`), IPv6
//! bracketed and compressed. Allow-list entries are brought to the same form, so
//! `0x7f.1` cannot slip past an entry or a rule by spelling.

use std::net::IpAddr;

use reqwest::Url;

use crate::address::refusal;
use crate::OutboundError;

/// The operator's allow list: hosts that may be fetched over plain http and whatever their
/// addresses (a local directory in development, an internal upstream).
#[derive(Debug, Default)]
pub(crate) struct AllowList(Vec<AllowEntry>);

#[derive(Debug)]
struct AllowEntry {
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

impl AllowList {
    /// Entries are `host` or `host:port`; an IPv6 host is `::1`, `[::1]` or `[::1]:8080`.
    /// An entry that is not a valid host is kept as written and so matches nothing.
    pub(crate) fn new(entries: &[String]) -> AllowList {
        AllowList(entries.iter().map(|e| parse_entry(e.trim())).collect())
    }

    fn allows(&self, host: &str, port: Option<u16>) -> bool {
        self.0
            .iter()
            .any(|e| e.host == host && (e.port.is_none() || e.port == port))
    }
}

fn parse_entry(entry: &str) -> AllowEntry {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => (format!("[{v6}]"), tail.strip_prefix(':')),
            None => (entry.to_owned(), None),
        }
    } else if entry.matches(':').count() > 1 {
        (format!("[{entry}]"), None)
    } else {
        match entry.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (entry.to_owned(), None),
        }
    };
    let canonical = Url::parse(&format!("http://{host}/"))
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or(host);
    AllowEntry {
        host: canonical,
        // An unparsable port keeps the entry from matching any port.
        port: port.map(|p| p.parse().unwrap_or(0)),
    }
}

/// A URL that passed the scheme and host rules.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) url: Url,
    /// In the allow list: fetched without address checks, plain http permitted.
    pub(crate) allowed: bool,
}

/// Applies the scheme and host rules to `text`, without resolving anything.
pub(crate) fn check(text: &str, allow: &AllowList) -> Result<Target, OutboundError> {
    let url = Url::parse(text).map_err(|e| OutboundError::BadUrl(e.to_string()))?;
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(OutboundError::BadUrl(format!(
            "scheme {scheme:?} is not https or http"
        )));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(OutboundError::BadUrl("the URL has no host".to_owned()));
    };
    let host = host.to_owned();
    if allow.allows(&host, url.port_or_known_default()) {
        return Ok(Target { url, allowed: true });
    }
    if scheme == "http" {
        // Plain http to a stranger's host can be read and rewritten on the way; a client's
        // key set in particular must come over TLS (OpenID Connect Dynamic Client
        // Registration 1.0 §2: jwks_uri "MUST use the https scheme").
        return Err(OutboundError::Refused {
            host,
            reason: "plain http is allowed only for hosts in allow_hosts".to_owned(),
        });
    }
    // The parser canonicalises every IPv4 spelling to dotted-quad, so a host that does not
    // parse here is a domain name.
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        if let Some(reason) = refusal(ip) {
            return Err(OutboundError::Refused {
                reason: format!("{ip} is {reason}"),
                host,
            });
        }
    }
    Ok(Target {
        url,
        allowed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::new(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn allow_entries_match_host_and_optional_port() {
        let list = allow(&[
            "LocalHost",
            "127.0.0.1:8080",
            "::1",
            "[fd00::1]:443",
            " Dir.Example ",
        ]);
        assert!(list.allows("localhost", Some(1)));
        assert!(list.allows("127.0.0.1", Some(8080)));
        assert!(!list.allows("127.0.0.1", Some(8081)));
        assert!(list.allows("[::1]", Some(80)));
        assert!(list.allows("[fd00::1]", Some(443)));
        assert!(!list.allows("[fd00::1]", Some(80)));
        assert!(list.allows("dir.example", Some(443)));
        assert!(!list.allows("sub.dir.example", Some(443)));
    }

    #[test]
    fn odd_ipv4_spellings_are_judged_as_the_address_they_mean() {
        let none = AllowList::default();
        for text in ["https://2130706433/", "https://0x7f.1/", "https://127.1/"] {
            let err = check(text, &none).unwrap_err();
            assert!(
                matches!(&err, OutboundError::Refused { host, reason } if host == "127.0.0.1" && reason.contains("loopback")),
                "{text}: {err:?}"
            );
        }
        assert!(
            check("http://0x7f.0.0.1:8080/", &allow(&["127.0.0.1:8080"]))
                .unwrap()
                .allowed
        );
    }
}
