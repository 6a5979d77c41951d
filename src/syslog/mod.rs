//! Pulp's syslog lines without the host's `/dev/log`: `[server] log_type: console` where
//! server.conf knows the key, otherwise a relay from a `/dev/log` socket to stderr.
//!
//! Pulp 2 logs to `/dev/log` by default, and every Pulp process exits 69 ("Unable to access
//! log, /dev/log") when nothing is bound there. Pulp ≥ 2.12 documents `log_type` in
//! server.conf (`# log_type: syslog` under `[server]`) and can log to stderr instead; older
//! Pulp cannot, so the supervising PID 1 binds the socket itself and prints every message
//! as one line: `facility.severity tag[pid]: message`.

mod format;
mod relay;

pub use relay::Relay;

use crate::conf::{self, parse, Edit};
use crate::startup::Signals;
use crate::sys;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Where Pulp (Python's `SysLogHandler(address='/dev/log')`), glibc's `syslog(3)` and
/// `logger(1)` send their messages. Tests run in a private mount namespace with a tmpfs
/// on /dev rather than moving the path: the code under test is the code that runs.
pub const DEV_LOG: &str = "/dev/log";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Relay when /dev/log is missing and Pulp logs to syslog.
    Auto,
    /// Never bind /dev/log.
    Off,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SyslogOptions {
    /// /dev/log relay when the container has none: auto, or off.
    #[arg(
        long,
        global = true,
        env = "PULP_INIT_SYSLOG",
        value_enum,
        default_value = "auto"
    )]
    pub syslog: Mode,
}

/// What is at /dev/log, found out by connecting as Pulp's handler will: a socket file
/// says nothing about a listener (one left by a start that was killed, or the host's
/// whose syslog is down).
#[derive(Debug)]
enum DevLog {
    Missing,
    /// Something listens (the host's syslog mounted in, or a relay of another start).
    Answers,
    /// A socket nothing listens on: pulp-init may replace it.
    Stale(io::Error),
    /// Does not answer and is not pulp-init's to replace: a symlink, another kind of
    /// file, or a socket it may not use.
    Unusable(io::Error),
}

impl DevLog {
    fn at(path: &Path) -> DevLog {
        let Err(e) = UnixDatagram::unbound().and_then(|s| s.connect(path)) else {
            return DevLog::Answers;
        };
        let meta = path.symlink_metadata();
        match e.raw_os_error() {
            // A stream socket listens: Python's SysLogHandler and glibc fall back to it.
            Some(libc::EPROTOTYPE) => DevLog::Answers,
            Some(libc::ENOENT) if meta.is_err() => DevLog::Missing,
            Some(libc::ECONNREFUSED) if meta.is_ok_and(|m| m.file_type().is_socket()) => {
                DevLog::Stale(e)
            }
            _ => DevLog::Unusable(e),
        }
    }
}

/// The edit `[server] log_type: console`, when nothing answers on the container's
/// /dev/log, server.conf documents the key (a commented `# log_type:` line under
/// `[server]`, as Pulp ≥ 2.12 ships it) and neither the file nor the environment sets it.
/// None otherwise, also when server.conf cannot be read (the config phase reports that
/// itself).
pub fn log_type_edit(conf_path: &Path, edits: &[Edit]) -> Option<Edit> {
    let why = match DevLog::at(Path::new(DEV_LOG)) {
        DevLog::Answers => return None,
        DevLog::Missing => "no /dev/log in the container; Pulp logs to stderr".into(),
        DevLog::Stale(e) | DevLog::Unusable(e) => {
            format!("nothing answers on {DEV_LOG} ({e}); Pulp logs to stderr")
        }
    };
    // conf::load refuses what is not a regular file without blocking on it (a FIFO).
    let text = conf::load(conf_path).ok()?;
    console_edit(&text, edits, why)
}

/// The decision of `log_type_edit`, given that nothing answers on /dev/log (`why`).
pub fn console_edit(conf_text: &str, edits: &[Edit], why: String) -> Option<Edit> {
    if edits
        .iter()
        .any(|e| e.section.eq_ignore_ascii_case("server") && e.key.eq_ignore_ascii_case("log_type"))
    {
        return None;
    }
    let parsed = parse::parse(conf_text).ok()?;
    if parsed
        .values()
        .contains_key(&("server".to_string(), "log_type".to_string()))
    {
        return None;
    }
    let documented = parsed.lines.iter().any(|l| {
        l.section.as_deref() == Some("server")
            && l.kind == parse::Kind::Comment
            && is_commented_key(&l.text, "log_type")
    });
    documented.then(|| Edit {
        section: "server".into(),
        key: "log_type".into(),
        value: "console".into(),
        secret: false,
        only_if_present: false,
        source: why,
    })
}

/// `# log_type: syslog`, `;log_type=console`: a commented-out `key` setting.
fn is_commented_key(line: &str, key: &str) -> bool {
    // The line is in the file's one-char-per-byte form: only ASCII white space is space.
    let body = line
        .trim_start_matches(['#', ';'])
        .trim_start_matches(parse::is_space);
    body.get(..key.len())
        .is_some_and(|k| k.eq_ignore_ascii_case(key))
        && body[key.len()..]
            .trim_start_matches(parse::is_space)
            .starts_with([':', '='])
}

