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

/// `scheme://user:secret@host/` → `scheme://user:***@host/`.
pub fn mask_url_password(value: &str) -> String {
    let Some(start) = value.find("://").map(|i| i + 3) else {
        return value.to_string();
    };
    let rest = &value[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return value.to_string();
    };
    let Some(colon) = rest[..at].find(':') else {
        return value.to_string();
    };
    format!("{}{}***{}", &value[..start], &rest[..=colon], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
