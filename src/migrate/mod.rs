//! The migrate phase (beat): run the migration command once per installed Pulp, never
//! twice at a time, and never while Pulp processes of the previous deployment are online.
//! A lease lock and completion records live in the Pulp database (`store.rs`); the
//! command runs under the lease (`command.rs`).

mod command;
mod store;

pub use store::{client_now, Store};

use crate::child::Service;
use crate::db::MongoTarget;
use crate::error::{Error, Result};
use crate::startup;
use crate::sys::SigSet;
use crate::time::human;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// pulp-manage-db's exit for live workers, and for any crash: retried a bounded number of
/// times, then reported with the command's last output lines.
const SOFTWARE: i32 = 70;
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(2);
/// How often a waiter looks at the lock, and at Pulp's workers.
const POLL: Duration = Duration::from_millis(250);

/// Which installed Pulp this is. A fingerprint from `PULP_INIT_MIGRATION_FINGERPRINT` or a
/// version file is trusted: a record for it means "migrated". Without either, pulp-init
/// cannot tell an upgrade from a restart and asks the command (`--dry-run`) instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub value: String,
    pub trusted: bool,
}

pub struct Options {
    pub force: bool,
    pub lease: Duration,
    /// Bounds the waits for the lock and for online workers.
    pub timeout: Duration,
    pub fingerprint: Fingerprint,
    pub service: Service,
    /// `[tasks] worker_timeout`: a heartbeat younger than this is an online process.
    pub worker_timeout: Duration,
}

/// The fingerprint of the installed Pulp: `given` if set; else a SHA-256 of the version
/// file and the command's resolved executable; else (untrusted) of the executable alone.
pub fn fingerprint(
    given: Option<String>,
    command: &[OsString],
    version_file: Option<&Path>,
) -> Result<Fingerprint> {
    if let Some(f) = given.filter(|f| !f.is_empty()) {
        return Ok(Fingerprint {
            value: f,
            trusted: true,
        });
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
        ctx.update(&read_version_file(v).map_err(|e| {
            Error::env(
                "PULP_INIT_VERSION_FILE",
                format!("cannot read {}: {e}", v.display()),
            )
        })?);
    }
    let hex: String = ctx.finish().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(match version_file {
        Some(_) => Fingerprint {
            value: hex,
            trusted: true,
        },
        None => Fingerprint {
            value: format!("unversioned-{hex}"),
            trusted: false,
        },
    })
}

/// The largest version file read: it names a build, it is not a data file.
const VERSION_FILE_MAX: u64 = 1024 * 1024;

/// A regular file (or a link to one) of at most [`VERSION_FILE_MAX`] bytes. A FIFO or a
/// device is refused without blocking on it (opening a FIFO for reading waited forever).
fn read_version_file(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::conf::read_small_file(
        path,
        VERSION_FILE_MAX,
        "give a regular file",
        &format!(
            "it is larger than {} MiB; give a small file that names the build",
            VERSION_FILE_MAX / (1024 * 1024)
        ),
    )
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

/// What `<command> --dry-run` says (pulp-manage-db: 0 nothing to migrate, 1 pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    UpToDate,
    Pending,
    /// Any other exit (64 as root, 127 not installed): no answer.
    Failed(i32),
}

/// Runs `<command> --dry-run` as the service's user, its output shown at debug level.
pub async fn dry_run(service: &Service, original_mask: &SigSet) -> Result<DryRun> {
    let mut service = service.clone();
    service.argv.push("--dry-run".into());
    let mut cmd = service.command(original_mask, true)?;
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| Error::Internal(format!("dry run: {e}")))?
        .map_err(|e| service.start_error(&e))?;
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        log::debug!("dry run: {line}");
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(
        match out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
        {
            0 => DryRun::UpToDate,
            1 => DryRun::Pending,
            code => DryRun::Failed(code),
        },
    )
}

