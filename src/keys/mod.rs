//! Pulp's keys and certificates (issue 17): which files server.conf and the TLS options
//! name, generating a set (generate.rs), writing one (files.rs), validating provided files
//! (validate.rs), and the `pulp-init keys` subcommand.
//!
//! For a phase: `keys::Paths::from_conf(&values, &opts, tls)`, then
//! `keys::validate(&paths, &keys::Context { .. })` -> `Report` (problems, warnings, pairs
//! missing altogether), `Report::into_result()` -> Err(Error::Keys) exit 78; or
//! `keys::generate_set(&Names)` -> `Set`, and `keys::write_set(&set, &Layout)`.

pub mod files;
mod generate;
mod material;
pub mod phase;
mod validate;

pub use generate::{generate_set, Names, Set};
pub use validate::{validate, Context, Fingerprint, Report};

use crate::conf::Values;
use crate::error::{Error, Result};
use crate::privileges::{self, Account};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub const TLS_CERT: &str = "/etc/pki/tls/certs/localhost.crt";
pub const TLS_KEY: &str = "/etc/pki/tls/private/localhost.key";
/// The group of Pulp's key files (`pulp-gen-key-pair`, `pulp-gen-ca-certificate`).
pub const KEY_GROUP: &str = "apache";

#[derive(Debug, Clone, clap::Args)]
pub struct KeysOptions {
    /// httpd's TLS certificate (the apache role; checked by `keys --check`).
    #[arg(long, global = true, env = "PULP_INIT_TLS_CERT", default_value = TLS_CERT, value_name = "PATH")]
    pub tls_cert: PathBuf,

    /// httpd's TLS private key.
    #[arg(long, global = true, env = "PULP_INIT_TLS_KEY", default_value = TLS_KEY, value_name = "PATH")]
    pub tls_key: PathBuf,

    /// Where no key set is provided, make one for the whole deployment at the first start
    /// (under a database lease; put the key directory on a volume every pod mounts).
    #[arg(long, global = true, env = "PULP_INIT_GENERATE_KEYS", value_parser = clap::builder::BoolishValueParser::new())]
    pub generate_keys: bool,

    /// A directory of key files as `keys --out` writes them (a mounted Secret): laid into
    /// the configured paths with Pulp's modes and group before they are checked.
    #[arg(long, global = true, env = "PULP_INIT_KEYS_DIR", value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,

    /// Do not check (or make) the keys at start.
    #[arg(long, global = true, env = "PULP_INIT_SKIP_KEYS", value_parser = clap::builder::BoolishValueParser::new())]
    pub skip_keys: bool,
}

/// Failures of the keys phase and of `keys --out`.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Provided files that cannot be used: one line each.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error("generating keys: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path}: {problem}")]
    OutDir { path: PathBuf, problem: String },
}

/// Private key text: never shown by Debug, wiped when dropped.
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(zeroize::Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<private key>")
    }
}

/// The pairs a deployment has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pair {
    /// `[authentication] rsa_key` / `rsa_pub`: Pulp's signing pair.
    Rsa,
    /// `[security] cakey` / `cacert`.
    Ca,
    /// httpd's TLS key and certificate.
    Tls,
}

impl Pair {
    pub fn describe(self) -> &'static str {
        match self {
            Pair::Rsa => "Pulp's signing pair, [authentication] rsa_key/rsa_pub",
            Pair::Ca => "Pulp's CA, [security] cakey/cacert",
            Pair::Tls => "httpd's TLS key and certificate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where a deployment's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub rsa_key: PathBuf,
    pub rsa_pub: PathBuf,
    pub ca_key: PathBuf,
    pub ca_crt: PathBuf,
    /// The apache role's (and `keys --check`'s); None for roles without httpd.
    pub tls: Option<TlsPaths>,
}

impl Paths {
    /// As Pulp reads them (its defaults where server.conf says nothing).
    pub fn from_conf(values: &Values, opts: &KeysOptions, tls: bool) -> Result<Paths> {
        let get = |section: &str, key: &str, default: &str| -> Result<PathBuf> {
            Ok(values
                .get_nonempty(section, key)?
                .map_or_else(|| PathBuf::from(default), PathBuf::from))
        };
        Ok(Paths {
            rsa_key: get("authentication", "rsa_key", "/etc/pki/pulp/rsa.key")?,
            rsa_pub: get("authentication", "rsa_pub", "/etc/pki/pulp/rsa_pub.key")?,
            ca_key: get("security", "cakey", "/etc/pki/pulp/ca.key")?,
            ca_crt: get("security", "cacert", "/etc/pki/pulp/ca.crt")?,
            tls: tls.then(|| TlsPaths {
                cert: opts.tls_cert.clone(),
                key: opts.tls_key.clone(),
            }),
        })
    }
}

impl Report {
    /// Logs the warnings; the problems become the error (exit 78).
    /// The fingerprints of a valid set.
    pub fn into_result(self) -> Result<Vec<Fingerprint>> {
        for w in &self.warnings {
            log::warn!("{w}");
        }
        if self.problems.is_empty() {
            Ok(self.fingerprints)
        } else {
            Err(KeyError::Invalid(self.problems).into())
        }
    }
}

/// `[server] server_name` as Pulp gets it: the value, else `socket.getfqdn()`.
pub fn server_name(values: &Values) -> Result<String> {
    Ok(values
        .get_nonempty("server", "server_name")?
        .unwrap_or_else(fqdn))
}

/// The host's FQDN as `hostname --fqdn` and Python's `socket.getfqdn()` find it without
/// DNS: the kernel's host name, and the first name with a dot on its /etc/hosts line.
pub fn fqdn() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    fqdn_in(&host, &hosts)
}

