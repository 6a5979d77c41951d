//! Checks of provided files, one line per failure naming the file, what is wrong and the fix:
//! both files of each pair there, PEM that parses, the public half matching the private key,
//! certificates valid now (a warning 30 days ahead), the TLS certificate naming server_name
//! and signed by the CA, private keys not readable by others, every file readable by the
//! user that reads it.

use super::material::{self, PublicKey};
use super::{Pair, Paths};
use crate::privileges::Account;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate that ends within this is warned about.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);
/// Larger is not a key or a certificate chain.
const MAX_FILE: u64 = 1 << 20;

/// What the checks need besides the paths.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// `[server] server_name`: the name the TLS certificate must carry.
    pub server_name: &'a str,
    /// Who reads Pulp's files (apache's WSGI processes, the workers): checked by owner,
    /// group and mode. None: this process reads them (the read itself is the check).
    pub reader: Option<&'a Account>,
    pub now: SystemTime,
}

/// The outcome: failures (each one line) and warnings.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// Pairs of which neither file exists (where a set could be generated or laid in).
    pub missing: Vec<Pair>,
    /// What the deployment's set is known by: SHA-256 (hex) of the signing public key's
    /// bits (PKCS#1 for RSA: `openssl rsa -pubin -RSAPublicKey_out -outform DER | sha256sum`)
    /// and of each certificate's DER (`openssl x509 -noout -fingerprint -sha256`).
    pub fingerprints: Vec<Fingerprint>,
}

/// One public part of the set, by the name the database record keeps it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `rsa_pub`, `ca_crt` or `tls_crt`.
    pub field: &'static str,
    pub path: std::path::PathBuf,
    pub sha256: String,
}

