//! The environment contract: variables in, validated server.conf edits out. Pure
//! functions over the variables (and a file reader for `<VAR>_FILE`), so every rule is
//! tested without touching the process environment.

mod database;
mod env;
mod messaging;
mod value;

pub use env::{read_value_file, Env};

use crate::addr;
use crate::conf::Edit;
use crate::error::{Error, Result};
use crate::redact::is_secret_key;
use env::PREFIX;
use value::check_conf_value;

/// The server.conf edits the environment asks for, in a stable order.
pub fn conf_edits(env: &Env) -> Result<Vec<Edit>> {
    let mut edits: Vec<Edit> = Vec::new();
    if let Some(name) = env.text("PULP_SERVER_NAME")? {
        addr::check_host(name).map_err(|e| Error::env(env.shown_name("PULP_SERVER_NAME"), e))?;
        edits.push(edit(
            env,
            "server",
            "server_name",
            name,
            &["PULP_SERVER_NAME"],
        ));
    }
    if let Some(seeds) = database::seeds(env)? {
        edits.push(Edit {
            secret: false,
            ..edit(env, "database", "seeds", &seeds.0, &seeds.1)
        });
    }
    edits.extend(messaging::edits(env)?);
    let mut overrides = Vec::new();
    for name in env.names().filter(|n| n.starts_with(PREFIX)) {
        let shown = env.shown_name(name);
        let rest = &name[PREFIX.len()..];
        let (section, key) = rest.split_once("__").ok_or_else(|| {
            Error::env(
                &shown,
                "must be PULP__<SECTION>__<KEY>, e.g. PULP__DATABASE__NAME",
            )
        })?;
        for (what, part) in [("section", section), ("key", key)] {
            if part.is_empty() {
                return Err(Error::env(
                    &shown,
                    format!("has an empty {what}; the form is PULP__<SECTION>__<KEY>"),
                ));
            }
            if !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                return Err(Error::env(
                    &shown,
                    format!("the {what} {part:?} may use only letters, digits, '_', '-' and '.'"),
                ));
            }
        }
        if key.contains("__") {
            return Err(Error::env(
                &shown,
                "has more than two '__' separators; the form is PULP__<SECTION>__<KEY>",
            ));
        }
        let value = env.text(name)?.unwrap_or_default();
        let (section, key) = (section.to_lowercase(), key.to_lowercase());
        if let Some(first) = overrides
            .iter()
            .find(|o: &&Edit| o.section == section && o.key == key)
        {
            return Err(Error::env(
                &shown,
                format!(
                    "sets [{section}] {key}, as {} does; server.conf keys ignore case: unset one of them",
                    first.source
                ),
            ));
        }
        overrides.push(edit(env, &section, &key, value, &[name.as_str()]));
    }
    // A PULP__ variable wins over a value composed from the other variables.
    edits.retain(|e| {
        !overrides
            .iter()
            .any(|o| o.section == e.section && o.key == e.key)
    });
    edits.extend(overrides);
    for e in &edits {
        check_conf_value(&e.source, &e.value, e.secret)?;
    }
    Ok(edits)
}