pub fn fqdn_in(host: &str, hosts: &str) -> String {
    if host.contains('.') || host.is_empty() {
        return if host.is_empty() {
            "localhost".into()
        } else {
            host.into()
        };
    }
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        if names.iter().any(|n| n.eq_ignore_ascii_case(host)) {
            if let Some(full) = names.iter().find(|n| n.contains('.')) {
                return (*full).to_string();
            }
        }
    }
    host.to_string()
}

/// Where `write_set` puts each file, and the group of the private keys.
#[derive(Debug, Clone)]
pub struct Layout {
    pub ca_key: PathBuf,
    pub ca_crt: PathBuf,
    pub rsa_key: PathBuf,
    pub rsa_pub: PathBuf,
    pub tls_key: PathBuf,
    pub tls_crt: PathBuf,
    /// chgrp of Pulp's files (apache), where pulp-init may (as root).
    pub gid: Option<u32>,
}

impl Layout {
    /// The names `keys --out DIR` writes (the keys of a `kubectl create secret generic
    /// --from-file=DIR`).
    pub fn in_dir(dir: &Path, gid: Option<u32>) -> Layout {
        Layout {
            ca_key: dir.join("ca.key"),
            ca_crt: dir.join("ca.crt"),
            rsa_key: dir.join("rsa.key"),
            rsa_pub: dir.join("rsa_pub.key"),
            tls_key: dir.join("tls.key"),
            tls_crt: dir.join("tls.crt"),
            gid,
        }
    }

    /// The configured paths.
    #[allow(dead_code)] // for the keys phase at start (issue 17 §1-2)
    pub fn at(paths: &Paths, gid: Option<u32>) -> Layout {
        let tls = paths.tls.clone().unwrap_or(TlsPaths {
            cert: TLS_CERT.into(),
            key: TLS_KEY.into(),
        });
        Layout {
            ca_key: paths.ca_key.clone(),
            ca_crt: paths.ca_crt.clone(),
            rsa_key: paths.rsa_key.clone(),
            rsa_pub: paths.rsa_pub.clone(),
            tls_key: tls.key,
            tls_crt: tls.cert,
            gid,
        }
    }
}

/// Writes all six files or none: private keys 0640 group apache as Pulp's tools make
/// them (the TLS key 0600: only httpd's root reads it), public files 0644.
pub fn write_set(set: &Set, layout: &Layout) -> Result<()> {
    fn f<'a>(target: &Path, contents: &'a str, mode: u32, gid: Option<u32>) -> files::Planned<'a> {
        files::Planned {
            target: target.to_path_buf(),
            contents: contents.as_bytes(),
            mode,
            gid,
        }
    }
    let planned = [
        f(&layout.ca_key, set.ca_key.expose(), 0o640, layout.gid),
        f(&layout.ca_crt, &set.ca_crt, 0o644, layout.gid),
        f(&layout.rsa_key, set.rsa_key.expose(), 0o640, layout.gid),
        f(&layout.rsa_pub, &set.rsa_pub, 0o644, layout.gid),
        f(&layout.tls_key, set.tls_key.expose(), 0o600, None),
        f(&layout.tls_crt, &set.tls_crt, 0o644, None),
    ];
    files::write_all(&planned).map_err(Error::from)
}

/// The gid of group apache in /etc/group, when pulp-init runs as root (only root may
/// give a file to a group it is not in).
pub fn key_group() -> Option<u32> {
    if crate::sys::geteuid() != 0 {
        return None;
    }
    gid_in(
        KEY_GROUP,
        &std::fs::read_to_string("/etc/group").unwrap_or_default(),
    )
}

fn gid_in(name: &str, group: &str) -> Option<u32> {
    group.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next() == Some(name))
            .then(|| f.nth(1).and_then(|gid| gid.parse().ok()))
            .flatten()
    })
}

/// `pulp-init keys --check`: the configured files, as `user` would read Pulp's.
pub fn check(values: &Values, opts: &KeysOptions, user: &str, server: Option<&str>) -> Result<()> {
    let paths = Paths::from_conf(values, opts, true)?;
    let server_name = match server {
        Some(s) => s.to_string(),
        None => server_name(values)?,
    };
    let account: Option<Account> = privileges::lookup(user);
    if account.is_none() {
        log::warn!("user {user:?} is not in /etc/passwd: readability checked as pulp-init's own");
    }
    let report = validate(
        &paths,
        &Context {
            server_name: &server_name,
            reader: account.as_ref(),
            now: std::time::SystemTime::now(),
        },
    );
    let ok = report.is_ok();
    report.into_result()?;
    if ok {
        log::info!(
            "keys: every file is valid ({} and {})",
            paths.rsa_key.display(),
            paths.ca_crt.display()
        );
    }
    Ok(())
}

/// `pulp-init keys --out DIR`: a new set in a new or empty directory.
pub fn out(dir: &Path, names: &Names) -> Result<()> {
    files::prepare_out_dir(dir)?;
    let started = std::time::Instant::now();
    let set = generate_set(names)?;
    write_set(&set, &Layout::in_dir(dir, key_group()))?;
    log::info!(
        "keys: wrote ca.crt, ca.key, rsa.key, rsa_pub.key, tls.crt, tls.key to {} in {:.1}s (CA CN {}, TLS names {}, localhost)",
        dir.display(),
        started.elapsed().as_secs_f64(),
        names.fqdn,
        names.server_name
    );
    Ok(())
}

#[cfg(test)]
mod tests;
