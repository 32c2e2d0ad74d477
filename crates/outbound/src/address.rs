//! The address classifier: whether an IP address may be the target of a fetch whose host a
//! stranger chose. Refused are the ranges the IANA special-purpose registries (RFC 6890 and
//! its updates) mark as not globally reachable, plus multicast and broadcast: loopback,
//! private-use, link-local (which holds the cloud metadata service 169.254.169.254),
//! shared CGNAT space, documentation and benchmarking ranges, and IPv6 forms that embed such
//! an IPv4 address. This is the "deny internal addresses" half of the OWASP SSRF Prevention
//! Cheat Sheet; the other half (check the address actually connected to) is in
//! [`crate::resolve`].
//!
//! IPv6 is deny-by-default: only global unicast (2000::/3, RFC 4291 §2.4) passes, minus its
//! special-purpose blocks, plus the IPv4-mapped and NAT64 forms of an acceptable IPv4
//! address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` must not be fetched from, or `None` when it is a public address.
pub(crate) fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// IPv4 special-purpose blocks (IANA IPv4 Special-Purpose Address Registry, RFC 6890), plus
/// multicast. First match wins, so the broadcast /32 precedes the reserved /4 holding it.
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "\"this network\" (RFC 791), incl. unspecified",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private-use (RFC 1918)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space / CGNAT (RFC 6598)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (RFC 1122)"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local (RFC 3927), incl. cloud metadata",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private-use (RFC 1918)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (RFC 6890)",
    ),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation (RFC 5737)"),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (RFC 7526)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private-use (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (RFC 5737)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (RFC 5737)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (RFC 5771)"),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        "limited broadcast (RFC 919)",
    ),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (RFC 1112)"),
];

/// IPv6 blocks refused by name, checked before the global-unicast rule so the reason is
/// specific (IANA IPv6 Special-Purpose Address Registry, RFC 6890 and updates).
const V6_REFUSED: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified (RFC 4291)"),
    (Ipv6Addr::LOCALHOST, 128, "loopback (RFC 4291)"),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        "IPv4-compatible, deprecated (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64 (RFC 8215)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation (RFC 3849)",
    ),
    // Holds Teredo (2001::/32), whose addresses embed an obfuscated IPv4 address.
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments (RFC 2928)",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (RFC 9637)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (RFC 4193)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local, deprecated (RFC 3879)",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast (RFC 4291)",
    ),
];

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = ip.to_bits();
    V4_REFUSED
        .iter()
        .find(|(net, len, _)| prefix_match(bits.into(), net.to_bits().into(), 32, *len))
        .map(|(_, _, reason)| *reason)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Forms that reach an IPv4 address are judged by that address: an IPv4-mapped address
    // on a dual-stack socket (RFC 4291 §2.5.5.2), the NAT64 well-known prefix (RFC 6052)
    // and 6to4 (RFC 3056) all end up at the embedded IPv4 host.
    if let Some(v4) = embedded_v4(ip) {
        return refusal_v4(v4);
    }
    let bits = ip.to_bits();
    if let Some((_, _, reason)) = V6_REFUSED
        .iter()
        .find(|(net, len, _)| prefix_match(bits, net.to_bits(), 128, *len))
    {
        return Some(reason);
    }
    let global_unicast = Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0).to_bits();
    if !prefix_match(bits, global_unicast, 128, 3) {
        return Some("not global unicast (outside 2000::/3, RFC 4291)");
    }
    None
}

/// The IPv4 address an IPv6 address stands for, when it is of a form that delivers to one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = ip.to_bits();
    let mapped = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0).to_bits();
    let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0).to_bits();
    let six_to_four = Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0).to_bits();
    let o = ip.octets();
    if prefix_match(bits, mapped, 128, 96) || prefix_match(bits, nat64, 128, 96) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if prefix_match(bits, six_to_four, 128, 16) {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Whether the top `len` bits of `addr` and `net` (both `width` bits wide) agree.
fn prefix_match(addr: u128, net: u128, width: u32, len: u8) -> bool {
    let len = u32::from(len);
    len == 0 || (addr ^ net) >> (width - len) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_and_special_addresses_are_refused() {
        let refused = [
            ("10.0.0.1", "private-use"),
            ("172.16.5.4", "private-use"),
            ("172.31.255.255", "private-use"),
            ("192.168.1.1", "private-use"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("0.0.0.0", "this network"),
            ("0.1.2.3", "this network"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.0.8", "IETF"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("ff02::1", "multicast"),
            ("fec0::1", "site-local"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001:0:4136:e378::1", "IETF"),
            ("100::1", "discard"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private-use"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:0.0.0.0", "this network"),
            ("64:ff9b::a00:1", "private-use"),
            ("64:ff9b:1::1", "NAT64"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:a9fe:a9fe::", "link-local"),
            ("4000::1", "not global unicast"),
        ];
        for (text, why) in refused {
            let ip: IpAddr = text.parse().unwrap();
            let reason = refusal(ip).unwrap_or_else(|| panic!("{text} was accepted"));
            assert!(
                reason.contains(why),
                "{text}: {reason:?} should name {why:?}"
            );
        }
    }

    #[test]
    fn public_addresses_are_accepted() {
        let accepted = [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.255.255",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for text in accepted {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(refusal(ip), None, "{text} was refused");
        }
    }
}
