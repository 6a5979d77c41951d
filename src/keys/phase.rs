//! The keys phase of every role, before its service starts: the files server.conf names
//! (and the apache role's TLS pair) are laid in from `--keys-dir`, or generated once per
//! deployment where allowed (under a database lease, so two pods never make two sets),
//! then validated; and their public fingerprints must be the deployment's, recorded in
//! the database by the first pod (a pod with another set refuses, naming both).

use super::{
    generate_set, key_group, server_name, validate, write_set, Context, KeyError, KeysOptions,
    Layout, Names, Paths,
};
use crate::conf::Values;
use crate::db::MongoTarget;
use crate::error::{Error, Result};
use crate::migrate::{self, Store, KEYS_LOCK_ID};
use crate::privileges::Account;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a pod waits for another that holds the keys lock (generation takes seconds).
const LOCK_WAIT: Duration = Duration::from_secs(120);
const LEASE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

pub struct Phase<'a> {
    pub values: &'a Values,
    pub options: &'a KeysOptions,
    /// The apache role: httpd's TLS pair is checked too.
    pub apache: bool,
    /// Who reads Pulp's files (the service user).
    pub reader: Option<&'a Account>,
    pub target: &'a MongoTarget,
}

pub fn run(p: &Phase<'_>) -> Result<()> {
    // Generated files go everywhere a role looks, the TLS pair included: the pod that
    // makes the set may not be the apache one.
    let all = Paths::from_conf(p.values, p.options, true)?;
    let checked = Paths::from_conf(p.values, p.options, p.apache)?;
    let server = server_name(p.values)?;
    if let Some(dir) = &p.options.keys_dir {
        lay_in(dir, &all)?;
    }
    let validate_now = || {
        validate(
            &checked,
            &Context {
                server_name: &server,
                reader: p.reader,
                now: std::time::SystemTime::now(),
            },
        )
    };
    let needed = if p.apache { 3 } else { 2 };
    let me = migrate::holder_id();
    // One database session for the phase: the lease (when a set is made) and the record.
    migrate::with_store_locking(p.target, KEYS_LOCK_ID, async |store| {
        let mut report = validate_now();
        if p.options.generate_keys && report.missing.len() == needed {
            generate_once(store, &me, &all, &server, &validate_now).await?;
            report = validate_now();
        } else if !report.missing.is_empty() && !p.options.generate_keys {
            log::info!(
                "keys: none provided for {}; to make one set for the whole deployment at its first start, set PULP_INIT_GENERATE_KEYS=true with {} on a volume every pod mounts",
                report
                    .missing
                    .iter()
                    .map(|m| m.describe())
                    .collect::<Vec<_>>()
                    .join(", "),
                all.rsa_key.parent().unwrap_or(Path::new("/")).display()
            );
        }
        let mine = report.into_result()?;
        let fields: Vec<(&str, String)> =
            mine.iter().map(|f| (f.field, f.sha256.clone())).collect();
        let recorded = store.key_fingerprints(&fields, &me).await?;
        let mut differ = Vec::new();
        for f in &mine {
            if let Ok(theirs) = recorded.get_str(f.field) {
                if theirs != f.sha256 {
                    differ.push(format!(
                        "{}: its {} is {}, the deployment's is {theirs} (recorded by {})",
                        f.path.display(),
                        f.describe(),
                        f.sha256,
                        recorded.get_str(format!("{}_by", f.field)).unwrap_or("?")
                    ));
                }
            }
        }
        if !differ.is_empty() {
            differ.push("every pod of a deployment needs the same set (a typo in one Secret's name breaks Pulp's signed URLs silently): mount the deployment's set, or see README \"Rotating the keys\"".into());
            return Err(KeyError::Invalid(differ).into());
        }
        if p.apache {
            crate::storage::link_public_key(&checked.rsa_pub);
        }
        log::info!(
            "keys: valid and the deployment's ({})",
            mine.iter()
                .map(|f| format!("{} {}", f.describe(), &f.sha256[..16]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    })
}

/// Under the keys lock: a set made meanwhile by another pod is taken as it is.
async fn generate_once(
    store: &Store,
    me: &str,
    all: &Paths,
    server: &str,
    validate_now: &dyn Fn() -> super::Report,
) -> Result<()> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut announced = false;
    while let Some(holder) = store.try_lock(me, LEASE).await? {
        if Instant::now() >= deadline {
            return Err(Error::Lock(format!(
                "keys: the keys lock is still held by {} after {}; exiting",
                holder.get_str("holder").unwrap_or("?"),
                crate::time::human(LOCK_WAIT)
            )));
        }
        if !announced {
            log::info!(
                "keys: waiting: {} is making the deployment's keys",
                holder.get_str("holder").unwrap_or("?")
            );
            announced = true;
        }
        tokio::time::sleep(POLL).await;
    }
    let result = if validate_now().missing.is_empty() {
        log::info!("keys: made meanwhile by another pod: taken");
        Ok(())
    } else {
        let started = Instant::now();
        let names = Names {
            fqdn: super::fqdn(),
            server_name: server.to_string(),
        };
        let made = generate_set(&names)
            .map_err(Error::from)
            .and_then(|set| write_set(&set, &Layout::at(all, key_group())));
        if made.is_ok() {
            log::info!(
                "keys: made the deployment's set in {} (CA CN {}, TLS names {} and localhost): {}, {}, {}, {}, {}, {}",
                crate::time::human(started.elapsed()),
                names.fqdn,
                names.server_name,
                all.ca_crt.display(),
                all.ca_key.display(),
                all.rsa_key.display(),
                all.rsa_pub.display(),
                all.tls.as_ref().map_or(String::new(), |t| t.cert.display().to_string()),
                all.tls.as_ref().map_or(String::new(), |t| t.key.display().to_string()),
            );
        }
        made
    };
    store.release(me).await;
    result
}

/// The files of `dir` (ca.crt, ca.key, rsa.key, rsa_pub.key, tls.crt, tls.key: the names
/// `keys --out` writes), laid into the configured paths all or none, with Pulp's modes and
/// group. A name missing in `dir` is left to what is already there.
fn lay_in(dir: &Path, all: &Paths) -> Result<()> {
    let layout = Layout::at(all, key_group());
    let from = Layout::in_dir(dir, None);
    let pairs = [
        (&from.ca_key, &layout.ca_key, 0o640, layout.gid),
        (&from.ca_crt, &layout.ca_crt, 0o644, layout.gid),
        (&from.rsa_key, &layout.rsa_key, 0o640, layout.gid),
        (&from.rsa_pub, &layout.rsa_pub, 0o644, layout.gid),
        (&from.tls_key, &layout.tls_key, 0o600, None),
        (&from.tls_crt, &layout.tls_crt, 0o644, None),
    ];
    let mut texts = Vec::new();
    for (src, dst, mode, gid) in pairs {
        match crate::conf::read_small_file(src, 1 << 20, "give a regular file", "it is larger than 1 MiB") {
            Ok(bytes) => texts.push((dst.clone(), zeroize::Zeroizing::new(bytes), mode, gid)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(KeyError::Invalid(vec![format!(
                    "{}: cannot read it ({e}); PULP_INIT_KEYS_DIR must hold the files `pulp-init keys --out` writes",
                    src.display()
                )])
                .into())
            }
        }
    }
    let planned: Vec<super::files::Planned<'_>> = texts
        .iter()
        .map(|(target, bytes, mode, gid)| super::files::Planned {
            target: target.clone(),
            contents: bytes,
            mode: *mode,
            gid: *gid,
        })
        .collect();
    super::files::write_all(&planned)?;
    log::info!(
        "keys: laid {} file(s) of {} into place",
        planned.len(),
        dir.display()
    );
    Ok(())
}
