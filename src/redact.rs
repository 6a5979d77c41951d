//! What is never shown: values of keys whose names are credentials, and passwords inside
//! URLs. Used by the config phase's log and diff, and by error lines.

/// A key whose value is a credential by its name: every such key of Pulp's own
/// server.conf (`password`, `default_password`, `oauth_key`, `oauth_secret`) and the
/// usual spellings of the kind (`pwd`, `*_pass`, `passphrase`, `token`, `api_key`, ...).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const PARTS: [&str; 6] = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "credential",
    ];
    const NAMES: [&str; 6] = [
        "pass",
        "pwd",
        "oauth_key",
        "api_key",
        "apikey",
        "private_key",
    ];
    PARTS.iter().any(|p| k.contains(p))
        || NAMES.contains(&k.as_str())
        || k.ends_with("_pass")
        || k.ends_with("_pwd")
        || k.ends_with("_api_key")
        || k.ends_with("_access_key")
}

/// Every URL password in `value` masked: `scheme://user:secret@host/` →
/// `scheme://user:***@host/`.
///
/// Built to fail safe, masking too much rather than too little: a value may hold several
/// URLs (kombu's failover list, `amqp://u:P1@h1;amqp://u:P2@h2//`, whose alternates may
/// also come without a scheme), and a password may hold a raw `/`, `?`, `#`, `@`, `;` or
/// even `://`, which a URL parser would cut in the wrong place. So a URL runs from its
/// `://` to the scheme of the next one (a scheme that starts the value or follows a `;`,
/// `,` or white space); one without an `@` runs on into the next; and in each, everything
/// from the first `:` to the last `@` is masked.
pub fn mask_url_password(value: &str) -> String {
    let heads: Vec<usize> = value
        .match_indices("://")
        .filter(|(i, _)| starts_url(value, *i))
        .map(|(i, _)| i + 3)
        .collect();
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    let mut k = 0;
    while k < heads.len() {
        let start = heads[k];
        let mut end;
        loop {
            k += 1;
            end = heads
                .get(k)
                .map_or(value.len(), |&next| scheme_start(value, next - 3));
            if k >= heads.len() || value[start..end].contains('@') {
                break;
            }
        }
        let url = &value[start..end];
        let Some(at) = url.rfind('@') else { continue };
        let Some(colon) = url[..at].find(':') else {
            continue;
        };
        out.push_str(&value[copied..start + colon + 1]);
        out.push_str("***");
        copied = start + at;
    }
    out.push_str(&value[copied..]);
    out
}

/// Where the scheme before the `://` at `sep` begins.
fn scheme_start(value: &str, sep: usize) -> usize {
    value[..sep]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// Whether the `://` at `sep` begins a URL: its scheme is not empty and starts the value
/// or follows a list separator (`;` is kombu's, `,` some clients') or white space.
fn starts_url(value: &str, sep: usize) -> bool {
    let s = scheme_start(value, sep);
    s < sep
        && value[..s]
            .chars()
            .next_back()
            .is_none_or(|c| matches!(c, ';' | ',') || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multibyte_character_before_a_scheme_is_not_cut() {
        // Found by tests/conf_property.rs: the scheme's start landed inside 'é' (a panic).
        assert_eq!(mask_url_password("éamqp://u:p@h//"), "éamqp://u:p@h//");
        assert_eq!(mask_url_password("é;amqp://u:p@h//"), "é;amqp://u:***@h//");
    }

    #[test]
    fn secret_key_names() {
        for k in [
            "password",
            "default_password",
            "oauth_key",
            "oauth_secret",
            "pwd",
            "db_pwd",
            "ssl_keyfile_pass",
            "pass",
            "token",
            "api_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "rsa_key",
            "keyfile",
            "ssl_keyfile",
            "passive",
            "username",
            "compass",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            mask_url_password("amqp://guest:pw@mq:5672//"),
            "amqp://guest:***@mq:5672//"
        );
        assert_eq!(
            mask_url_password("qpid://guest@mq:5672/"),
            "qpid://guest@mq:5672/"
        );
        assert_eq!(mask_url_password("a:b@c"), "a:b@c");
        assert_eq!(mask_url_password("qpid://localhost/"), "qpid://localhost/");
        assert_eq!(
            mask_url_password("amqp://u:p@h/vh@x"),
            "amqp://u:***@x",
            "an '@' after the host masks too much, never too little"
        );
    }

    /// Every password of every URL: failover lists, raw '/', '?', '#', '@', ';' and even
    /// "://" inside a password.
    #[test]
    fn masks_every_password_however_written() {
        let cases = [
            (
                "amqp://u:P1@h1;amqp://u:P2@h2//",
                "amqp://u:***@h1;amqp://u:***@h2//",
            ),
            (
                "amqp://u:P1@h1,amqp://u:P2@h2//",
                "amqp://u:***@h1,amqp://u:***@h2//",
            ),
            ("amqp://u:P1@h1;u:P2@h2", "amqp://u:***@h2"),
            ("amqp://h1;amqp://u:P2@h2", "amqp://h1;amqp:***@h2"),
            ("amqp://u:a/P@h//", "amqp://u:***@h//"),
            ("amqp://u:a#P@h//", "amqp://u:***@h//"),
            ("amqp://u:a?P@h//", "amqp://u:***@h//"),
            ("amqp://u:a@P@h//", "amqp://u:***@h//"),
            ("amqp://u:a;P@h//", "amqp://u:***@h//"),
            ("amqp://u:a://P@h//", "amqp://u:***@h//"),
            ("amqp://u:a;amqp://P@h//", "amqp://u:***@h//"),
            ("tcp://u:P@h:5672", "tcp://u:***@h:5672"),
            ("url amqp://u:P@h/ failed", "url amqp://u:***@h/ failed"),
        ];
        for (url, shown) in cases {
            let masked = mask_url_password(url);
            assert_eq!(masked, shown, "{url}");
            assert!(!masked.contains('P'), "{url} -> {masked}");
        }
    }
}