impl Fingerprint {
    fn of(field: &'static str, path: &Path, bytes: &[u8]) -> Fingerprint {
        Fingerprint {
            field,
            path: path.to_path_buf(),
            sha256: ring::digest::digest(&ring::digest::SHA256, bytes)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self.field {
            "rsa_pub" => "signing public key SHA-256",
            "ca_crt" => "CA certificate SHA-256",
            _ => "TLS certificate SHA-256",
        }
    }
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One file, read and stat'ed (links followed: Kubernetes mounts Secret files as links).
struct Loaded {
    text: String,
}

/// Checks every file `paths` names.
pub fn validate(paths: &Paths, ctx: &Context<'_>) -> Report {
    let mut r = Report::default();
    let rsa = pair(&mut r, ctx, Pair::Rsa, &paths.rsa_key, &paths.rsa_pub);
    if let Some((key, public)) = rsa {
        let key = parsed(&mut r, &paths.rsa_key, material::private_key(&key.text));
        let public = parsed(&mut r, &paths.rsa_pub, material::public_key(&public.text));
        if let Some(p) = &public {
            r.fingerprints
                .push(Fingerprint::of("rsa_pub", &paths.rsa_pub, &p.bits));
        }
        if let (Some(key), Some(public)) = (key, public) {
            if key != public {
                r.problems.push(format!(
                    "{}: is not the public key of {}; write it from the key (openssl rsa -in {} -pubout -out {}) or provide the matching pair",
                    paths.rsa_pub.display(),
                    paths.rsa_key.display(),
                    paths.rsa_key.display(),
                    paths.rsa_pub.display()
                ));
            }
        }
    }
    let ca = pair(&mut r, ctx, Pair::Ca, &paths.ca_key, &paths.ca_crt)
        .and_then(|(key, crt)| cert_and_key(&mut r, ctx, &paths.ca_key, key, &paths.ca_crt, crt));
    if let Some(der) = &ca {
        r.fingerprints
            .push(Fingerprint::of("ca_crt", &paths.ca_crt, der));
    }
    if let Some(tls) = &paths.tls {
        // httpd reads its certificate and key as root, before it drops to apache.
        let tls_ctx = Context {
            reader: None,
            ..ctx.clone()
        };
        let loaded = pair(&mut r, &tls_ctx, Pair::Tls, &tls.key, &tls.cert);
        if let Some(leaf) =
            loaded.and_then(|(key, crt)| cert_and_key(&mut r, ctx, &tls.key, key, &tls.cert, crt))
        {
            r.fingerprints
                .push(Fingerprint::of("tls_crt", &tls.cert, &leaf));
            names_server(&mut r, &tls.cert, &leaf, ctx.server_name);
            if let Some(ca_der) = &ca {
                signed_by_ca(&mut r, &tls.cert, &leaf, &paths.ca_crt, ca_der);
            }
        }
    }
    r
}

fn parsed<T>(r: &mut Report, path: &Path, result: Result<T, String>) -> Option<T> {
    result
        .map_err(|what| r.problems.push(format!("{}: {what}", path.display())))
        .ok()
}

/// Both files of a pair, read; None (with the problems noted) when either cannot be used.
fn pair(
    r: &mut Report,
    ctx: &Context<'_>,
    which: Pair,
    key: &Path,
    other: &Path,
) -> Option<(Loaded, Loaded)> {
    let key_meta = stat(key);
    let other_meta = stat(other);
    match (&key_meta, &other_meta) {
        (Err(a), Err(b)) if a.kind() == io::ErrorKind::NotFound && b.kind() == a.kind() => {
            r.missing.push(which);
            r.problems.push(format!(
                "{}: missing, and {} too ({}); provide both (a Secret or volume mounted there) or make a set with `pulp-init keys --out DIR`",
                key.display(),
                other.display(),
                which.describe()
            ));
            return None;
        }
        (Err(e), Ok(_)) if e.kind() == io::ErrorKind::NotFound => {
            r.problems.push(one_missing(key, other, which));
            return None;
        }
        (Ok(_), Err(e)) if e.kind() == io::ErrorKind::NotFound => {
            r.problems.push(one_missing(other, key, which));
            return None;
        }
        _ => {}
    }
    let key_loaded = load(r, ctx, key, key_meta, true);
    let other_loaded = load(r, ctx, other, other_meta, false);
    Some((key_loaded?, other_loaded?))
}

fn one_missing(missing: &Path, present: &Path, which: Pair) -> String {
    format!(
        "{}: missing, while {} is there ({}); provide both files of the pair, from the same set",
        missing.display(),
        present.display(),
        which.describe()
    )
}

fn stat(path: &Path) -> io::Result<fs::Metadata> {
    fs::metadata(path)
}

fn load(
    r: &mut Report,
    ctx: &Context<'_>,
    path: &Path,
    meta: io::Result<fs::Metadata>,
    private: bool,
) -> Option<Loaded> {
    let p = path.display();
    let meta = match meta {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(format!("{p}: cannot be inspected ({e})"));
            return None;
        }
    };
    if !meta.is_file() {
        r.problems.push(format!(
            "{p}: is not a regular file; mount the file itself there"
        ));
        return None;
    }
    if meta.len() > MAX_FILE {
        r.problems.push(format!(
            "{p}: is {} bytes, too large for a key or certificate; name the right file",
            meta.len()
        ));
        return None;
    }
    let mode = meta.mode() & 0o7777;
    if private && mode & 0o004 != 0 {
        r.problems.push(format!(
            "{p}: private key readable by every user (mode {mode:04o}); chmod o-rwx {p} (Kubernetes: defaultMode 0440 on the Secret volume)"
        ));
    }
    if let Some(account) = ctx.reader {
        if let Err(why) = readable_by(path, &meta, account) {
            r.problems.push(format!(
                "{p}: not readable by user {} (uid {}, groups {}): {why}; chgrp {} {p} && chmod g+r {p} (Kubernetes: fsGroup {} on the pod)",
                account.name,
                account.uid,
                groups(account),
                account.gid,
                account.gid
            ));
        }
    }
    match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(Loaded { text }),
            Err(_) => {
                r.problems.push(format!(
                    "{p}: is not PEM text (binary DER?); convert it (openssl x509 / openssl pkey -outform PEM)"
                ));
                None
            }
        },
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            r.problems.push(format!(
                "{p}: not readable by pulp-init (uid {}): {e}; fix its owner or mode",
                crate::sys::geteuid()
            ));
            None
        }
        Err(e) => {
            r.problems.push(format!("{p}: cannot be read ({e})"));
            None
        }
    }
}