/// Why pulp-init will not relay (None: it should), and what is at /dev/log.
fn relay_not_needed(opts: &SyslogOptions, conf_path: &Path) -> (Option<String>, DevLog) {
    let dev_log = DevLog::at(Path::new(DEV_LOG));
    if opts.syslog == Mode::Off {
        return (Some("PULP_INIT_SYSLOG=off".into()), dev_log);
    }
    if let DevLog::Answers = dev_log {
        return (Some(format!("{DEV_LOG} answers (left alone)")), dev_log);
    }
    let console = conf::read_values(conf_path)
        .ok()
        .and_then(|v| v.get("server", "log_type").ok().flatten())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("console"));
    let why = console.then(|| format!("{} sets [server] log_type = console", conf_path.display()));
    (why, dev_log)
}

/// Starts the relay when it is needed (see the module head); logs why not otherwise.
/// The returned guard stops it, prints what is still queued and removes the socket.
/// `for_pulp`: a Pulp role runs, so a /dev/log that cannot be bound is worth a warning.
/// `signals`: start-up's watcher, which removes the socket if a stop signal ends
/// pulp-init before the guard is dropped.
pub fn start(
    opts: &SyslogOptions,
    conf_path: &Path,
    for_pulp: bool,
    signals: Option<&Signals>,
) -> Option<Relay> {
    let path = Path::new(DEV_LOG);
    let dev_log = match relay_not_needed(opts, conf_path) {
        (Some(why), _) => {
            log::debug!("no syslog relay: {why}");
            return None;
        }
        (None, dev_log) => dev_log,
    };
    let problem = match dev_log {
        DevLog::Missing | DevLog::Answers => None,
        // Left by a start that was killed, or a host syslog that is down.
        DevLog::Stale(_) => std::fs::remove_file(path).err().map(|e| {
            format!("{DEV_LOG} is a socket nothing listens on and cannot be replaced: {e}")
        }),
        DevLog::Unusable(e) => Some(format!(
            "{DEV_LOG} does not answer ({e}) and is not pulp-init's to replace"
        )),
    };
    let bound = match problem {
        Some(p) => Err(p),
        None => Relay::bind(path, signals).map_err(|e| {
            let who = match sys::geteuid() {
                0 => String::new(),
                uid => format!(" (not root: uid {uid})"),
            };
            format!("cannot create {DEV_LOG}{who}: {e}")
        }),
    };
    match bound {
        Ok(relay) => {
            log::info!("relaying syslog messages sent to {DEV_LOG} to stderr");
            Some(relay)
        }
        Err(p) if for_pulp => {
            log::warn!("{}", no_syslog(&p));
            None
        }
        Err(p) => {
            log::debug!("no syslog relay: {p}");
            None
        }
    }
}

/// The one line for a /dev/log pulp-init cannot provide.
fn no_syslog(problem: &str) -> String {
    format!(
        "{problem}; Pulp cannot log to syslog and exits 69 \
         (\"Unable to access log\"): set PULP__SERVER__LOG_TYPE=console (Pulp >= 2.12), \
         or mount the host's /dev/log into the container"
    )
}

/// Exec mode: pulp-init will be gone, so only `log_type` can help; say so when a Pulp
/// role runs, it is not set and there is no /dev/log.
pub fn warn_if_exec_cannot_help(opts: &SyslogOptions, conf_path: &Path, for_pulp: bool) {
    if for_pulp && relay_not_needed(opts, conf_path).0.is_none() {
        log::warn!(
            "no {DEV_LOG} and pulp-init execs the service (not PID 1), so it cannot relay \
             syslog; Pulp exits 69 (\"Unable to access log\"): set \
             PULP__SERVER__LOG_TYPE=console (Pulp >= 2.12), run pulp-init as PID 1 \
             (--mode supervise), or mount the host's /dev/log"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_only_where_server_conf_documents_log_type() {
        let documented = "[server]\n# log_type: syslog\n";
        let why = || String::from("why");
        let e = console_edit(documented, &[], why()).unwrap();
        assert_eq!(
            (e.section.as_str(), e.key.as_str(), e.value.as_str()),
            ("server", "log_type", "console")
        );
        // Set in the file, set by the environment, or not documented: nothing.
        assert!(console_edit("[server]\nlog_type: syslog\n", &[], why()).is_none());
        assert!(console_edit("[server]\nserver_name: x\n", &[], why()).is_none());
        assert!(console_edit("# log_type: syslog\n[server]\n", &[], why()).is_none());
        let env = Edit {
            key: "LOG_TYPE".into(),
            ..e.clone()
        };
        assert!(console_edit(documented, &[env], why()).is_none());
        assert!(is_commented_key("#log_type=console", "log_type"));
        assert!(!is_commented_key("# log_types: x", "log_type"));
        assert!(!is_commented_key(
            "# log_type how logs are logged",
            "log_type"
        ));
    }
}
