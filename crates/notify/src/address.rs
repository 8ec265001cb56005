//! Target addresses, decided once: URLs read by a real parser (the `url` crate), what counts as
//! loopback, how an address is shown masked, and the one percent-decoder and hex writer the
//! crate uses.

use std::net::IpAddr;

use url::{Host, Url};

/// A URL a target posts to, checked: `https://`, or `http://` only to this machine (a parsed
/// host that is a loopback IP or `localhost`); never with credentials in it (`user:pass@`).
pub fn checked_url(address: &str) -> Result<Url, String> {
    let url = Url::parse(address).map_err(|e| format!("not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL (user:password@) are not accepted".into());
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => {
            Err("http:// only on loopback (127.0.0.0/8, [::1], localhost); use https://".into())
        }
        other => Err(format!("scheme {other:?}: expected https://")),
    }
}

/// Whether the parsed URL names this machine: a loopback IP or `localhost`, with no userinfo.
pub fn is_loopback(url: &Url) -> bool {
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// An inline secret as people see it: a URL keeps its scheme and host (never userinfo, path or
/// query), anything else its last four characters (`https://hooks.slack.com/****`, `****abcd`).
pub fn mask(value: &str) -> String {
    if value.contains("://") {
        return match Url::parse(value) {
            Ok(u) => match u.host_str() {
                Some(host) => match u.port() {
                    Some(p) => format!("{}://{host}:{p}/****", u.scheme()),
                    None => format!("{}://{host}/****", u.scheme()),
                },
                None => format!("{}://****", u.scheme()),
            },
            Err(_) => "****".to_string(),
        };
    }
    let n = value.chars().count();
    if n > 8 {
        let tail: String = value.chars().skip(n - 4).collect();
        format!("****{tail}")
    } else {
        "****".to_string()
    }
}

/// `%XX` and `+` decoded as in a query string (`application/x-www-form-urlencoded`).
pub fn percent_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

pub use kms_alerts_core::text::hex;

/// Every value in `address` that must never be shown: the whole address, its path and query,
/// each path segment and query value of some length. Used to scrub service answers that echo
/// the request before they reach a log or an error.
pub fn secret_parts(address: &str) -> Vec<String> {
    let mut parts = vec![address.to_string()];
    if let Ok(u) = Url::parse(address) {
        parts.push(u.path().to_string());
        if let Some(q) = u.query() {
            parts.push(q.to_string());
        }
        parts.extend(u.path_segments().into_iter().flatten().map(str::to_string));
        for (_, v) in u.query_pairs() {
            parts.push(v.into_owned());
        }
        for (_, v) in u
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='))
        {
            parts.push(v.to_string());
        }
    }
    // Short pieces (`v1`, `services`) are not secrets and would mangle every message.
    parts.retain(|p| p.len() >= 8);
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    parts.dedup();
    parts
}

/// `text` with every secret part of `address` replaced by `****`.
pub fn scrub(text: &str, address: &str) -> String {
    let mut out = text.to_string();
    for p in secret_parts(address) {
        if out.contains(&p) {
            out = out.replace(&p, "****");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_the_parsed_host() {
        for ok in [
            "http://127.0.0.1:9/x",
            "http://127.1.2.3/x",
            "http://localhost:8080/x?y=1",
            "http://LOCALHOST/x",
            "http://[::1]:9/x",
            "https://hooks.slack.com/services/T/B/X",
        ] {
            assert!(checked_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.evil.example/x",
            "http://localhost.evil.example/x",
            "http://127.0.0.1@evil.example/x",
            "http://127.0.0.1:80@evil.example/x",
            "http://evil.example/x?127.0.0.1",
            "http://hooks.slack.com/x",
            "https://user:pass@hooks.slack.com/x",
            "https://user@hooks.slack.com/x",
            "http://user:pass@127.0.0.1/x",
            "ftp://127.0.0.1/x",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_show_no_secret() {
        assert_eq!(
            mask("https://hooks.slack.com/services/T0/B0/secretpart"),
            "https://hooks.slack.com/****"
        );
        assert_eq!(
            mask("https://user:pass@hooks.slack.com/x"),
            "https://hooks.slack.com/****"
        );
        assert_eq!(mask("http://127.0.0.1:9/x?k=s"), "http://127.0.0.1:9/****");
        assert_eq!(mask("0123456789abcdef0123456789abcdef"), "****cdef");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn decoding_hex_and_scrubbing() {
        assert_eq!(percent_decode("SEC%2Bx+y"), "SEC+x y");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        let addr =
            "https://oapi.dingtalk.com/robot/send?access_token=TOKENVALUE123&secret=SECabcdef1";
        let s = scrub(
            "error at /robot/send?access_token=TOKENVALUE123 (SECabcdef1)",
            addr,
        );
        assert!(
            !s.contains("TOKENVALUE123") && !s.contains("SECabcdef1"),
            "{s}"
        );
    }
}
