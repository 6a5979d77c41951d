//! Pulp's logs without the host's /dev/log (issue 11): `log_type: console` where
//! server.conf documents it, otherwise pulp-init as PID 1 relays /dev/log to stderr.
//! Every test runs in a private PID and mount namespace with its own /dev.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/ns.rs"]
mod ns;

use common::*;
use ns::pid1_private_dev;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The relayed lines of an output (pulp-init's own lines and the service's dropped).
fn relayed(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            !l.starts_with("pulp-init: ")
                && l.contains(['.'])
                && l.split_once(' ').is_some_and(|(p, _)| p.contains('.'))
        })
        .collect()
}

#[test]
fn python_sysloghandler_and_logger_reach_stderr_in_order_with_priority_and_tag() {
    let script = r#"
logger -t first --id=41 "one from logger"
python3 - <<'PY'
import logging, logging.handlers
h = logging.handlers.SysLogHandler(address='/dev/log', facility=logging.handlers.SysLogHandler.LOG_DAEMON)
h.setFormatter(logging.Formatter('pulp: %(name)s:%(levelname)s: %(message)s'))
log = logging.getLogger('pulp.server.db.connection')
log.addHandler(h)
log.error('two from python')
log.warning('three from python\nwith a second line')
PY
logger -p local3.debug -t last "four from logger"
logger --rfc5424 -t five "five, RFC 5424"
"#;
    let out = run(pid1_private_dev(&[], &["--", "sh", "-c", script], None));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "relaying syslog messages sent to /dev/log to stderr",
    );
    assert_eq!(
        relayed(&out.stderr),
        [
            "user.notice first[41]: one from logger",
            "daemon.err pulp: pulp.server.db.connection:ERROR: two from python",
            "daemon.warning pulp: pulp.server.db.connection:WARNING: three from python\\nwith a second line",
            "local3.debug last: four from logger",
            "user.notice five: five, RFC 5424",
        ],
        "{}",
        out.stderr
    );
}