/// A runtime and the store, for the phases that talk to the Pulp database.
pub fn with_store<T>(target: &MongoTarget, f: impl AsyncFnOnce(&Store) -> Result<T>) -> Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the database runtime: {e}")))?;
    let result = rt.block_on(async {
        let client = target
            .client(Duration::from_secs(10))
            .map_err(|e| Error::database("connecting", e))?;
        f(&Store::new(client.database(&target.name))).await
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

pub fn migrate(
    target: &MongoTarget,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    with_store(target, async |store| {
        run(store, opts, signals, original_mask).await
    })
}

fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!(
        "{host}/pid {}/started {}",
        std::process::id(),
        crate::time::rfc3339(client_now())
    )
}

/// How many processes a log line names; the rest are counted (5,000 workers made a
/// 520 KB line).
const NAMED: usize = 5;

/// `a, b, c, d, e and 4995 more`.
fn some_of(items: impl ExactSizeIterator<Item = String>) -> String {
    let more = items.len().saturating_sub(NAMED);
    let named: Vec<String> = items.take(NAMED).collect();
    if more == 0 {
        named.join(", ")
    } else {
        format!("{} and {more} more", named.join(", "))
    }
}

/// Says once, then on every change, which Pulp processes are online, and which have a
/// heartbeat too far in the future to count.
fn announce_online(beats: &store::Heartbeats, last: &mut store::Heartbeats) {
    let names = |b: &store::Heartbeats| -> Vec<String> {
        b.online.iter().map(|o| o.name.clone()).collect()
    };
    let ahead_names =
        |b: &store::Heartbeats| -> Vec<String> { b.ahead.iter().map(|(n, _)| n.clone()).collect() };
    if ahead_names(beats) != ahead_names(last) && !beats.ahead.is_empty() {
        log::warn!(
            "migrations: not counted as online: a heartbeat further ahead of the database's clock than [tasks] worker_timeout (clock skew, or a bad record): {}",
            some_of(
                beats
                    .ahead
                    .iter()
                    .map(|(n, d)| format!("{n} ({} ahead)", human(*d)))
            )
        );
    }
    if names(beats) != names(last) {
        if beats.online.is_empty() {
            if !last.online.is_empty() {
                log::info!("migrations: no Pulp process is online any more");
            }
        } else {
            log::info!(
                "migrations: waiting: Pulp processes of the previous deployment are online: {}",
                some_of(beats.online.iter().map(|o| format!(
                    "{} (heartbeat {} ago)",
                    o.name,
                    human(o.age)
                )))
            );
        }
    }
    *last = beats.clone();
}

async fn run(
    store: &Store,
    opts: &Options,
    signals: &startup::Signals,
    original_mask: &SigSet,
) -> Result<()> {
    let me = holder_id();
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let fp = &opts.fingerprint;
    let name = opts.service.name();
    let mut announced_lock = false;
    let mut online_seen = store::Heartbeats::default();
    let mut attempt = 0;
    loop {
        if !opts.force && fp.trusted {
            if let Some(r) = store.record(&fp.value).await? {
                log::info!(
                    "migrations: skipped: already done for fingerprint {r} (after {})",
                    human(started.elapsed())
                );
                return Ok(());
            }
        }
        if !opts.force && !fp.trusted && attempt == 0 {
            log::warn!(
                "migrations: no PULP_INIT_MIGRATION_FINGERPRINT and no version file, so every start asks {name} --dry-run; bake /etc/pulp-init/version into the image to make restarts faster"
            );
            match dry_run(&opts.service, original_mask).await? {
                DryRun::UpToDate => {
                    log::info!("migrations: skipped: {name} --dry-run reports nothing to migrate");
                    store.write_record(&fp.value, &me, 0.0).await?;
                    return Ok(());
                }
                DryRun::Pending => {
                    log::info!("migrations: {name} --dry-run reports pending migrations")
                }
                DryRun::Failed(code) => {
                    log::warn!("migrations: {name} --dry-run exited {code}; migrating to be safe")
                }
            }
        }
        // Old processes first: while they are online pulp-manage-db would only sleep
        // its 92 s and exit 70.
        let beats = store.online(opts.worker_timeout).await?;
        announce_online(&beats, &mut online_seen);
        let online = &beats.online;
        if let Some(newest) = online.first() {
            if Instant::now() >= deadline {
                return Err(Error::Lock(format!(
                    "migrations: Pulp processes of the previous deployment are still online after {} ({}); stop them, or raise --migrate-timeout",
                    human(started.elapsed()),
                    some_of(online.iter().map(|o| o.name.clone()))
                )));
            }
            // The newest heartbeat ages past the timeout at a known time: look again then.
            let until_offline = opts.worker_timeout.saturating_sub(newest.age);
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(
                until_offline
                    .clamp(Duration::from_millis(20), POLL)
                    .min(left),
            )
            .await;
            continue;
        }
        if let Some(holder) = store.try_lock(&me, opts.lease).await? {
            if Instant::now() >= deadline {
                return Err(Error::Lock(format!(
                    "migrations: the lock is still held by {} after {}; exiting",
                    store::holder(&holder),
                    human(started.elapsed())
                )));
            }
            if !announced_lock {
                log::info!(
                    "migrations: waiting: {} holds the lock (lease until {})",
                    store::holder(&holder),
                    store::expires(&holder)
                );
                announced_lock = true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(POLL.min(left)).await;
            continue;
        }
        // Ours. Someone may have finished just before we got it.
        if !opts.force && fp.trusted {
            if let Some(r) = store.record(&fp.value).await? {
                store.release(&me).await;
                log::info!(
                    "migrations: skipped: done meanwhile for fingerprint {r} (after {})",
                    human(started.elapsed())
                );
                return Ok(());
            }
        }
        attempt += 1;
        log::info!(
            "migrations: running {name} (fingerprint {}{}, attempt {attempt} of {ATTEMPTS}, after {})",
            fp.value,
            if opts.force { ", forced" } else { "" },
            human(started.elapsed())
        );
        let ended = command::run(
            store,
            &me,
            opts.lease,
            &opts.service,
            signals,
            original_mask,
        )
        .await;
        let ended = match ended {
            Ok(e) => e,
            Err(e) => {
                store.release(&me).await;
                return Err(e);
            }
        };
        if ended.fenced {
            // The lock may be another's by now: not ours to release or to record under.
            return Err(Error::Lock(format!(
                "migrations: the lease on the migration lock could not be kept, so {name} was stopped (exit {}); not recorded, the next start runs it again",
                ended.code
            )));
        }
        if let Some(sig) = signals.received() {
            store.release(&me).await;
            log::warn!(
                "migrations: stopped by {}: lock released",
                crate::sys::signal_name(sig)
            );
            return Err(Error::Migration {
                code: 128 + sig,
                message: format!("migrations: {name} was stopped by a signal; not recorded"),
            });
        }
        let total = started.elapsed();
        match ended.code {
            0 => {
                let written = store
                    .write_record(&fp.value, &me, total.as_secs_f64())
                    .await;
                store.release(&me).await;
                written?;
                log::info!(
                    "migrations: done in {} (all attempts and waits)",
                    human(total)
                );
                return Ok(());
            }
            code => {
                store.release(&me).await;
                let tail = if ended.tail.is_empty() {
                    String::from(" (no output)")
                } else {
                    format!(
                        "; its last output:\n{}",
                        ended
                            .tail
                            .iter()
                            .map(|l| format!("  | {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                };
                if code == SOFTWARE && attempt < ATTEMPTS && Instant::now() + RETRY_PAUSE < deadline
                {
                    log::warn!(
                        "migrations: {name} failed with exit status 70 (no Pulp process was online, so not for live workers); retrying in {} (attempt {} of {ATTEMPTS} next){tail}",
                        human(RETRY_PAUSE),
                        attempt + 1
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                return Err(Error::Migration {
                    code,
                    message: format!(
                        "migrations: {name} failed with exit status {code} (attempt {attempt} of {ATTEMPTS}, after {}); not recorded, the next start runs it again{tail}",
                        human(total)
                    ),
                });
            }
        }
    }
}
