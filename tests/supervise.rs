//! The run phase with pulp-init as a real PID 1 (`unshare --pid --fork --mount-proc`):
//! signal forwarding, zombies, exit status, privileges, exec mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Direct children of `pid` and their states, from the host's /proc.
fn children_with_state(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[1].parse::<i32>() == Ok(pid) {
            out.push((p, f[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

fn children(pid: i32) -> Vec<i32> {
    children_with_state(pid)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(pid: i32, sig: i32) {
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

fn status_field(pid: &str, field: &str, status: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} for {pid} in {status}"))
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .to_string()
}

#[test]
fn the_child_starts_with_an_empty_mask_and_default_dispositions() {
    let out = run(as_pid1(&[
        "--",
        "grep",
        "-E",
        "^(SigBlk|SigIgn)",
        "/proc/self/status",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stdout, "SigBlk:\t0000000000000000");
    has(&out.stdout, "SigIgn:\t0000000000000000");
    has(&out.stderr, "running grep as pid 2");
}

#[test]
fn exit_codes_pass_through() {
    for (cmd, code) in [
        ("exit 0", 0),
        ("exit 3", 3),
        ("exit 255", 255),
        ("kill -TERM $$", 143),
    ] {
        let out = run(as_pid1(&["--", "sh", "-c", cmd]));
        assert_eq!(out.code, Some(code), "{cmd}: {}", out.stderr);
        // A code above 128 that the service exited with is not a signal.
        if cmd.starts_with("exit") {
            has(&out.stderr, &format!("sh exited with {code}"));
            assert!(!out.stderr.contains("killed"), "{cmd}: {}", out.stderr);
        }
    }
    let out = run(as_pid1(&["--", "sh", "-c", "kill -TERM $$"]));
    has(&out.stderr, "sh was killed by SIGTERM: exiting with 143");
    // SIGKILL of the service from outside: 128+9.
    let running = Running::spawn(as_pid1(&["--", "sleep", "1000"]));
    let init = init_pid(running.child.id());
    wait_until("sleep to start", Duration::from_secs(10), || {
        !children(init).is_empty()
    });
    kill(children(init)[0], libc::SIGKILL);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(137), "{stderr}");
    has(&stderr, "killed by SIGKILL: exiting with 137");
}

/// A python child that records every signal it receives, one number per line.
const RECORDER: &str = r#"
import os, signal, sys, time
out = open(sys.argv[1], "a", buffering=1)
def handler(sig, frame):
    out.write(f"{sig}\n")
    if sig == signal.SIGTERM:
        sys.exit(0)
for sig in range(1, signal.SIGRTMAX + 1):
    if sig in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(sig, handler)
    except (OSError, ValueError):
        pass
out.write("ready\n")
while True:
    time.sleep(1)
"#;

#[test]
fn every_catchable_signal_reaches_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("signals");
    let running = Running::spawn(as_pid1(&[
        "--",
        "python3",
        "-c",
        RECORDER,
        log.to_str().unwrap(),
    ]));
    let init = init_pid(running.child.id());
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the recorder", Duration::from_secs(10), || {
        read().contains("ready")
    });
    let rtmin = libc::SIGRTMIN();
    let signals = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGWINCH,
        libc::SIGCONT,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGURG,
        libc::SIGPWR,
        rtmin,
        rtmin + 3,
        libc::SIGRTMAX(),
    ];
    for sig in signals {
        kill(init, sig);
        wait_until(
            &format!("signal {sig} at the child"),
            Duration::from_secs(5),
            || read().lines().any(|l| l == sig.to_string()),
        );
    }
    kill(init, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(read().lines().any(|l| l == "15"));
}

#[test]
fn role_rewrites_turn_term_into_the_services_stop_signal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("signals");
    // The worker role sends SIGQUIT for SIGTERM (Pulp's manage_workers); --skip-* keeps
    // this to the run phase.
    let running = Running::spawn(as_pid1(&[
        "--role",
        "worker",
        "--user",
        "root",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--",
        "python3",
        "-c",
        &RECORDER.replace("if sig == signal.SIGTERM", "if sig == signal.SIGQUIT"),
        log.to_str().unwrap(),
    ]));
    let init = init_pid(running.child.id());
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the recorder", Duration::from_secs(10), || {
        read().contains("ready")
    });
    kill(init, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        read().lines().filter(|l| *l != "ready").collect::<Vec<_>>(),
        ["3"]
    );
    has(&stderr, "forwarding SIGTERM to 2 as SIGQUIT");
}

/// Double-forks `n` short-lived children, then reports and waits to be stopped.
const ORPHANS: &str = r#"
import os, sys, time
n = int(sys.argv[1])
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
print("done", flush=True)
if len(sys.argv) > 2:
    time.sleep(1000)
"#;

fn zombies_in(init: i32) -> usize {
    children_with_state(init)
        .iter()
        .filter(|(_, s)| *s == 'Z')
        .count()
}

#[test]
fn two_thousand_orphans_leave_no_zombie() {
    let running = Running::spawn(as_pid1(&["--", "python3", "-c", ORPHANS, "2000", "stay"]));
    let init = init_pid(running.child.id());
    // The python program stays; every orphan it left must have been reaped by PID 1.
    wait_until("the orphans to be made", Duration::from_secs(60), || {
        running.stdout().contains("done")
    });
    wait_until("no zombie left", Duration::from_secs(10), || {
        zombies_in(init) == 0
    });
    kill(init, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(143), "{stderr}");
}

#[test]
fn python_as_pid1_keeps_zombies_and_under_pulp_init_none_remain() {
    // Control: python itself as PID 1 does not reap the orphans it inherits.
    let mut control = Command::new("unshare");
    control
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", "python3", "-c"])
        .arg(format!(
            "{ORPHANS}\nimport os\nprint(sum(1 for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{{p}}/stat').read().rsplit(')', 1)[1].split()[0] == 'Z'))"
        ))
        .arg("2000");
    let out = run(control);
    let zombies: usize = out.stdout.lines().last().unwrap().trim().parse().unwrap();
    assert!(zombies >= 1900, "python as PID 1 left {zombies} zombies");

    // The same program under pulp-init: it exits when done, pulp-init with it.
    let out = run(as_pid1(&["--", "python3", "-c", ORPHANS, "2000"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("done"));
}

#[test]
fn outside_pid1_supervise_mode_is_a_subreaper() {
    let running = Running::spawn({
        let mut c = pulp_init(&[
            "--mode",
            "supervise",
            "--",
            "python3",
            "-c",
            ORPHANS,
            "500",
            "stay",
        ]);
        c.stdin(Stdio::null());
        c
    });
    let me = i32::try_from(running.child.id()).unwrap();
    wait_until(
        "orphans reaped by pulp-init",
        Duration::from_secs(60),
        || children(me).len() == 1 && zombies_in(me) == 0,
    );
    kill(me, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(143), "{stderr}");
}

#[test]
fn grace_kills_a_service_that_ignores_sigterm() {
    let running = Running::spawn(as_pid1(&[
        "--grace",
        "300ms",
        "--",
        "python3",
        "-c",
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(1000)",
    ]));
    let init = init_pid(running.child.id());
    wait_until("python", Duration::from_secs(10), || {
        children(init)
            .first()
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
            .is_some_and(|s| {
                let ign = u64::from_str_radix(&status_field("python", "SigIgn", &s), 16).unwrap();
                ign & (1 << (libc::SIGTERM - 1)) != 0
            })
    });
    kill(init, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(137), "{stderr}");
    has(
        &stderr,
        "still running 300 ms after SIGTERM: sending SIGKILL",
    );
}

#[test]
fn group_mode_signals_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // A shell with a background child; both record SIGUSR1.
    let script = r#"
trap 'echo parent >> "$0"' USR1
python3 -c 'import signal, sys, time
signal.signal(signal.SIGUSR1, lambda s, f: open(sys.argv[1], "a").write("child\n"))
open(sys.argv[1], "a").write("ready\n")
time.sleep(1000)' "$0" &
wait; wait
"#;
    for (group, expected) in [(false, vec!["parent"]), (true, vec!["child", "parent"])] {
        let _ = std::fs::remove_file(&log);
        let mut args = vec!["--grace", "100ms"];
        if group {
            args.push("--group");
        }
        args.extend(["--", "sh", "-c", script, log.to_str().unwrap()]);
        let running = Running::spawn(as_pid1(&args));
        let init = init_pid(running.child.id());
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        wait_until("ready", Duration::from_secs(10), || {
            read().contains("ready")
        });
        kill(init, libc::SIGUSR1);
        wait_until("parent got it", Duration::from_secs(5), || {
            read().contains("parent")
        });
        if group {
            wait_until("child got it", Duration::from_secs(5), || {
                read().contains("child")
            });
        }
        kill(init, libc::SIGTERM);
        let _ = running.finish(Duration::from_secs(10));
        let mut got: Vec<String> = read()
            .lines()
            .filter(|l| *l != "ready")
            .map(str::to_string)
            .collect();
        got.sort();
        assert_eq!(got, expected, "group={group}");
    }
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_service_runs_as_the_users_uid_gid_and_groups() {
    // A private /etc/passwd and /etc/group, bind-mounted in the PID 1's mount namespace.
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let group = dir.path().join("group");
    write(
        &passwd,
        "root:x:0:0:root:/root:/bin/sh\napache:x:48:48:Apache:/usr/share/httpd:/sbin/nologin\n",
    );
    write(
        &group,
        "root:x:0:\napache:x:48:\npulp:x:1000:apache\nshared:x:2000:other,apache\n",
    );
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && exec "$3" --user apache -- sh -c 'cat /proc/self/status; echo "HOME=$HOME USER=$USER LOGNAME=$LOGNAME"'"#)
        .args(["sh", passwd.to_str().unwrap(), group.to_str().unwrap(), BIN])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/root");
    let out = run(c);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(status_field("child", "Uid", &out.stdout), "48\t48\t48\t48");
    assert_eq!(status_field("child", "Gid", &out.stdout), "48\t48\t48\t48");
    assert_eq!(status_field("child", "Groups", &out.stdout), "48 1000 2000");
    assert_eq!(
        status_field("child", "CapEff", &out.stdout),
        "0000000000000000"
    );
    assert!(
        out.stdout
            .contains("HOME=/usr/share/httpd USER=apache LOGNAME=apache"),
        "{}",
        out.stdout
    );
    has(&out.stderr, "as apache (uid 48, gid 48)");
}

#[test]
fn a_missing_user_is_77_as_root_and_a_warning_otherwise() {
    let out = run(as_pid1(&["--user", "no-such-user", "--", "true"]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("\"no-such-user\" is not in /etc/passwd"),
        "{}",
        out.stderr
    );

    // Checked before any phase: no config edit, no probe, no migration for a run that
    // cannot start.
    let out = run(pulp_init(&[
        "--role",
        "beat",
        "--user",
        "no-such-user",
        "--conf",
        "/nonexistent/server.conf",
    ]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // Not root (OpenShift's arbitrary uid): run as we are, with one warning line.
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        "1000123",
        "--regid",
        "1000123",
        "--clear-groups",
        BIN,
    ])
    .args(["--user", "nobody", "--", "sh", "-c", "id -u"])
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default());
    let out = run(c);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "1000123");
    assert_eq!(out.stderr.matches("warn").count(), 1, "{}", out.stderr);
    has(&out.stderr, "not root (uid 1000123)");
}

#[test]
fn exec_mode_becomes_the_service() {
    let out = run(pulp_init(&[
        "--mode",
        "exec",
        "--",
        "sh",
        "-c",
        "echo $PPID $$; exit 5",
    ]));
    assert_eq!(out.code, Some(5));
    // Auto outside PID 1 is exec too: the shell has pulp-init's pid, so its parent is
    // the test process itself.
    let out = run(pulp_init(&["--", "sh", "-c", "echo $PPID"]));
    assert_eq!(out.stdout.trim(), std::process::id().to_string());
    for (cmd, code, text) in [
        (
            "no-such-command-x",
            127,
            "no-such-command-x: command not found",
        ),
        ("/etc/passwd", 126, "/etc/passwd: cannot run"),
    ] {
        for mode in ["exec", "supervise"] {
            let out = run(pulp_init(&["--mode", mode, "--", cmd]));
            assert_eq!(out.code, Some(code), "{mode} {cmd}: {}", out.stderr);
            assert!(out.stderr.contains(text), "{}", out.stderr);
        }
    }
}

#[test]
fn after_the_probes_the_supervising_pid1_is_a_fresh_single_threaded_image() {
    let mongo = Mongo::start();
    let broker = AmqpHeaderResponder::start();
    let conf = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &format!("qpid://guest@127.0.0.1:{}/", broker.port),
        "",
    );
    let running = Running::spawn(as_pid1(&[
        "--role",
        "resource_manager",
        "--user",
        "nobody",
        "--skip-config",
        "--skip-migrate-wait",
        "--conf",
        conf.arg(),
        "--",
        "sleep",
        "1000",
    ]));
    let init = init_pid(running.child.id());
    // Beside the service: the presence keeper, a process of its own (its database client
    // is not in PID 1).
    let child_running = |name: &str| {
        children(init).into_iter().find(|c| {
            std::fs::read_to_string(format!("/proc/{c}/cmdline"))
                .is_ok_and(|cmd| cmd.split('\0').take(2).any(|w| w == name))
        })
    };
    wait_until(
        "sleep and the keeper under PID 1",
        Duration::from_secs(20),
        || child_running("sleep").is_some() && child_running("presence").is_some(),
    );
    let sleep = child_running("sleep").unwrap();
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    // The probes ran a tokio runtime with the MongoDB driver; none of it is left.
    assert_eq!(status_field("init", "Threads", &status), "1");
    // The service still gets the mask pulp-init was started with, not the blocked one.
    let child = std::fs::read_to_string(format!("/proc/{sleep}/status")).unwrap();
    assert_eq!(status_field("sleep", "SigBlk", &child), "0000000000000000");
    let env = std::fs::read(format!("/proc/{sleep}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&env).contains("PULP_INIT_ORIGINAL_SIGMASK"));
    let maps = std::fs::read_to_string(format!("/proc/{init}/maps")).unwrap();
    assert!(!maps.contains("[anon:tokio"), "{maps}");
    kill(init, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(143), "{stderr}");
    let ready = stderr.find("broker (qpid://guest@127.0.0.1:").unwrap();
    let running_at = stderr.find("running sleep as pid").unwrap();
    assert!(ready < running_at, "{stderr}");
}

#[test]
fn signals_during_start_up_are_not_forwarded_to_the_new_service() {
    // pulp-init as PID 1 is held in its config phase by another writer's lock; a
    // terminal's SIGWINCH and a stray SIGUSR1 arrive then. The service must not get them
    // (it has no handlers yet: Python dies of USR1, httpd stops on WINCH).
    let conf = scratch("[server]\n");
    let log = conf.dir.path().join("signals");
    let mut holder = hold_lock(&conf.path);
    let mut cmd = as_pid1(&[
        "--role",
        "beat",
        "--user",
        "root",
        "--conf",
        conf.arg(),
        "--skip-wait",
        "--skip-migrate",
        "--",
        "python3",
        "-c",
        RECORDER,
        log.to_str().unwrap(),
    ]);
    cmd.env("PULP_SERVER_NAME", "srv");
    let running = Running::spawn(cmd);
    let init = init_pid(running.child.id());
    wait_until(
        "pulp-init blocking signals",
        Duration::from_secs(10),
        || {
            let status =
                std::fs::read_to_string(format!("/proc/{init}/status")).unwrap_or_default();
            status_field("init", "SigBlk", &status) != "0000000000000000"
        },
    );
    kill(init, libc::SIGUSR1);
    kill(init, libc::SIGWINCH);
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the recorder", Duration::from_secs(10), || {
        read().contains("ready")
    });
    // A signal sent now reaches it: forwarding itself works.
    kill(init, libc::SIGUSR2);
    wait_until("SIGUSR2 at the service", Duration::from_secs(5), || {
        read().lines().any(|l| l == libc::SIGUSR2.to_string())
    });
    kill(init, libc::SIGTERM);
    let (code, _, _, stderr) = running.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    let got: Vec<String> = read()
        .lines()
        .skip_while(|l| *l != "ready")
        .map(str::to_string)
        .collect();
    assert_eq!(got, ["ready", "12", "15"], "{stderr}");
    // What the service got is the assertion. The log line ("SIGUSR1 received before the
    // service started: not forwarded") shows in most runs; in some, the process the test
    // signals is seen with one thread and an unshare-like mask (INT|TERM) right after the
    // kill, so the signals never reach pulp-init — an artefact of signalling across the
    // PID namespace from here, not reproduced by hand (30 of 30 runs logged both).
}

#[test]
fn uncatchable_rewrites_and_an_invalid_uid_are_refused() {
    let out = run(pulp_init(&["--rewrite", "KILL:TERM", "--", "true"]));
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    has(&out.stderr, "SIGKILL can never be caught");
    let out = run(pulp_init(&["--rewrite", "STOP:TERM", "--", "true"]));
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    let out = run(pulp_init(&["--user", "4294967295", "--", "true"]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(&out.stderr, "cannot drop privileges");
}

#[test]
fn boolean_variables_take_the_usual_spellings() {
    for (value, ran) in [
        ("1", true),
        ("yes", true),
        ("true", true),
        ("on", true),
        ("0", false),
        ("no", false),
        ("false", false),
    ] {
        let conf = scratch("[server]\n");
        let mut cmd = pulp_init(&[
            "--role",
            "beat",
            "--user",
            "root",
            "--conf",
            conf.arg(),
            "--skip-wait",
            "--skip-migrate",
            "--",
            "true",
        ]);
        cmd.env("PULP_INIT_SKIP_CONFIG", value)
            .env("PULP_SERVER_NAME", "srv");
        let out = run(cmd);
        assert_eq!(out.code, Some(0), "{value}: {}", out.stderr);
        let edited = std::fs::read_to_string(&conf.path).unwrap().contains("srv");
        assert_eq!(edited, !ran, "PULP_INIT_SKIP_CONFIG={value}");
    }
    let mut cmd = pulp_init(&["--", "true"]);
    cmd.env("PULP_INIT_SKIP_WAIT", "maybe");
    assert_eq!(run(cmd).code, Some(64));
}

#[test]
fn a_log_spec_for_other_modules_keeps_pulp_inits_own_lines() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    std::fs::write(&conf, "[server]\n").unwrap();
    let mut cmd = pulp_init(&["config", "--conf", conf.to_str().unwrap()]);
    cmd.env("PULP_SERVER_NAME", "srv")
        .env("PULP_INIT_LOG", "lapin=trace");
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "server_name");
}

/// Issue 15: `--timeout`, `PULP_INIT_TIMEOUT`, `--migrate-timeout` near u64 seconds
/// panicked ("overflow when adding duration to instant", 134), and `--grace` that long
/// panicked when SIGTERM came; `--lock-lease 0` was taken. Each is refused with 64 and a
/// message that names the option and the range.
#[test]
fn durations_a_clock_cannot_hold_and_a_zero_lease_are_refused_with_64() {
    let conf = Conf::with(
        &format!("127.0.0.1:{}", free_port()),
        &format!("amqp://guest:guest@127.0.0.1:{}//", free_port()),
        "",
    );
    let huge = "10000000000000000000";
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--grace", "10000000000000000000", "--", "true"],
            vec![],
            "--grace",
        ),
        (
            vec!["wait", "--conf", conf.arg(), "--timeout", huge],
            vec![],
            "--timeout",
        ),
        (
            vec!["wait", "--conf", conf.arg()],
            vec![("PULP_INIT_TIMEOUT", huge)],
            "--timeout",
        ),
        (
            vec!["--migrate-timeout", huge, "--", "true"],
            vec![],
            "--migrate-timeout",
        ),
        (
            vec!["--timeout", "87601h", "--", "true"],
            vec![],
            "--timeout",
        ),
    ];
    for (args, env, option) in &cases {
        let out = run_with(args, env);
        assert_eq!(out.code, Some(64), "{args:?} {env:?}: {}", out.stderr);
        has(&out.stderr, option);
        has(&out.stderr, "from 0 to 87600h");
    }
    for lease in ["0", "0s", "500ms"] {
        let out = run_with(&["--lock-lease", lease, "--", "true"], &[]);
        assert_eq!(out.code, Some(64), "--lock-lease {lease}: {}", out.stderr);
        has(&out.stderr, "--lock-lease");
        has(&out.stderr, "from 1s to 87600h");
    }
    // The longest accepted ones work.
    let out = run_with(
        &["--grace", "87600h", "--timeout", "87600h", "--", "true"],
        &[],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// Issue 15: `--rewrite TERM:CHLD` was accepted: the stop became a signal the service
/// ignores. A target that neither stops nor reaches the service usefully, and SIGCHLD as
/// a source (never forwarded), are refused with 64.
#[test]
fn rewriting_to_a_signal_that_stops_nothing_is_refused() {
    for (rewrite, says) in [
        ("TERM:CHLD", "SIGCHLD neither stops"),
        ("TERM:CONT", "SIGCONT neither stops"),
        ("QUIT:STOP", "SIGSTOP neither stops"),
        ("CHLD:TERM", "never forwards it"),
    ] {
        let out = run_with(&["--rewrite", rewrite, "--", "true"], &[]);
        assert_eq!(out.code, Some(64), "{rewrite}: {}", out.stderr);
        has(&out.stderr, says);
    }
    let out = run_with(&["--rewrite", "TERM:WINCH", "--", "true"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}