fn edit(env: &Env, section: &str, key: &str, value: &str, sources: &[&str]) -> Edit {
    Edit {
        section: section.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        secret: sources.iter().any(|s| env.is_from_file(s)) || is_secret_key(key),
        only_if_present: false,
        source: sources
            .iter()
            .map(|s| env.shown_name(s))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A host with an optional port, from variable `var` (DNS name, IPv4 or IPv6).
fn host_port(var: &str, item: &str) -> Result<(String, Option<u16>)> {
    // A URL or `user:password@host` may hold a password: say so without quoting it.
    if item.contains('@') || item.contains("://") {
        return Err(Error::env(
            var,
            "holds a URL or credentials ('://' or '@'), not shown here; give only host[:port] (user and password have variables of their own)",
        ));
    }
    let (host, port) = addr::split(item).map_err(|e| {
        let e = if e.starts_with("has ") {
            format!("{e}; give host[:port], several separated by ',' without spaces")
        } else {
            e
        };
        Error::env(var, e)
    })?;
    if !host.starts_with('[') {
        addr::check_host(&host).map_err(|e| Error::env(var, e))?;
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env_of(pairs: &[(&str, &str)]) -> Result<Env> {
        Env::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
            |p| std::fs::read_to_string(p),
        )
    }

    fn edits(pairs: &[(&str, &str)]) -> Result<Vec<Edit>> {
        conf_edits(&env_of(pairs)?)
    }

    fn value(edits: &[Edit], section: &str, key: &str) -> Option<String> {
        edits
            .iter()
            .find(|e| e.section == section && e.key == key)
            .map(|e| e.value.clone())
    }

    #[test]
    fn nothing_set_changes_nothing() {
        assert!(edits(&[("PATH", "/bin"), ("HOME", "/root")])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn service_host_is_the_fallback_for_both() {
        let e = edits(&[("SERVICE_HOST", "10.0.0.5")]).unwrap();
        assert_eq!(value(&e, "database", "seeds").unwrap(), "10.0.0.5:27017");
        assert_eq!(
            value(&e, "tasks", "broker_url").unwrap(),
            "qpid://guest@10.0.0.5:5672/"
        );
        assert_eq!(
            value(&e, "messaging", "url").unwrap(),
            "tcp://10.0.0.5:5672"
        );
        let t = e.iter().find(|e| e.key == "transport").unwrap();
        assert!(t.only_if_present);
    }

    #[test]
    fn several_seeds_and_ipv6() {
        let e = edits(&[
            ("DB_SERVICE_HOST", "db1,db2:27018,[fd00::1],::1,[::2]:1"),
            ("DB_SERVICE_PORT", "27100"),
        ])
        .unwrap();
        assert_eq!(
            value(&e, "database", "seeds").unwrap(),
            "db1:27100,db2:27018,[fd00::1]:27100,[::1]:27100,[::2]:1"
        );
    }

    #[test]
    fn rabbitmq_url_encodes_credentials_and_vhost() {
        let e = edits(&[
            ("MSG_SERVICE_HOST", "::1"),
            ("MSG_SERVICE_TYPE", "rabbitmq"),
            ("MSG_SERVICE_USER", "pulp@x"),
            ("MSG_SERVICE_PASSWORD", "p%:@/?#;é"),
            ("MSG_SERVICE_VHOST", "pulp vh"),
        ])
        .unwrap();
        assert_eq!(
            value(&e, "tasks", "broker_url").unwrap(),
            "amqp://pulp%40x:p%25%3A%40%2F%3F%23%3B%C3%A9@[::1]:5672/pulp%20vh"
        );
        assert_eq!(value(&e, "messaging", "transport").unwrap(), "rabbitmq");
        assert_eq!(
            value(&e, "messaging", "url").unwrap(),
            "tcp://pulp%40x:p%25%3A%40%2F%3F%23%3B%C3%A9@[::1]:5672/pulp%20vh"
        );
    }

    #[test]
    fn rabbitmq_defaults_to_guest_and_the_root_vhost() {
        let e = edits(&[("MSG_SERVICE_HOST", "mq"), ("MSG_SERVICE_TYPE", "rabbitmq")]).unwrap();
        assert_eq!(
            value(&e, "tasks", "broker_url").unwrap(),
            "amqp://guest:guest@mq:5672//"
        );
        assert_eq!(
            value(&e, "messaging", "url").unwrap(),
            "tcp://guest:guest@mq:5672"
        );
    }

    #[test]
    fn pulp_variables_win_over_composed_ones() {
        let e = edits(&[
            ("DB_SERVICE_HOST", "db"),
            ("PULP__DATABASE__SEEDS", "other:1"),
            ("PULP__DATABASE__REPLICA_SET", "rs0"),
        ])
        .unwrap();
        assert_eq!(value(&e, "database", "seeds").unwrap(), "other:1");
        assert_eq!(value(&e, "database", "replica_set").unwrap(), "rs0");
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn file_variables_are_read_and_secret() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let e = edits(&[("PULP__DATABASE__PASSWORD_FILE", f.to_str().unwrap())]).unwrap();
        assert_eq!(value(&e, "database", "password").unwrap(), "s3cret");
        assert!(e[0].secret);
        assert_eq!(e[0].source, "PULP__DATABASE__PASSWORD_FILE");
    }

    #[test]
    fn values_python_2_reads_back_are_accepted() {
        // Only the first ';' is looked at; one at the start is kept (LF files); a
        // no-break space is not white space to Python 2.
        for v in ["a;b ;c", ";b", "x\u{a0}", "\u{a0}x", "\"\"x"] {
            let e = edits(&[("PULP__A__K", v)]).unwrap();
            assert_eq!(value(&e, "a", "k").unwrap(), v);
        }
    }

    #[test]
    fn a_file_value_loses_exactly_one_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v");
        for (text, want) in [("v\n", "v"), ("v\r\n", "v"), ("v", "v")] {
            std::fs::write(&f, text).unwrap();
            let e = edits(&[("PULP__A__K_FILE", f.to_str().unwrap())]).unwrap();
            assert_eq!(value(&e, "a", "k").unwrap(), want);
        }
        std::fs::write(&f, "v\n\n").unwrap();
        rejected(
            &[("PULP__A__K_FILE", f.to_str().unwrap())],
            "PULP__A__K_FILE",
        );
    }

    #[test]
    fn a_file_value_loses_a_leading_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v");
        for (text, want) in [
            ("\u{feff}s3cret\r\n", "s3cret"),
            ("\u{feff}\u{feff}x", "\u{feff}x"),
            ("x\u{feff}", "x\u{feff}"),
        ] {
            std::fs::write(&f, text).unwrap();
            let e = edits(&[("PULP__A__K_FILE", f.to_str().unwrap())]).unwrap();
            assert_eq!(value(&e, "a", "k").unwrap(), want);
        }
    }

    fn rejected(pairs: &[(&str, &str)], var: &str) -> String {
        match edits(pairs) {
            Err(e @ Error::Env { .. }) => {
                let msg = e.to_string();
                assert!(msg.starts_with(&format!("{var}: ")), "{msg}");
                assert_eq!(e.exit_code(), 64);
                msg
            }
            other => panic!("{pairs:?} gave {other:?}"),
        }
    }

    #[test]
    fn bad_values_are_rejected_naming_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("DB_SERVICE_HOST", "db"), ("DB_SERVICE_PORT", "abc")],
                "DB_SERVICE_PORT",
            ),
            (
                &[("DB_SERVICE_HOST", "db"), ("DB_SERVICE_PORT", "0")],
                "DB_SERVICE_PORT",
            ),
            (
                &[("DB_SERVICE_HOST", "db"), ("DB_SERVICE_PORT", "65536")],
                "DB_SERVICE_PORT",
            ),
            (
                &[("DB_SERVICE_HOST", "db"), ("DB_SERVICE_PORT", "+80")],
                "DB_SERVICE_PORT",
            ),
            (
                &[("DB_SERVICE_HOST", "db"), ("DB_SERVICE_PORT", " 27017")],
                "DB_SERVICE_PORT",
            ),
            (&[("DB_SERVICE_HOST", "")], "DB_SERVICE_HOST"),
            (&[("DB_SERVICE_HOST", "a b")], "DB_SERVICE_HOST"),
            (&[("DB_SERVICE_HOST", "db\nseeds")], "DB_SERVICE_HOST"),
            (&[("DB_SERVICE_HOST", "db1,,db2")], "DB_SERVICE_HOST"),
            (&[("DB_SERVICE_HOST", "db:notaport")], "DB_SERVICE_HOST"),
            (&[("DB_SERVICE_HOST", "[::1")], "DB_SERVICE_HOST"),
            (&[("DB_SERVICE_HOST", "[zz::1]:1")], "DB_SERVICE_HOST"),
            (&[("SERVICE_HOST", "")], "SERVICE_HOST"),
            (&[("DB_SERVICE_PORT", "27017")], "DB_SERVICE_PORT"),
            (
                &[("MSG_SERVICE_HOST", "mq"), ("MSG_SERVICE_TYPE", "kafka")],
                "MSG_SERVICE_TYPE",
            ),
            (
                &[("MSG_SERVICE_HOST", "mq"), ("MSG_SERVICE_PORT", "99999")],
                "MSG_SERVICE_PORT",
            ),
            (
                &[("MSG_SERVICE_HOST", "mq"), ("MSG_SERVICE_USER", "")],
                "MSG_SERVICE_USER",
            ),
            (&[("MSG_SERVICE_HOST", "a,b")], "MSG_SERVICE_HOST"),
            (&[("MSG_SERVICE_HOST", "mq/x")], "MSG_SERVICE_HOST"),
            (&[("MSG_SERVICE_PASSWORD", "x")], "MSG_SERVICE_PASSWORD"),
            (&[("PULP_SERVER_NAME", "pulp example")], "PULP_SERVER_NAME"),
            (&[("PULP__DATABASE__", "x")], "PULP__DATABASE__"),
            (&[("PULP____NAME", "x")], "PULP____NAME"),
            (&[("PULP__DATABASE", "x")], "PULP__DATABASE"),
            (&[("PULP__DATABASE__NAME", "")], "PULP__DATABASE__NAME"),
            (&[("PULP__DATABASE__NAME", "a\nb")], "PULP__DATABASE__NAME"),
            (&[("PULP__DATABASE__NAME", "a ;b")], "PULP__DATABASE__NAME"),
            (&[("PULP__DATABASE__NAME", "a ;b")], "PULP__DATABASE__NAME"),
            (&[("PULP__DATABASE__NAME", "\"\"")], "PULP__DATABASE__NAME"),
            (&[("PULP__DATABASE__NAME", "a\t")], "PULP__DATABASE__NAME"),
            (
                &[("PULP__SERVER__K", "a"), ("PULP__server__k", "b")],
                "PULP__server__k",
            ),
            (&[("PULP__DATABASE__NAME", " b")], "PULP__DATABASE__NAME"),
            (&[("PULP__DATABASE__NAME", "b\t")], "PULP__DATABASE__NAME"),
            (
                &[("PULP__DATABASE__NAME", "a\u{7}b")],
                "PULP__DATABASE__NAME",
            ),
            (&[("PULP__DATA BASE__NAME", "x")], "PULP__DATA BASE__NAME"),
            (&[("PULP__A__B__C", "x")], "PULP__A__B__C"),
            (
                &[("PULP__DATABASE__NAME_FILE", "/nonexistent/x")],
                "PULP__DATABASE__NAME_FILE",
            ),
            (
                &[("PULP__DATABASE__NAME_FILE", "")],
                "PULP__DATABASE__NAME_FILE",
            ),
            (
                &[
                    ("PULP__DATABASE__NAME", "a"),
                    ("PULP__DATABASE__NAME_FILE", "/x"),
                ],
                "PULP__DATABASE__NAME",
            ),
        ];
        for (pairs, var) in cases {
            rejected(pairs, var);
        }
    }

    #[test]
    fn url_passwords_are_masked_in_errors() {
        let msg = rejected(
            &[("PULP__TASKS__BROKER_URL", "amqp://u:TopSecret9@h// ;x")],
            "PULP__TASKS__BROKER_URL",
        );
        assert!(!msg.contains("TopSecret9"), "{msg}");
        assert!(msg.contains("amqp://u:***@h// ;x"), "{msg}");
    }

    #[test]
    fn secret_values_are_not_quoted_in_errors() {
        let msg = rejected(
            &[("PULP__DATABASE__PASSWORD", "hunter2\n")],
            "PULP__DATABASE__PASSWORD",
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
