//! The environment contract: variables in, validated server.conf edits out.
//!
//! A pure function over the variables (and a file reader for `<VAR>_FILE`), so every
//! rule is tested without touching the process environment.

use crate::conf::Edit;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::Ipv6Addr;
use std::path::Path;

/// The variables of the contract, besides `PULP__<SECTION>__<KEY>`.
pub const VARS: &[&str] = &[
    "PULP_SERVER_NAME",
    "SERVICE_HOST",
    "DB_SERVICE_HOST",
    "DB_SERVICE_PORT",
    "MSG_SERVICE_HOST",
    "MSG_SERVICE_PORT",
    "MSG_SERVICE_USER",
    "MSG_SERVICE_PASSWORD",
    "MSG_SERVICE_TYPE",
    "MSG_SERVICE_VHOST",
];

const PREFIX: &str = "PULP__";

/// A variable's value and whether it came from a `_FILE` (then it is never shown).
#[derive(Debug, Clone)]
struct Value {
    text: String,
    from_file: bool,
}

/// The contract's variables, `_FILE` ones already read.
#[derive(Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, Value>,
}

fn is_contract_var(name: &str) -> bool {
    VARS.contains(&name) || name.starts_with(PREFIX)
}

impl Env {
    /// Collects the contract's variables from `vars`, reading `<VAR>_FILE` through
    /// `read_file`. Other variables are ignored.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        read_file: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Env> {
        let mut plain = BTreeMap::new();
        let mut files = BTreeMap::new();
        for (name, value) in vars {
            let Some(name) = name.to_str().map(str::to_string) else {
                continue;
            };
            let base = name.strip_suffix("_FILE").filter(|b| is_contract_var(b));
            if !is_contract_var(&name) && base.is_none() {
                continue;
            }
            let value = value
                .into_string()
                .map_err(|_| Error::env(&name, "is not valid UTF-8"))?;
            match base {
                Some(base) => files.insert(base.to_string(), value),
                None => plain.insert(name, value),
            };
        }
        let mut env = Env::default();
        for (name, text) in plain {
            if files.contains_key(&name) {
                return Err(Error::env(
                    &name,
                    format!("both {name} and {name}_FILE are set; unset one of them"),
                ));
            }
            env.vars.insert(
                name,
                Value {
                    text,
                    from_file: false,
                },
            );
        }
        for (name, path) in files {
            let var = format!("{name}_FILE");
            if path.is_empty() {
                return Err(Error::env(
                    var,
                    "is set but empty; give the path of a file or unset it",
                ));
            }
            let text = read_file(Path::new(&path))
                .map_err(|e| Error::env(&var, format!("cannot read {path}: {e}")))?;
            // Secret files usually end with one newline that is not part of the value.
            let text = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string();
            env.vars.insert(
                name,
                Value {
                    text,
                    from_file: true,
                },
            );
        }
        Ok(env)
    }

    /// The value of `name`, or None when unset. Set but empty is an error.
    fn get(&self, name: &str) -> Result<Option<&Value>> {
        match self.vars.get(name) {
            Some(v) if v.text.is_empty() => Err(Error::env(
                self.shown_name(name),
                "is set but empty; give a value or unset it",
            )),
            other => Ok(other),
        }
    }

    fn text(&self, name: &str) -> Result<Option<&str>> {
        Ok(self.get(name)?.map(|v| v.text.as_str()))
    }

    fn is_from_file(&self, name: &str) -> bool {
        self.vars.get(name).is_some_and(|v| v.from_file)
    }

    /// The variable the user actually set (`X_FILE` when the value came from a file).
    fn shown_name(&self, name: &str) -> String {
        if self.is_from_file(name) {
            format!("{name}_FILE")
        } else {
            name.to_string()
        }
    }
}

/// The largest `_FILE` pulp-init reads: a secret, not a data file.
pub const FILE_VALUE_MAX: u64 = 64 * 1024;

