//! The migrate phase (beat): run the migration command once per installed Pulp, never
//! twice at a time. A lease lock and a completion record live in the Pulp database.

use crate::child::Service;
use crate::db::MongoTarget;
use crate::error::{Error, Result};
use crate::startup;
use crate::sys::SigSet;
use crate::time::human;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const COLLECTION: &str = "pulp_init";
const LOCK_ID: &str = "migration_lock";
/// pulp-manage-db's exit code when worker heartbeats are newer than 92 s: during a rolling
/// upgrade the old workers are still up. Retried, not fatal.
const WORKERS_RUNNING: i32 = 70;
const DUPLICATE_KEY: i32 = 11000;

pub struct Options {
    pub force: bool,
    pub lease: Duration,
    pub timeout: Duration,
    pub fingerprint: String,
    pub service: Service,
}

/// The fingerprint of the installed Pulp: `PULP_INIT_MIGRATION_FINGERPRINT` if set, else a
/// SHA-256 of the command's resolved executable (path and bytes) and of the version file.
pub fn fingerprint(
    given: Option<String>,
    command: &[OsString],
    version_file: Option<&Path>,
) -> Result<String> {
    if let Some(f) = given.filter(|f| !f.is_empty()) {
        return Ok(f);
    }
    let program = command
        .first()
        .ok_or_else(|| Error::env("PULP_INIT_MIGRATE_COMMAND", "is empty"))?;
    let exe = resolve(program).ok_or_else(|| Error::Exec {
        code: 127,
        message: format!("{}: migration command not found", program.to_string_lossy()),
    })?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"pulp-init migration fingerprint v1\0");
    ctx.update(exe.as_os_str().as_encoded_bytes());
    ctx.update(b"\0");
    ctx.update(&std::fs::read(&exe).map_err(|e| Error::Exec {
        code: 126,
        message: format!("{}: cannot read: {e}", exe.display()),
    })?);
    ctx.update(b"\0");
    if let Some(v) = version_file {
        ctx.update(&std::fs::read(v).map_err(|e| {
            Error::env(
                "PULP_INIT_VERSION_FILE",
                format!("cannot read {}: {e}", v.display()),
            )
        })?);
    }
    let digest = ctx.finish();
    Ok(digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// execvp's search: a name with a slash as is, otherwise the first executable in PATH.
fn resolve(program: &OsString) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let p = Path::new(program);
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_encoded_bytes().contains(&b'/') {
        return executable(p).then(|| std::fs::canonicalize(p).unwrap_or(p.to_path_buf()));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| executable(c))
        .map(|c| std::fs::canonicalize(&c).unwrap_or(c))
}

pub fn migrate(
    target: &MongoTarget,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the migration runtime: {e}")))?;
    let result = rt.block_on(run_once(target, opts, signals, original_mask));
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{host}/pid {}/started {started}", std::process::id())
}

fn record_id(fingerprint: &str) -> String {
    format!("migrated:{fingerprint}")
}

fn later(d: Duration) -> DateTime {
    DateTime::from_millis(
        DateTime::now().timestamp_millis() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
    )
}

async fn record(coll: &Collection<Document>, fingerprint: &str) -> Result<Option<Document>> {
    coll.find_one(doc! { "_id": record_id(fingerprint) })
        .await
        .map_err(|e| Error::database("reading the completion record", e))
}

fn describe_record(r: &Document) -> String {
    let at = r
        .get_datetime("completed_at")
        .map(|d| d.to_string())
        .unwrap_or_default();
    let by = r.get_str("holder").unwrap_or("?");
    format!("at {at} by {by}")
}

