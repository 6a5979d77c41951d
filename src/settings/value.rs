//! What a server.conf value may hold so that Pulp's parser (Python 2's
//! `SafeConfigParser`) reads back exactly the value given.

use crate::conf::parse::is_space;
use crate::error::{Error, Result};

/// Rejects what configparser would not read back exactly. Secret values are not quoted
/// in the message.
pub fn check_conf_value(var: &str, value: &str, secret: bool) -> Result<()> {
    // A URL's password is masked as in the log (a broker_url given whole is no secret by
    // its key's name).
    let quoted = |v: &str| {
        if secret {
            String::new()
        } else {
            format!(" {:?}", crate::redact::mask_url_password(v))
        }
    };
    if value.is_empty() {
        return Err(Error::env(
            var,
            "is set but empty; give a value or unset it",
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        let what = match c {
            '\n' | '\r' => "a line break",
            '\t' => "a tab",
            _ => "a control character",
        };
        return Err(Error::env(
            var,
            format!(
                "value{} contains {what} ({:?}), which server.conf cannot hold",
                quoted(value),
                c
            ),
        ));
    }
    // Pulp's parser (Python 2) strips ASCII white space only.
    let space = is_space;
    if value.starts_with(space) || value.ends_with(space) {
        return Err(Error::env(
            var,
            format!(
                "value{} starts or ends with white space, which Pulp's parser strips; remove it",
                quoted(value)
            ),
        ));
    }
    if value == "\"\"" {
        return Err(Error::env(
            var,
            "value is two double quotes, which Pulp's parser reads as an empty value; give the value itself",
        ));
    }
    // Only the first ';' is looked at: after white space it starts a comment.
    if let Some(pos) = value.find(';') {
        if value[..pos].ends_with(space) {
            return Err(Error::env(
                var,
                format!(
                    "value{} has white space before its first ';', which Pulp's parser reads as the start of a comment",
                    quoted(value)
                ),
            ));
        }
    }
    Ok(())
}