#[test]
fn the_socket_is_removed_on_exit_and_an_existing_dev_log_is_left_alone() {
    let dev = tempfile::tempdir().unwrap();
    let out = run(pid1_private_dev(
        &[],
        &["--", "sh", "-c", "test -S /dev/log && logger -t t here"],
        Some(dev.path()),
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "user.notice t: here");
    assert!(!dev.path().join("log").exists(), "/dev/log left behind");

    // A /dev/log that exists (the host's, mounted in) keeps getting the messages.
    let host = std::os::unix::net::UnixDatagram::bind(dev.path().join("log")).unwrap();
    host.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let out = run(pid1_private_dev(
        &[],
        &["--", "logger", "-t", "t", "to the host"],
        Some(dev.path()),
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("relaying"), "{}", out.stderr);
    let mut buf = [0u8; 512];
    let n = host.recv(&mut buf).unwrap();
    has(&String::from_utf8_lossy(&buf[..n]), "t: to the host");
    assert!(
        dev.path().join("log").exists(),
        "the host's socket was removed"
    );
}

#[test]
fn syslog_off_binds_nothing() {
    let mut cmd = pid1_private_dev(&[], &["--", "sh", "-c", "test ! -e /dev/log"], None);
    cmd.env("PULP_INIT_SYSLOG", "off");
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn ten_thousand_messages_from_four_writers_lose_none() {
    // Four processes, 2500 blocking sends each, as fast as they can.
    let script = r#"
import os, socket, sys
pids = []
for w in range(4):
    pid = os.fork()
    if pid == 0:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect('/dev/log')
        for i in range(2500):
            s.send(b'<14>w%d: n%d\0' % (w, i))
        os._exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
"#;
    let out = run(pid1_private_dev(
        &[],
        &["--", "python3", "-c", script],
        None,
    ));
    assert_eq!(
        out.code,
        Some(0),
        "{}",
        &out.stderr[..out.stderr.len().min(2000)]
    );
    let mut next = [0usize; 4];
    let mut total = 0;
    for line in out.stderr.lines() {
        let Some(rest) = line.strip_prefix("user.info w") else {
            continue;
        };
        let (w, n) = rest.split_once(": n").unwrap();
        let (w, n): (usize, usize) = (w.parse().unwrap(), n.parse().unwrap());
        assert_eq!(
            n, next[w],
            "writer {w}: out of order or lost before {line:?}"
        );
        next[w] += 1;
        total += 1;
    }
    assert_eq!(total, 10_000, "{next:?}");
}

#[test]
fn a_message_over_8_kib_is_whole_and_one_over_64_kib_is_marked_cut() {
    let script = r#"
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect('/dev/log')
s.send(b'<14>big: ' + b'a' * 20000 + b'END\0')
s.send(b'<14>huge: ' + b'b' * 100000 + b'END\0')
"#;
    let out = run(pid1_private_dev(
        &[],
        &["--", "python3", "-c", script],
        None,
    ));
    assert_eq!(out.code, Some(0));
    let big = out
        .stderr
        .lines()
        .find(|l| l.starts_with("user.info big: "))
        .unwrap();
    assert_eq!(big.len(), "user.info big: ".len() + 20000 + 3);
    assert!(big.ends_with("aEND"));
    let huge = out
        .stderr
        .lines()
        .find(|l| l.starts_with("user.info huge: "))
        .unwrap();
    assert!(
        huge.ends_with(&format!(
            " [pulp-init: message cut at 65536 of {} bytes]",
            10 + 100000 + 4
        )),
        "{}",
        &huge[huge.len() - 100..]
    );
}

/// A service that records when each SIGUSR1 arrives (monotonic ns) and answers its own
/// pid; optionally with a flood of syslog messages from two other processes.
const RECORDER: &str = r#"
import os, signal, socket, sys, time
out = open(sys.argv[1], 'a', buffering=1)
signal.signal(signal.SIGUSR1, lambda s, f: out.write('%d\n' % time.monotonic_ns()))
if sys.argv[2] == 'flood':
    for w in range(2):
        if os.fork() == 0:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.connect('/dev/log')
            msg = b'<14>flood: ' + b'x' * 200
            while True:
                s.send(msg)
out.write('ready\n')
while True:
    time.sleep(1)
"#;

/// Latencies (ms) of 20 SIGUSR1s sent to pulp-init until the service recorded them.
fn forwarding_latencies(flood: bool) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let mode = if flood { "flood" } else { "quiet" };
    let mut cmd = pid1_private_dev(
        &[],
        &["--", "python3", "-c", RECORDER, rec.to_str().unwrap(), mode],
        None,
    );
    cmd.env("PULP_INIT_LOG", "warn");
    let running = Running::spawn(cmd);
    let init = init_pid(running.child.id());
    let read = || std::fs::read_to_string(&rec).unwrap_or_default();
    wait_until("the recorder", DEADLINE, || read().contains("ready"));
    if flood {
        wait_until("the flood", DEADLINE, || {
            running.stderr().matches("flood").count() > 1000
        });
    }
    let mut ms = Vec::new();
    for i in 0..20 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let sent = now.tv_sec as i128 * 1_000_000_000 + now.tv_nsec as i128;
        assert_eq!(unsafe { libc::kill(init, libc::SIGUSR1) }, 0);
        wait_until("the signal", DEADLINE, || read().lines().count() > i + 1);
        let got: i128 = read().lines().nth(i + 1).unwrap().parse().unwrap();
        ms.push((got - sent) as f64 / 1e6);
    }
    unsafe { libc::kill(init, libc::SIGKILL) };
    let _ = running.finish(DEADLINE);
    ms
}

#[test]
fn a_syslog_flood_does_not_delay_signal_forwarding() {
    let quiet = forwarding_latencies(false);
    let flood = forwarding_latencies(true);
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    eprintln!(
        "forwarding latency ms: quiet median {:.2} max {:.2}; flood median {:.2} max {:.2}",
        median(&quiet),
        max(&quiet),
        median(&flood),
        max(&flood)
    );
    // Promptly under a flood on a shared 2-core machine: well under the 1 s reaper tick.
    assert!(max(&flood) < 500.0, "{flood:?}");
}

#[test]
fn not_root_and_no_dev_log_says_what_to_set() {
    let out = run(pid1_private_dev(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        &[
            "--role",
            "beat",
            "--skip-config",
            "--skip-wait",
            "--skip-migrate",
            "--skip-storage",
            "--",
            "true",
        ],
        None,
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "cannot create /dev/log (not root: uid 65534): Permission denied",
    );
    has(
        &out.stderr,
        "set PULP__SERVER__LOG_TYPE=console (Pulp >= 2.12)",
    );
    let about = out
        .stderr
        .lines()
        .filter(|l| l.contains("/dev/log"))
        .count();
    assert_eq!(about, 1, "one line: {}", out.stderr);
}

#[test]
fn without_a_role_an_unbindable_dev_log_is_not_worth_a_warning() {
    let out = run(pid1_private_dev(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        &["--", "true"],
        None,
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("warn"), "{}", out.stderr);
    let out = run(pid1_private_dev(
        &[],
        &["--mode", "exec", "--", "true"],
        None,
    ));
    assert!(!out.stderr.contains("warn"), "{}", out.stderr);
}

#[test]
fn exec_mode_says_only_log_type_can_help() {
    let out = run(pid1_private_dev(
        &[],
        &[
            "--mode",
            "exec",
            "--role",
            "beat",
            "--user",
            "nobody",
            "--skip-config",
            "--skip-wait",
            "--skip-migrate",
            "--skip-storage",
            "--",
            "true",
        ],
        None,
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "no /dev/log and pulp-init execs the service (not PID 1), so it cannot relay syslog",
    );
}

fn fixture(version: &str) -> Conf {
    let path = repo().join(format!("tests/fixtures/server-conf/pulp-{version}.conf"));
    Conf::new(&std::fs::read_to_string(path).unwrap())
}

/// `pulp-init --role beat` with probes, storage and migrations skipped, running `argv`.
fn beat(conf: &Conf, env: &[(&str, &str)], argv: &[&str]) -> Finished {
    beat_on(conf, env, argv, &[], None)
}

/// `beat`, after `prefix` (which execs the rest), with /dev from `dev` when given.
fn beat_on(
    conf: &Conf,
    env: &[(&str, &str)],
    argv: &[&str],
    prefix: &[&str],
    dev: Option<&std::path::Path>,
) -> Finished {
    let mut args = vec![
        "--role",
        "beat",
        "--user",
        "nobody",
        "--conf",
        conf.arg(),
        "--skip-wait",
        "--skip-migrate",
        "--skip-storage",
        "--",
    ];
    args.extend_from_slice(argv);
    let mut cmd = pid1_private_dev(prefix, &args, dev);
    cmd.envs(env.iter().copied());
    run(cmd)
}

const DEV_LOG_STATE: &[&str] = &[
    "sh",
    "-c",
    "if test -S /dev/log; then logger -t pulp relayed; else echo no-dev-log; fi",
];

#[test]
fn pulp_2_12_and_later_log_to_the_console_unless_set() {
    for version in ["2.14.3", "2.21-final"] {
        let conf = fixture(version);
        let out = beat(&conf, &[], DEV_LOG_STATE);
        assert_eq!(out.code, Some(0), "{version}: {}", out.stderr);
        has(&out.stderr, "set [server] log_type = console (from no /dev/log in the container; Pulp logs to stderr)");
        has(&out.stdout, "no-dev-log");
        let text = std::fs::read_to_string(&conf.path).unwrap();
        has(&text, "# log_type: syslog\nlog_type: console\n");

        // Set by the environment: syslog it is, and the relay carries it.
        let conf = fixture(version);
        let out = beat(
            &conf,
            &[("PULP__SERVER__LOG_TYPE", "syslog")],
            DEV_LOG_STATE,
        );
        assert_eq!(out.code, Some(0), "{version}: {}", out.stderr);
        has(
            &out.stderr,
            "set [server] log_type = syslog (from PULP__SERVER__LOG_TYPE)",
        );
        has(&out.stderr, "user.notice pulp: relayed");
        assert!(!out.stderr.contains("console"), "{}", out.stderr);
    }
}

#[test]
fn pulp_2_12_with_log_type_set_in_the_file_keeps_it() {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/server-conf/pulp-2.21-final.conf"))
            .unwrap();
    let conf = Conf::new(&text.replace(
        "# log_type: syslog\n",
        "# log_type: syslog\nlog_type: syslog\n",
    ));
    let out = beat(&conf, &[], DEV_LOG_STATE);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "user.notice pulp: relayed");
    assert!(!out.stderr.contains("console"), "{}", out.stderr);
}

#[test]
fn pulp_before_2_12_gets_the_relay() {
    for version in ["2.4.0", "2.8.0"] {
        let conf = fixture(version);
        let before = std::fs::read_to_string(&conf.path).unwrap();
        let out = beat(&conf, &[], DEV_LOG_STATE);
        assert_eq!(out.code, Some(0), "{version}: {}", out.stderr);
        has(&out.stderr, "user.notice pulp: relayed");
        assert_eq!(
            std::fs::read_to_string(&conf.path).unwrap(),
            before,
            "{version}"
        );
    }
}

/// A socket file nothing listens on, as a killed pulp-init (or a host syslog that is
/// down) leaves it.
fn stale_socket(path: &std::path::Path) {
    drop(std::os::unix::net::UnixDatagram::bind(path).unwrap());
    assert!(std::fs::symlink_metadata(path).is_ok());
}

#[test]
fn a_stop_signal_during_the_gate_removes_dev_log() {
    let db = Db::with_raw_conf("");
    db.query_args(&["record", "fp-old"]);
    let dev = tempfile::tempdir().unwrap();
    let command = migrate_command();
    let mut cmd = pid1_private_dev(
        &[],
        &[
            "--role",
            "worker",
            "--conf",
            db.conf.arg(),
            "--user",
            MIGRATE_USER,
            "--skip-config",
            "--skip-wait",
            "--skip-storage",
            "--migrate-command",
            &command,
            "--",
            "true",
        ],
        Some(dev.path()),
    );
    cmd.env("TEST_MONGO_URL", db.url())
        .envs(migrate_env(&db.conf))
        .env("PULP_INIT_MIGRATION_FINGERPRINT", "fp-new");
    let running = Running::spawn(cmd);
    let init = init_pid(running.child.id());
    running.wait_for_stderr("schema: waiting", DEADLINE);
    has(
        &running.stderr(),
        "relaying syslog messages sent to /dev/log to stderr",
    );
    assert!(dev.path().join("log").exists());
    assert_eq!(unsafe { libc::kill(init, libc::SIGTERM) }, 0);
    let (code, _, _, log) = running.finish(DEADLINE);
    assert_eq!(code, Some(143), "{log}");
    has(&log, "SIGTERM received before the service started: exiting");
    assert!(
        std::fs::symlink_metadata(dev.path().join("log")).is_err(),
        "/dev/log left behind: {log}"
    );
}

#[test]
fn a_dev_log_nothing_listens_on_is_replaced() {
    let dev = tempfile::tempdir().unwrap();
    stale_socket(&dev.path().join("log"));
    let out = run(pid1_private_dev(
        &[],
        &["--", "logger", "-t", "t", "through a fresh socket"],
        Some(dev.path()),
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "relaying syslog messages sent to /dev/log to stderr",
    );
    has(&out.stderr, "user.notice t: through a fresh socket");
    assert!(!dev.path().join("log").exists(), "/dev/log left behind");

    // Pulp >= 2.12 logs to the console instead, as without a /dev/log.
    stale_socket(&dev.path().join("log"));
    let conf = fixture("2.21-final");
    let out = beat_on(&conf, &[], &["true"], &[], Some(dev.path()));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "set [server] log_type = console (from nothing answers on /dev/log",
    );
    has(
        &std::fs::read_to_string(&conf.path).unwrap(),
        "\nlog_type: console\n",
    );
}

#[test]
fn a_dev_log_nothing_listens_on_that_cannot_be_replaced_is_said_once() {
    let dev = tempfile::tempdir().unwrap();
    stale_socket(&dev.path().join("log"));
    let other = tempfile::tempdir().unwrap();
    let mounted = other.path().join("host-log");
    stale_socket(&mounted);
    // The host's socket bind-mounted over /dev/log: unlink says EBUSY.
    let script = format!("mount --bind {} /dev/log && exec \"$@\"", mounted.display());
    let prefix = ["sh", "-c", script.as_str(), "sh"];
    let about_dev_log = |out: &Finished| {
        out.stderr
            .lines()
            .filter(|l| l.contains("/dev/log"))
            .count()
    };

    // Pulp >= 2.12: the console, and one line saying why.
    let conf = fixture("2.21-final");
    let out = beat_on(&conf, &[], &["true"], &prefix, Some(dev.path()));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "set [server] log_type = console (from nothing answers on /dev/log",
    );
    assert_eq!(about_dev_log(&out), 1, "{}", out.stderr);

    // Older Pulp cannot: one warning saying what to set.
    let conf = fixture("2.8.0");
    let out = beat_on(&conf, &[], &["true"], &prefix, Some(dev.path()));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "/dev/log is a socket nothing listens on and cannot be replaced: Device or resource busy",
    );
    has(&out.stderr, "set PULP__SERVER__LOG_TYPE=console");
    assert_eq!(about_dev_log(&out), 1, "{}", out.stderr);
    assert!(dev.path().join("log").exists());
}

#[test]
fn a_forged_tag_or_pid_stays_on_its_line() {
    let script = r#"
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect('/dev/log')
s.send(b'<13>1 - - app\nauth.crit root - - one')
s.send(b'<13>tag\x1b]0;title\x07[1\x1b[2J]: two')
"#;
    let out = run(pid1_private_dev(
        &[],
        &["--", "python3", "-c", script],
        None,
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "\nuser.notice app\\nauth.crit[root]: one\n");
    has(
        &out.stderr,
        "\nuser.notice tag\\x1b]0;title\\x07[1\\x1b[2J]: two\n",
    );
    assert!(
        !out.stderr.lines().any(|l| l.starts_with("auth.crit")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(['\x1b', '\x07']), "{}", out.stderr);
}

/// A service that writes `term` to a file when SIGTERM arrives and exits 0. `flood`: two
/// children send syslog messages as fast as they can; `fill`: one writes to stderr until
/// SIGUSR1 comes (answered `usr1`); SIGUSR2 is answered `usr2`.
const STALLED: &str = r#"
import os, signal, socket, sys, time
rec = sys.argv[1]
def note(what):
    with open(rec, 'a') as out:
        out.write(what + '\n')
def term(s, f):
    note('term')
    os._exit(0)
signal.signal(signal.SIGTERM, term)
signal.signal(signal.SIGUSR2, lambda s, f: note('usr2'))
if sys.argv[2] == 'flood':
    for w in range(2):
        if os.fork() == 0:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.connect('/dev/log')
            while True:
                s.send(b'<14>flood: ' + b'x' * 200)
else:
    filler = os.fork()
    if filler == 0:
        while True:
            # Whole pages: no room is left in the last one for a short line.
            os.write(2, b'y' * 4095 + b'\n')
    def usr1(s, f):
        os.kill(filler, signal.SIGKILL)
        os.waitpid(filler, 0)
        note('usr1')
    signal.signal(signal.SIGUSR1, usr1)
note('ready')
while True:
    time.sleep(1)
"#;

/// pulp-init as PID 1 (after `prefix`) running STALLED in `mode`, its stderr a pipe the
/// test holds; debug logging, so PID 1 logs each signal it forwards.
struct Stalled {
    child: std::process::Child,
    init: i32,
    rec: std::path::PathBuf,
    unread: std::fs::File,
    _dir: tempfile::TempDir,
}

impl Stalled {
    /// `socket`: stderr is a Unix stream socket (as journald's) rather than a pipe.
    fn start(mode: &str, env: &[(&str, &str)], prefix: &[&str], socket: bool) -> Stalled {
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // The service may run as nobody.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let rec = dir.path().join("rec");
        let (unread, write) = if socket {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            (OwnedFd::from(a), OwnedFd::from(b))
        } else {
            let mut fds = [0; 2];
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
        };
        let mut cmd = pid1_private_dev(
            prefix,
            &["--", "python3", "-c", STALLED, rec.to_str().unwrap(), mode],
            None,
        );
        cmd.env("PULP_INIT_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(write));
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let init = init_pid(child.id());
        let stalled = Stalled {
            child,
            init,
            rec,
            unread: unread.into(),
            _dir: dir,
        };
        wait_until("the service", DEADLINE, || stalled.said("ready"));
        if mode == "fill" {
            wait_until("the filler to wait for the reader", DEADLINE, || {
                stalled.filler_waits()
            });
        } else {
            wait_until("a full pipe", DEADLINE, || stalled.queued() >= 60 * 1024);
        }
        stalled
    }

    /// The service's child that fills stderr sleeps in write(2, …): stderr is full.
    fn filler_waits(&self) -> bool {
        let children = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .map(|p| p.parse::<i32>().unwrap())
                .collect::<Vec<_>>()
        };
        let Some(&service) = children(self.init).first() else {
            return false;
        };
        let Some(&filler) = children(service).first() else {
            return false;
        };
        let stat = std::fs::read_to_string(format!("/proc/{filler}/stat")).unwrap_or_default();
        let sleeping = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('S'));
        let syscall =
            std::fs::read_to_string(format!("/proc/{filler}/syscall")).unwrap_or_default();
        sleeping && syscall.starts_with(&format!("{} 0x2 ", libc::SYS_write))
    }

    fn said(&self, what: &str) -> bool {
        std::fs::read_to_string(&self.rec)
            .unwrap_or_default()
            .lines()
            .any(|l| l == what)
    }

    /// Bytes in the pipe, unread.
    fn queued(&self) -> i32 {
        let mut n: libc::c_int = 0;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.unread);
        assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }, 0);
        n
    }

    fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.init, sig) }, 0);
    }

    /// Whether the service said `what` within `within`.
    fn says_within(&self, what: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while !self.said(what) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.said(what)
    }

    /// pulp-init's exit code, once it has ended (killed at the deadline: None).
    fn exit_code(mut self) -> Option<i32> {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        // A failed test must not leave the namespace running (unshare --kill-child).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM to a pulp-init whose stderr is full and unread: whether the service got it
/// within 5 s, and pulp-init's exit code.
fn sigterm_with_stderr_stalled(
    socket: bool,
    mode: &str,
    env: &[(&str, &str)],
    prefix: &[&str],
) -> (bool, Option<i32>) {
    let stalled = Stalled::start(mode, env, prefix, socket);
    stalled.signal(libc::SIGTERM);
    let delivered = stalled.says_within("term", Duration::from_secs(5));
    if !delivered {
        return (false, None);
    }
    (true, stalled.exit_code())
}

#[test]
fn a_stderr_nobody_reads_does_not_stop_sigterm_from_reaching_the_service() {
    // The relay blocked writing while it held std's stderr lock, which PID 1's line
    // "forwarding SIGTERM" waited for, before the kill.
    let (delivered, code) = sigterm_with_stderr_stalled(false, "flood", &[], &[]);
    assert!(
        delivered,
        "SIGTERM not delivered within 5 s (relay flooding)"
    );
    assert_eq!(code, Some(0));
    // Without the relay, PID 1's own write waited for the reader.
    let off = [("PULP_INIT_SYSLOG", "off")];
    let (delivered, code) = sigterm_with_stderr_stalled(false, "fill", &off, &[]);
    assert!(
        delivered,
        "SIGTERM not delivered within 5 s (service filling stderr)"
    );
    assert_eq!(code, Some(0));
    // Not root: the pipe (root's) cannot be opened again without blocking; poll decides.
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let (delivered, code) = sigterm_with_stderr_stalled(false, "fill", &off, &nobody);
    assert!(delivered, "SIGTERM not delivered within 5 s (not root)");
    assert_eq!(code, Some(0));
    // A socket (journald's stdout): each send is told not to wait.
    let (delivered, code) = sigterm_with_stderr_stalled(true, "fill", &off, &[]);
    assert!(
        delivered,
        "SIGTERM not delivered within 5 s (stderr a socket)"
    );
    assert_eq!(code, Some(0));
}

#[test]
fn lines_dropped_while_stderr_was_full_are_counted_once_it_drains() {
    let stalled = Stalled::start("fill", &[("PULP_INIT_SYSLOG", "off")], &[], false);
    // Forwarded while the pipe is full: the filler stops, the line is dropped.
    stalled.signal(libc::SIGUSR1);
    assert!(stalled.says_within("usr1", DEADLINE));
    let mut unread = stalled.unread.try_clone().unwrap();
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = std::io::Read::read(&mut unread, &mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    wait_until("the pipe to drain", DEADLINE, || stalled.queued() == 0);
    stalled.signal(libc::SIGUSR2);
    assert!(stalled.says_within("usr2", DEADLINE));
    wait_until("the next line", DEADLINE, || {
        text.lock().unwrap().contains("forwarding SIGUSR2")
    });
    stalled.signal(libc::SIGTERM);
    assert!(stalled.says_within("term", DEADLINE));
    assert_eq!(stalled.exit_code(), Some(0));
    let text = text.lock().unwrap().clone();
    let ours: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches('y'))
        .filter(|l| l.starts_with("pulp-init: "))
        .collect();
    assert!(!text.contains("forwarding SIGUSR1"), "{ours:#?}");
    let note = ours
        .iter()
        .position(|l| *l == "pulp-init: warn: 1 log line of pulp-init dropped: stderr was full")
        .unwrap_or_else(|| panic!("no note: {ours:#?}"));
    assert!(
        ours[note + 1].starts_with("pulp-init: debug: forwarding SIGUSR2 to "),
        "{ours:#?}"
    );
}
