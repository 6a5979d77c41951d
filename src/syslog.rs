//! Pulp's syslog lines without the host's `/dev/log`: `[server] log_type: console` where
//! server.conf knows the key, otherwise a relay from a `/dev/log` socket to stderr.
//!
//! Pulp 2 logs to `/dev/log` by default, and every Pulp process exits 69 ("Unable to access
//! log, /dev/log") when nothing is bound there. Pulp ≥ 2.12 documents `log_type` in
//! server.conf (`# log_type: syslog` under `[server]`) and can log to stderr instead; older
//! Pulp cannot, so the supervising PID 1 binds the socket itself and prints every message
//! as one line: `facility.severity tag[pid]: message`.

use crate::conf::{self, parse, Edit};
use crate::startup::Signals;
use crate::sys;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where Pulp (Python's `SysLogHandler(address='/dev/log')`), glibc's `syslog(3)` and
/// `logger(1)` send their messages. Tests run in a private mount namespace with a tmpfs
/// on /dev rather than moving the path: the code under test is the code that runs.
pub const DEV_LOG: &str = "/dev/log";

/// Largest datagram printed whole. A larger one is cut here and marked as cut: AF_UNIX
/// datagrams are bounded by the sender's SO_SNDBUF (208 KiB by default), and a buffer
/// that large would stay resident after one such message. Pulp's own handler sends
/// lines of at most a few KiB.
const RECV_BUFFER: usize = 64 * 1024;

/// The relay thread only parses and writes; its buffer is on the heap.
const RELAY_STACK: usize = 64 * 1024;

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
    let body = line.trim_start_matches(['#', ';']).trim_start();
    body.get(..key.len())
        .is_some_and(|k| k.eq_ignore_ascii_case(key))
        && body[key.len()..].trim_start().starts_with([':', '='])
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

/// The running relay: a thread reading the socket. Dropping it removes the socket, prints
/// what is still queued, and stops the thread.
pub struct Relay {
    path: PathBuf,
    signals: Option<Signals>,
    socket: Arc<UnixDatagram>,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Binds `path`; with start-up's `signals`, a stop signal that ends pulp-init before
    /// the relay is dropped removes it too.
    pub fn bind(path: &Path, signals: Option<&Signals>) -> io::Result<Relay> {
        match signals {
            Some(s) => s.make_removable(path, || Relay::bind_alone(path, Some(s.clone()))),
            None => Relay::bind_alone(path, None),
        }
    }

    fn bind_alone(path: &Path, signals: Option<Signals>) -> io::Result<Relay> {
        let socket = UnixDatagram::bind(path)?;
        // Every user may log (the services run unprivileged); the umask must not decide.
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        // No SO_RCVBUF: AF_UNIX datagram sockets do not use the receiver's buffer. A
        // blocking sender waits while the queue holds net.unix.max_dgram_qlen (10 by
        // default) datagrams, so nothing is lost (measured: 4 writers x 2500 messages to
        // a socket nobody read for 0.5 s, 10000 received); only a non-blocking sender
        // gets EAGAIN, and no raising of a buffer here would change that.
        let socket = Arc::new(socket);
        // A descriptor of its own, not std's stderr, whose lock PID 1's log lines would
        // wait for while this thread waits for a reader (it may: the senders wait too,
        // and nothing is lost). PID 1's lines never wait (src/stderr.rs).
        let out = match io::stderr().as_fd().try_clone_to_owned() {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let (s, stop) = (socket.clone(), stopping.clone());
        // Signals stay blocked in this thread (it inherits the mask): the supervisor's
        // sigtimedwait alone receives them, and the relay never delays forwarding.
        let thread = std::thread::Builder::new()
            .name("syslog-relay".into())
            .stack_size(RELAY_STACK)
            .spawn(move || relay_loop(&s, &stop, out));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        Ok(Relay {
            path: path.to_path_buf(),
            signals,
            socket,
            stopping,
            thread: Some(thread),
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // No new sender finds the socket; what is queued is still read.
        let _ = match &self.signals {
            Some(s) => s.remove(&self.path),
            None => std::fs::remove_file(&self.path),
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the thread: recv returns what is queued, then 0.
        let _ = self.socket.shutdown(std::net::Shutdown::Read);
        if let Some(t) = self.thread.take() {
            // A stderr nobody reads must not keep PID 1 from exiting.
            let until = Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// After a burst, once the socket has been quiet this long, the code pages the burst
/// touched are given back (measured: 10,000 messages left PID 1 at 2.2x tini-static's
/// RSS, all of it pages of the binary).
const IDLE: Duration = Duration::from_millis(250);

fn relay_loop(socket: &UnixDatagram, stopping: &AtomicBool, mut out: std::fs::File) {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut line = Vec::with_capacity(1024);
    let mut since_release = 0usize;
    let _ = socket.set_read_timeout(Some(IDLE));
    loop {
        let len = match sys::recv_datagram(socket, &mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if since_release > 0 {
                    sys::release_startup_pages();
                    since_release = 0;
                }
                continue;
            }
            Err(e) => {
                log::warn!("syslog relay stopped: {e}");
                return;
            }
        };
        since_release += 1;
        if len == 0 {
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        let got = len.min(buf.len());
        line.clear();
        format_line(&buf[..got], len, &mut line);
        // One write per line, so lines of different writers never mix mid-line.
        let _ = out.write_all(&line);
    }
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One datagram (`got` bytes of a `len`-byte message) as one line:
/// `facility.severity tag[pid]: message\n`. RFC 3164 (`<PRI>TIMESTAMP TAG[PID]: MSG`,
/// as glibc and `logger` send it, or `<PRI>MSG\0` as Python's SysLogHandler does) and
/// RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`). Line breaks and other
/// control characters are escaped so a message stays one line.
pub fn format_line(datagram: &[u8], len: usize, out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(datagram);
    let mut text: &str = &text;
    if len <= datagram.len() {
        text = text.trim_end_matches(['\0', '\n', '\r']);
    }
    let (pri, rest) = split_pri(text);
    let (facility, severity) = (pri / 8, pri % 8);
    let (tag, pid, msg) = match rest.strip_prefix("1 ") {
        Some(r5424) => split_5424(r5424),
        None => split_3164(rest),
    };
    let _ = write!(
        out,
        "{}.{}",
        FACILITIES.get(facility).copied().unwrap_or("unknown"),
        SEVERITIES[severity]
    );
    // The sender chooses the tag and pid as freely as the message: escaped alike, or a
    // line break in an RFC 5424 APP-NAME would forge a line of its own.
    if let Some(t) = tag {
        out.push(b' ');
        escape_into(t, out);
        if let Some(p) = pid {
            out.push(b'[');
            escape_into(p, out);
            out.push(b']');
        }
    }
    out.push(b':');
    if !msg.is_empty() {
        out.push(b' ');
        escape_into(msg, out);
    }
    if len > datagram.len() {
        let _ = write!(
            out,
            " [pulp-init: message cut at {} of {len} bytes]",
            datagram.len()
        );
    }
    out.push(b'\n');
}

/// `<PRI>` (0..=191); user.notice when absent or invalid (RFC 3164 4.3.3).
fn split_pri(text: &str) -> (usize, &str) {
    let parsed = text.strip_prefix('<').and_then(|r| {
        let end = r.find('>')?;
        let digits = &r[..end];
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let pri: usize = digits.parse().ok()?;
        (pri <= 191).then(|| (pri, &r[end + 1..]))
    });
    parsed.unwrap_or((13, text))
}

/// RFC 3164: an optional `Mmm dd hh:mm:ss ` timestamp, then `TAG[PID]: ` if present.
fn split_3164(rest: &str) -> (Option<&str>, Option<&str>, &str) {
    let b = rest.as_bytes();
    let stamped = b.len() >= 16
        && b[..3].iter().all(u8::is_ascii_alphabetic)
        && b[3] == b' '
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
        && b[15] == b' ';
    let rest = if stamped { &rest[16..] } else { rest };
    // A tag is one word of at most 48 characters, ending in ':' or '[pid]:'.
    let end = rest
        .find(|c: char| c == ':' || c == '[' || c.is_whitespace())
        .unwrap_or(rest.len());
    if end == 0 || end > 48 {
        return (None, None, rest);
    }
    let tag = &rest[..end];
    let after = &rest[end..];
    if let Some(r) = after.strip_prefix(':') {
        return (Some(tag), None, r.strip_prefix(' ').unwrap_or(r));
    }
    if let Some(r) = after.strip_prefix('[') {
        if let Some(close) = r.find("]:") {
            let pid = &r[..close];
            if !pid.is_empty() && !pid.contains(char::is_whitespace) {
                let m = &r[close + 2..];
                return (Some(tag), Some(pid), m.strip_prefix(' ').unwrap_or(m));
            }
        }
    }
    (None, None, rest)
}

/// RFC 5424 after `1 `: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
fn split_5424(rest: &str) -> (Option<&str>, Option<&str>, &str) {
    let mut fields = rest.splitn(6, ' ');
    let (_time, _host) = (fields.next(), fields.next());
    let app = fields.next().filter(|a| *a != "-");
    let pid = fields.next().filter(|p| *p != "-");
    let _msgid = fields.next();
    let tail = fields.next().unwrap_or("");
    let msg = skip_structured_data(tail);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    (app, pid, msg)
}

/// `-` or `[id k="v" ...]...`, then the message after one space.
fn skip_structured_data(tail: &str) -> &str {
    if let Some(r) = tail.strip_prefix('-') {
        return r.strip_prefix(' ').unwrap_or(r);
    }
    let mut in_quotes = false;
    let mut escaped = false;
    let mut depth = 0;
    for (i, c) in tail.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '[' if !in_quotes => depth += 1,
            ']' if !in_quotes => {
                depth -= 1;
                if depth == 0 && !tail[i + 1..].starts_with('[') {
                    let r = &tail[i + 1..];
                    return r.strip_prefix(' ').unwrap_or(r);
                }
            }
            _ => {}
        }
    }
    tail
}

fn escape_into(msg: &str, out: &mut Vec<u8>) {
    for c in msg.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.push(b'\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(d: &[u8]) -> String {
        let mut out = Vec::new();
        format_line(d, d.len(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_formats_senders_use() {
        // logger(1) to a local socket (util-linux 2.38).
        assert_eq!(
            line(b"<13>Nov 27 23:25:39 mytag[42]: hello world"),
            "user.notice mytag[42]: hello world\n"
        );
        assert_eq!(
            line(b"<13>Nov  7 23:25:39 root: plain"),
            "user.notice root: plain\n"
        );
        // Python's SysLogHandler: <PRI>MSG\0, Pulp's format "pulp: name:LEVEL: msg".
        assert_eq!(
            line(b"<11>pulp: pulp.server:ERROR: two\nlines\x00"),
            "user.err pulp: pulp.server:ERROR: two\\nlines\n"
        );
        assert_eq!(line(b"<12>py msg\x00"), "user.warning: py msg\n");
        assert_eq!(
            line(b"<30>celery[7]: started"),
            "daemon.info celery[7]: started\n"
        );
        // RFC 5424 (logger --rfc5424).
        assert_eq!(
            line(b"<13>1 2026-11-27T23:25:39.98+00:00 vm t5 - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] five"),
            "user.notice t5: five\n"
        );
        assert_eq!(
            line(b"<165>1 2003-10-11T22:14:15.003Z host app 99 ID47 - \xef\xbb\xbfmsg"),
            "local4.notice app[99]: msg\n"
        );
    }

    #[test]
    fn odd_input_stays_one_line() {
        assert_eq!(line(b"no pri at all"), "user.notice: no pri at all\n");
        assert_eq!(line(b"<999>x"), "user.notice: <999>x\n");
        assert_eq!(line(b"<0>"), "kern.emerg:\n");
        assert_eq!(line(b"<14>a\x1bb\r\n"), "user.info: a\\x1bb\n");
        assert_eq!(line(b"<14>\xff\xfe"), "user.info: \u{fffd}\u{fffd}\n");
    }

    #[test]
    fn tag_and_pid_are_escaped_like_the_message() {
        // RFC 5424 fields are split at spaces only: a line break forged a line.
        assert_eq!(
            line(b"<13>1 - - app\nforged 1\x1b[2J - - msg"),
            "user.notice app\\nforged[1\\x1b[2J]: msg\n"
        );
        assert_eq!(
            line(b"<13>1 - - a\x07pp p\rid - - body"),
            "user.notice a\\x07pp[p\\rid]: body\n"
        );
        // RFC 3164: a tag ends at whitespace, but ESC and BEL are not whitespace.
        assert_eq!(
            line(b"<13>t\x1b]0;x\x07g[1\x1b[m]: m"),
            "user.notice t\\x1b]0;x\\x07g[1\\x1b[m]: m\n"
        );
        assert_eq!(line(b"<13>ta\x1bg: m"), "user.notice ta\\x1bg: m\n");
    }

    #[test]
    fn a_cut_message_says_so() {
        let mut out = Vec::new();
        format_line(b"<14>tag: abc", 100_000, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "user.info tag: abc [pulp-init: message cut at 12 of 100000 bytes]\n"
        );
    }

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