fn groups(a: &Account) -> String {
    a.groups
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `account` could open the file for reading, by owner, group and mode (ACLs are
/// not looked at), every directory above it searchable too.
pub fn readable_by(path: &Path, meta: &fs::Metadata, account: &Account) -> Result<(), String> {
    if account.uid == 0 {
        return Ok(());
    }
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        if let Ok(m) = fs::metadata(dir) {
            if !allows(&m, account, 0o1) {
                return Err(format!(
                    "directory {} (owner {}:{}, mode {:04o}) is not searchable by it",
                    dir.display(),
                    m.uid(),
                    m.gid(),
                    m.mode() & 0o7777
                ));
            }
        }
    }
    if allows(meta, account, 0o4) {
        Ok(())
    } else {
        Err(format!(
            "owner {}:{}, mode {:04o}",
            meta.uid(),
            meta.gid(),
            meta.mode() & 0o7777
        ))
    }
}

/// The kernel's rule: the owner's bits if the owner, else the group's if in the group,
/// else the others'.
fn allows(meta: &fs::Metadata, a: &Account, bit: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == a.uid {
        mode & (bit << 6) != 0
    } else if a.groups.contains(&meta.gid()) || a.gid == meta.gid() {
        mode & (bit << 3) != 0
    } else {
        mode & bit != 0
    }
}

/// The certificate's key matches the private key, and it is valid now. Returns the
/// certificate's DER (the first one in the file).
fn cert_and_key(
    r: &mut Report,
    ctx: &Context<'_>,
    key_path: &Path,
    key: Loaded,
    crt_path: &Path,
    crt: Loaded,
) -> Option<Vec<u8>> {
    let key = parsed(r, key_path, material::private_key(&key.text));
    let ders = parsed(r, crt_path, material::certificates(&crt.text))?;
    let leaf_der = ders.into_iter().next()?;
    let (_, leaf) = X509Certificate::from_der(&leaf_der).ok()?;
    if let Some(key) = key {
        if PublicKey::from_spki(leaf.public_key()) != key {
            r.problems.push(format!(
                "{}: is not the certificate of {} (their public keys differ); provide the certificate made for that key, or both from one set",
                crt_path.display(),
                key_path.display()
            ));
        }
    }
    dates(r, crt_path, &leaf, ctx.now);
    Some(leaf_der)
}

fn dates(r: &mut Report, path: &Path, cert: &X509Certificate<'_>, now: SystemTime) {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let v = cert.validity();
    let p = path.display();
    if v.not_before.timestamp() > now {
        r.problems.push(format!(
            "{p}: not valid before {}; check the clock, or make it again",
            v.not_before
        ));
    } else if v.not_after.timestamp() < now {
        r.problems.push(format!(
            "{p}: expired on {}; replace the set (pulp-init keys --out DIR) or renew the certificate",
            v.not_after
        ));
    } else if v.not_after.timestamp() - now < EXPIRY_WARNING.as_secs() as i64 {
        r.warnings.push(format!(
            "{p}: expires on {} (in {} days); renew it before then",
            v.not_after,
            (v.not_after.timestamp() - now) / 86400
        ));
    }
}

fn names_server(r: &mut Report, path: &Path, der: &[u8], server_name: &str) {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return;
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_of(b) {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if names.iter().any(|n| name_matches(n, server_name)) {
        return;
    }
    let shown = if names.is_empty() {
        "no subjectAltName".to_string()
    } else {
        format!("names {}", names.join(", "))
    };
    r.problems.push(format!(
        "{}: does not name the server_name {server_name:?} ({shown}); clients verify that name: make the certificate for it (pulp-init keys --out DIR --server-name {server_name}) or set [server] server_name (PULP_SERVER_NAME)",
        path.display()
    ));
}

fn ip_of(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(Into::into),
        16 => <[u8; 16]>::try_from(bytes).ok().map(Into::into),
        _ => None,
    }
}

/// RFC 6125: case-insensitive; a `*` only as the whole leftmost label, matching one label.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let name = name.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern.trim_end_matches('.') == name,
    }
}

fn signed_by_ca(r: &mut Report, path: &Path, leaf_der: &[u8], ca_path: &Path, ca_der: &[u8]) {
    let (Ok((_, leaf)), Ok((_, ca))) = (
        X509Certificate::from_der(leaf_der),
        X509Certificate::from_der(ca_der),
    ) else {
        return;
    };
    let issued = leaf.issuer().as_raw() == ca.subject().as_raw()
        && leaf.verify_signature(Some(ca.public_key())).is_ok();
    if !issued {
        r.problems.push(format!(
            "{}: not signed by the CA {} (its issuer is {:?}); sign it with that CA's key, or provide certificate, key and CA from one set",
            path.display(),
            ca_path.display(),
            leaf.issuer().to_string()
        ));
    }
}
