//! Host and port as they appear in seeds, URLs and the environment: `host`, `host:port`,
//! `[v6]`, `[v6]:port`, or a bare IPv6 literal. One parser for settings and both probes.

use std::net::Ipv6Addr;

/// `item` split into a host (IPv6 in brackets, ready for a URL or a seed) and its port,
/// if it has one. Errors are phrases to put after the value's name.
pub fn split(item: &str) -> Result<(String, Option<u16>), String> {
    if item.is_empty() {
        return Err("has an empty host".into());
    }
    if let Some(rest) = item.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{item:?}: '[' without ']'; write IPv6 as [addr]:port"))?;
        check_ipv6(addr)?;
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(port(p)?),
                None => return Err(format!("{item:?}: expected ':port' after ']'")),
            },
        };
        return Ok((format!("[{addr}]"), port));
    }
    if item.matches(':').count() > 1 {
        check_ipv6(item)?;
        return Ok((format!("[{item}]"), None));
    }
    match item.split_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_string(), Some(port(p)?))),
        Some(_) => Err(format!("{item:?} has no host")),
        None => Ok((item.to_string(), None)),
    }
}

/// A port number, 1 to 65535, digits only.
pub fn port(text: &str) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a port number; give a number from 1 to 65535");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)
}

fn check_ipv6(addr: &str) -> Result<(), String> {
    addr.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| {
        format!("{addr:?} is not an IPv6 address; write IPv6 hosts as [addr] or [addr]:port")
    })
}

/// A DNS name or IPv4 address: letters, digits, '-', '.', '_' (Compose service names).
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("has an empty host name".into());
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        let what = if c.is_whitespace() || c.is_control() {
            "white space or a control character".to_string()
        } else {
            format!("{c:?}")
        };
        return Err(format!(
            "host {host:?} contains {what}; a host is a DNS name, an IPv4 address or [IPv6]"
        ));
    }
    if host.len() > 253 || host.starts_with(['-', '.']) || host.ends_with('-') {
        return Err(format!("{host:?} is not a valid host name"));
    }
    Ok(())
}

/// The host without the brackets of an IPv6 literal, as resolvers and drivers take it.
pub fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(split("db").unwrap(), ("db".into(), None));
        assert_eq!(split("db:1").unwrap(), ("db".into(), Some(1)));
        assert_eq!(split("[::1]:2").unwrap(), ("[::1]".into(), Some(2)));
        assert_eq!(split("[::1]").unwrap(), ("[::1]".into(), None));
        assert_eq!(split("fd00::1").unwrap(), ("[fd00::1]".into(), None));
        for bad in [
            "", ":1", "db:0", "db:x", "db:70000", "[::1", "[::1]x", "[zz]", "a:b:c",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
        assert_eq!(unbracket("[::1]"), "::1");
        assert_eq!(unbracket("db"), "db");
        assert!(check_host("db-1.example_x").is_ok());
        assert!(check_host("a b").is_err());
        assert!(check_host("-a").is_err());
    }
}