/// Reads the file a `<VAR>_FILE` names: a regular file (or a symlink to one, as
/// Kubernetes mounts secrets) of at most [`FILE_VALUE_MAX`] bytes, in UTF-8. A FIFO or a
/// device is refused without blocking on it.
pub fn read_value_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error as IoError, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(IoError::other(format!(
            "it is {}; give a regular file (a mounted secret)",
            crate::conf::file_kind(&meta.file_type())
        )));
    }
    let mut bytes = Vec::new();
    file.take(FILE_VALUE_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > FILE_VALUE_MAX {
        return Err(IoError::other(format!(
            "it is larger than {} KiB, too large for a server.conf value",
            FILE_VALUE_MAX / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| IoError::new(ErrorKind::InvalidData, "it is not valid UTF-8"))
}

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

/// The server.conf edits the environment asks for, in a stable order.
pub fn conf_edits(env: &Env) -> Result<Vec<Edit>> {
    let mut edits: Vec<Edit> = Vec::new();
    if let Some(name) = env.text("PULP_SERVER_NAME")? {
        check_host(&env.shown_name("PULP_SERVER_NAME"), name)?;
        edits.push(edit(
            env,
            "server",
            "server_name",
            name,
            &["PULP_SERVER_NAME"],
        ));
    }
    if let Some(seeds) = database_seeds(env)? {
        edits.push(Edit {
            secret: false,
            ..edit(env, "database", "seeds", &seeds.0, &seeds.1)
        });
    }
    edits.extend(messaging(env)?);
    let mut overrides = Vec::new();
    for name in env.vars.keys().filter(|n| n.starts_with(PREFIX)) {
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

/// Rejects what configparser would not read back exactly. Secret values are not quoted
/// in the message.
pub fn check_conf_value(var: &str, value: &str, secret: bool) -> Result<()> {
    // A URL's password is masked as in the log (a broker_url given whole is no secret by
    // its key's name).
    let quoted = |v: &str| {
        if secret {
            String::new()
        } else {
            format!(" {:?}", crate::conf::mask_url_password(v))
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
    let space = crate::conf::parse::is_space;
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

/// `[database] seeds` from `DB_SERVICE_HOST` (or `SERVICE_HOST`) and `DB_SERVICE_PORT`,
/// with the variables it came from.
fn database_seeds(env: &Env) -> Result<Option<(String, Vec<&'static str>)>> {
    let port_var = "DB_SERVICE_PORT";
    let (host_var, hosts) = match (env.text("DB_SERVICE_HOST")?, env.text("SERVICE_HOST")?) {
        (Some(h), _) => ("DB_SERVICE_HOST", h),
        (None, Some(h)) => ("SERVICE_HOST", h),
        (None, None) => {
            if env.get(port_var)?.is_some() {
                return Err(Error::env(
                    env.shown_name(port_var),
                    "is set but DB_SERVICE_HOST (or SERVICE_HOST) is not; set the host too",
                ));
            }
            return Ok(None);
        }
    };
    let default_port = match env.text(port_var)? {
        Some(p) => parse_port(&env.shown_name(port_var), p)?,
        None => 27017,
    };
    let shown = env.shown_name(host_var);
    let mut seeds = Vec::new();
    for item in hosts.split(',') {
        let (host, port) = parse_host_port(&shown, item)?;
        seeds.push(format!("{host}:{}", port.unwrap_or(default_port)));
    }
    let mut sources = vec![host_var];
    if env.vars.contains_key(port_var) {
        sources.push(port_var);
    }
    Ok(Some((seeds.join(","), sources)))
}

fn parse_port(var: &str, text: &str) -> Result<u16> {
    let bad = || {
        Error::env(
            var,
            format!("{text:?} is not a port number; give a number from 1 to 65535"),
        )
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad()),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 literal; the host comes back
/// ready for a URL or a seed (IPv6 in brackets).
fn parse_host_port(var: &str, item: &str) -> Result<(String, Option<u16>)> {
    if item.is_empty() {
        return Err(Error::env(
            var,
            "has an empty host; give host[:port], several separated by ',' without spaces",
        ));
    }
    if let Some(rest) = item.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(|| {
            Error::env(
                var,
                format!("{item:?}: '[' without ']'; write IPv6 as [addr]:port"),
            )
        })?;
        check_ipv6(var, addr)?;
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(parse_port(var, p)?),
                None => {
                    return Err(Error::env(
                        var,
                        format!("{item:?}: expected ':port' after ']'"),
                    ))
                }
            },
        };
        return Ok((format!("[{addr}]"), port));
    }
    if item.matches(':').count() > 1 {
        check_ipv6(var, item)?;
        return Ok((format!("[{item}]"), None));
    }
    let (host, port) = match item.split_once(':') {
        Some((h, p)) => (h, Some(parse_port(var, p)?)),
        None => (item, None),
    };
    check_host(var, host)?;
    Ok((host.to_string(), port))
}

fn check_ipv6(var: &str, addr: &str) -> Result<()> {
    addr.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| {
        Error::env(
            var,
            format!("{addr:?} is not an IPv6 address; write IPv6 hosts as [addr] or [addr]:port"),
        )
    })
}

/// A DNS name or IPv4 address: letters, digits, '-', '.', '_' (Compose service names).
fn check_host(var: &str, host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(Error::env(var, "has an empty host name"));
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
        return Err(Error::env(
            var,
            format!(
                "host {host:?} contains {what}; a host is a DNS name, an IPv4 address or [IPv6]"
            ),
        ));
    }
    if host.len() > 253 || host.starts_with(['-', '.']) || host.ends_with('-') {
        return Err(Error::env(
            var,
            format!("{host:?} is not a valid host name"),
        ));
    }
    Ok(())
}

/// Percent-encodes all but RFC 3986 unreserved characters (and `keep`).
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `[messaging] url`, `[tasks] broker_url` and `[messaging] transport` from `MSG_SERVICE_*`.
fn messaging(env: &Env) -> Result<Vec<Edit>> {
    let host_var = if env.text("MSG_SERVICE_HOST")?.is_some() {
        "MSG_SERVICE_HOST"
    } else {
        "SERVICE_HOST"
    };
    let Some(host) = env.text(host_var)? else {
        let others = [
            "MSG_SERVICE_PORT",
            "MSG_SERVICE_USER",
            "MSG_SERVICE_PASSWORD",
            "MSG_SERVICE_TYPE",
            "MSG_SERVICE_VHOST",
        ];
        if let Some(set) = others.iter().find(|v| env.vars.contains_key(**v)) {
            env.get(set)?;
            return Err(Error::env(
                env.shown_name(set),
                "is set but MSG_SERVICE_HOST (or SERVICE_HOST) is not; set the host too",
            ));
        }
        return Ok(Vec::new());
    };
    let shown_host = env.shown_name(host_var);
    if host.contains(',') {
        return Err(Error::env(
            &shown_host,
            "names more than one host; the broker URL takes one",
        ));
    }
    let (host, own_port) = parse_host_port(&shown_host, host)?;
    let port = match (own_port, env.text("MSG_SERVICE_PORT")?) {
        (Some(p), _) => p,
        (None, Some(p)) => parse_port(&env.shown_name("MSG_SERVICE_PORT"), p)?,
        (None, None) => 5672,
    };
    let kind = match env.text("MSG_SERVICE_TYPE")? {
        None => "qpid",
        Some(t) if t.eq_ignore_ascii_case("qpid") => "qpid",
        Some(t) if t.eq_ignore_ascii_case("rabbitmq") => "rabbitmq",
        Some(t) => {
            return Err(Error::env(
                env.shown_name("MSG_SERVICE_TYPE"),
                format!("{t:?} is not a broker type; use qpid or rabbitmq"),
            ))
        }
    };
    let user = env.text("MSG_SERVICE_USER")?.unwrap_or("guest");
    let password = match env.text("MSG_SERVICE_PASSWORD")? {
        Some(p) => Some(p),
        // RabbitMQ's default account is guest/guest; qpid's default URL has no password.
        None if kind == "rabbitmq" && user == "guest" => Some("guest"),
        None => None,
    };
    let mut userinfo = percent_encode(user, &[]);
    if let Some(p) = password {
        userinfo.push(':');
        userinfo.push_str(&percent_encode(p, &[]));
    }
    let vhost = env.text("MSG_SERVICE_VHOST")?.unwrap_or("/");
    let (url, agent_url) = if kind == "qpid" {
        // [messaging] url is the consumer agent's broker, `tcp://host:port` as Pulp documents
        // it (and as configure_pulp_server.sh wrote it); credentials only when given.
        let agent_auth = if password.is_some() {
            format!("{userinfo}@")
        } else {
            String::new()
        };
        (
            format!("qpid://{userinfo}@{host}:{port}/"),
            format!("tcp://{agent_auth}{host}:{port}"),
        )
    } else {
        // "/" stays literal: amqp://…:5672// is the usual spelling of the default vhost.
        let path = percent_encode(vhost, b"/");
        let agent_path = if vhost == "/" {
            String::new()
        } else {
            format!("/{path}")
        };
        (
            format!("amqp://{userinfo}@{host}:{port}/{path}"),
            format!("tcp://{userinfo}@{host}:{port}{agent_path}"),
        )
    };
    let sources: Vec<&str> = [host_var]
        .into_iter()
        .chain(
            [
                "MSG_SERVICE_PORT",
                "MSG_SERVICE_USER",
                "MSG_SERVICE_PASSWORD",
                "MSG_SERVICE_TYPE",
                "MSG_SERVICE_VHOST",
            ]
            .into_iter()
            .filter(|v| env.vars.contains_key(*v)),
        )
        .collect();
    let url_edit = |key: &str, url: &str| Edit {
        // The password inside is masked when shown; a password from a file hides it all.
        secret: env.is_from_file("MSG_SERVICE_PASSWORD") || env.is_from_file("MSG_SERVICE_USER"),
        ..edit(env, "", key, url, &sources)
    };
    let mut transport = edit(env, "messaging", "transport", kind, &["MSG_SERVICE_TYPE"]);
    // qpid is Pulp's default transport: only a file that says otherwise needs the change.
    transport.only_if_present = kind == "qpid";
    if !env.vars.contains_key("MSG_SERVICE_TYPE") {
        transport.source = format!("default of MSG_SERVICE_TYPE for {}", sources.join(", "));
    }
    Ok(vec![
        Edit {
            section: "messaging".into(),
            ..url_edit("url", &agent_url)
        },
        Edit {
            section: "tasks".into(),
            ..url_edit("broker_url", &url)
        },
        transport,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

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