/// Takes the lock if it is free, expired, or already ours. Ok(None) when taken; otherwise
/// the current holder's document.
async fn try_lock(
    coll: &Collection<Document>,
    me: &str,
    lease: Duration,
) -> Result<Option<Document>> {
    let now = DateTime::now();
    let taken = coll
        .find_one_and_update(
            doc! { "_id": LOCK_ID, "$or": [ { "expires": { "$lt": now } }, { "holder": me } ] },
            doc! { "$set": { "holder": me, "expires": later(lease), "acquired": now } },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await;
    match taken {
        Ok(_) => Ok(None),
        Err(e) if is_duplicate_key(&e) => {
            let current = coll
                .find_one(doc! { "_id": LOCK_ID })
                .await
                .map_err(|e| Error::database("reading the lock", e))?;
            // Released between the two calls: try again at once.
            Ok(Some(current.unwrap_or_default()))
        }
        Err(e) => Err(Error::database("taking the lock", e)),
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        _ => e.to_string().contains("E11000") || e.to_string().contains("duplicate key"),
    }
}

async fn release(coll: &Collection<Document>, me: &str) {
    match coll.delete_one(doc! { "_id": LOCK_ID, "holder": me }).await {
        Ok(r) if r.deleted_count == 1 => log::debug!("migrations: lock released"),
        Ok(_) => log::warn!("migrations: the lock was no longer ours to release"),
        Err(e) => log::warn!("migrations: could not release the lock (its lease will expire): {e}"),
    }
}

async fn run_once(
    target: &MongoTarget,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    let client = target
        .client(Duration::from_secs(10))
        .map_err(|e| Error::database("connecting", e))?;
    let coll: Collection<Document> = client.database(&target.name).collection(COLLECTION);
    let me = holder_id();
    let deadline = Instant::now() + opts.timeout;
    let name = opts
        .service
        .argv
        .first()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let started_waiting = Instant::now();
    let mut announced_wait = false;
    let waited = |announced: bool| {
        if announced {
            format!(", after waiting {}", human(started_waiting.elapsed()))
        } else {
            String::new()
        }
    };
    loop {
        if !opts.force {
            if let Some(r) = record(&coll, &opts.fingerprint).await? {
                log::info!(
                    "migrations: skipped: already done for fingerprint {} ({}{})",
                    opts.fingerprint,
                    describe_record(&r),
                    waited(announced_wait)
                );
                return Ok(());
            }
        }
        if let Some(holder) = try_lock(&coll, &me, opts.lease).await? {
            if Instant::now() >= deadline {
                return Err(Error::Lock(format!(
                    "migrations: the lock is still held by {} after {}; exiting",
                    holder.get_str("holder").unwrap_or("?"),
                    human(opts.timeout)
                )));
            }
            if !announced_wait {
                log::info!(
                    "migrations: waiting: {} holds the lock (lease until {})",
                    holder.get_str("holder").unwrap_or("?"),
                    holder
                        .get_datetime("expires")
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                );
                announced_wait = true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(Duration::from_millis(250).min(left)).await;
            continue;
        }
        // Ours. Someone may have finished just before we got it.
        if !opts.force {
            if let Some(r) = record(&coll, &opts.fingerprint).await? {
                release(&coll, &me).await;
                log::info!(
                    "migrations: skipped: done meanwhile for fingerprint {} ({}{})",
                    opts.fingerprint,
                    describe_record(&r),
                    waited(announced_wait)
                );
                return Ok(());
            }
        }
        log::info!(
            "migrations: running {name} (fingerprint {}{}{})",
            opts.fingerprint,
            if opts.force { ", forced" } else { "" },
            waited(announced_wait)
        );
        let started = Instant::now();
        let code = run_command(&coll, &me, opts, signals, original_mask).await;
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                release(&coll, &me).await;
                return Err(e);
            }
        };
        if let Some(sig) = signals.received() {
            release(&coll, &me).await;
            log::warn!(
                "migrations: stopped by {}: lock released",
                crate::sys::signal_name(sig)
            );
            return Err(Error::Migration {
                code: 128 + sig,
                message: format!("migrations: {name} was stopped by a signal; not recorded"),
            });
        }
        match code {
            0 => {
                let done = coll
                    .update_one(
                        doc! { "_id": record_id(&opts.fingerprint) },
                        doc! { "$set": {
                            "fingerprint": &opts.fingerprint,
                            "completed_at": DateTime::now(),
                            "holder": &me,
                            "seconds": started.elapsed().as_secs_f64(),
                        } },
                    )
                    .upsert(true)
                    .await;
                release(&coll, &me).await;
                done.map_err(|e| Error::database("writing the completion record", e))?;
                log::info!("migrations: done in {}", human(started.elapsed()));
                return Ok(());
            }
            WORKERS_RUNNING => {
                release(&coll, &me).await;
                if Instant::now() >= deadline {
                    return Err(Error::Lock(format!(
                        "migrations: {name} still reports running workers (exit 70) after {}",
                        human(opts.timeout)
                    )));
                }
                log::warn!(
                    "migrations: {name} exited 70: Pulp workers are still running (their \
                     heartbeats are recent, as during a rolling upgrade); retrying"
                );
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(Duration::from_secs(2).min(left)).await;
            }
            code => {
                release(&coll, &me).await;
                return Err(Error::Migration {
                    code,
                    message: format!(
                        "migrations: {name} failed with exit status {code} after {}; not recorded, \
                         the next start runs it again",
                        human(started.elapsed())
                    ),
                });
            }
        }
    }
}

/// Runs the command with its output on ours, renewing the lease until it ends; signals
/// that would stop pulp-init are forwarded to it meanwhile. Its exit code (128+N).
async fn run_command(
    coll: &Collection<Document>,
    me: &str,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<i32> {
    let mut cmd = opts.service.command(original_mask, true)?;
    let mut child = cmd.spawn().map_err(|e| opts.service.start_error(&e))?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    signals.forward_to(pid);
    let waited = tokio::task::spawn_blocking(move || child.wait());
    tokio::pin!(waited);
    let mut renew = tokio::time::interval(opts.lease / 3);
    renew.tick().await;
    let status = loop {
        tokio::select! {
            status = &mut waited => break status,
            _ = renew.tick() => {
                let renewed = coll
                    .update_one(
                        doc! { "_id": LOCK_ID, "holder": me },
                        doc! { "$set": { "expires": later(opts.lease) } },
                    )
                    .await;
                match renewed {
                    Ok(r) if r.matched_count == 1 => {}
                    Ok(_) => {
                        log::error!("migrations: the lock was lost (lease expired and taken): stopping the command");
                        let _ = crate::sys::kill(pid, libc::SIGTERM);
                    }
                    Err(e) => log::warn!("migrations: could not renew the lease: {e}"),
                }
            }
        }
    };
    signals.forward_to(0);
    let status = status
        .map_err(|e| Error::Internal(format!("waiting for the migration: {e}")))?
        .map_err(|e| Error::Internal(format!("waiting for the migration: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
