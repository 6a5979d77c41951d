//! Real role processes under pulp-init as PID 1: a Celery worker and Celery beat (PyPI
//! celery, a small test app) against a private RabbitMQ, and Debian's apache2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn venv_bin(name: &str) -> String {
    let venv = std::env::var("PULP_INIT_VENV").unwrap_or_else(|_| "/opt/pulp-init-venv".into());
    format!("{venv}/bin/{name}")
}

fn apps() -> std::path::PathBuf {
    repo().join("tests/apps")
}

/// pulp-init as PID 1 of a new PID namespace, with the venv and the test app.
fn as_pid1_with_apps(args: &[&str]) -> Command {
    let mut c = as_pid1(args);
    c.env(
        "PATH",
        format!(
            "{}:{}",
            venv_bin(""),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .env("HOME", "/tmp")
    .env("PYTHONPATH", apps().join("celery"))
    .current_dir(apps().join("celery"));
    c
}

/// The role's own Celery command from `pulp-init roles`, in Celery 5's syntax (`-A` before
/// the subcommand) and with the test app instead of Pulp's.
fn role_celery_command(role: &str) -> Vec<String> {
    let out = Command::new(BIN).arg("roles").output().unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{role} ")))
        .unwrap();
    let command = &line[line.find(" celery ").unwrap() + 1..];
    let mut words: Vec<String> = command
        .replace("$PULP_WORKER_ID", "1")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let a = words.iter().position(|w| w == "-A").unwrap();
    assert_eq!(words[a + 1], "pulp.server.async.app", "{line}");
    words.drain(a..a + 2);
    words.splice(1..1, ["-A".to_string(), "pulp_test_app".to_string()]);
    words.extend(["-l".to_string(), "INFO".to_string()]);
    words
}

/// `--role ROLE --user root --skip-config --skip-wait --skip-migrate-wait -- <the role's
/// command>` as PID 1 (the schema gate is tests/gate.rs's).
fn role_as_pid1(role: &str) -> Command {
    let command = role_celery_command(role);
    let mut args = vec![
        "--role",
        role,
        "--user",
        "root",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--",
    ];
    args.extend(command.iter().map(String::as_str));
    as_pid1_with_apps(&args)
}

fn sigterm(pid: i32) {
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

#[test]
fn celery_worker_and_beat_stop_cleanly_on_sigterm_to_pid1() {
    let rabbit = Rabbit::start();
    let broker = format!("amqp://guest:guest@127.0.0.1:{}//", rabbit.port);

    // The resource manager's own command line, with the test app instead of Pulp's.
    let mut cmd = role_as_pid1("resource_manager");
    cmd.env("TEST_BROKER_URL", &broker);
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    worker.wait_for_stderr(" ready.", Duration::from_secs(60));

    // Its queues exist in RabbitMQ, as the original deployment checked with qpid-config.
    let queues = rabbit.queues("/");
    assert!(queues.iter().any(|q| q == "resource_manager"), "{queues:?}");
    assert!(
        queues.iter().any(|q| q.ends_with(".celery.pidbox")),
        "{queues:?}"
    );
    assert!(
        queues.iter().any(|q| q.starts_with("celeryev.")),
        "{queues:?}"
    );

    // A task in progress when `docker stop` comes is finished: a warm shutdown.
    let sent = Command::new(venv_bin("python"))
        .arg(apps().join("celery/send_slow.py"))
        .arg("2")
        .env("TEST_BROKER_URL", &broker)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    worker.wait_for_stderr("slow task start", Duration::from_secs(30));
    sigterm(init);
    let (code, _, _, stderr) = worker.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    has(&stderr, "Warm shutdown");
    // SIGTERM came after "slow task start": the task still ran to its end.
    assert!(
        stderr.contains("slow task done"),
        "the running task was not finished: {stderr}"
    );
    assert!(
        stderr.contains("pulp_test_app.slow") && stderr.contains("succeeded"),
        "{stderr}"
    );
    has(&stderr, "celery exited with 0");

    // Beat, with its schedule in a scratch directory.
    let work = tempfile::tempdir().unwrap();
    let schedule = work.path().join("celerybeat-schedule");
    let mut cmd = as_pid1_with_apps(&[
        "--role",
        "beat",
        "--user",
        "root",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate",
        "--",
        "celery",
        "--workdir",
        work.path().to_str().unwrap(),
        "-A",
        "pulp_test_app",
        "beat",
        "-l",
        "DEBUG",
        "-s",
        schedule.to_str().unwrap(),
    ]);
    cmd.env("TEST_BROKER_URL", &broker);
    let beat = Running::spawn(cmd);
    let init = init_pid(beat.child.id());
    beat.wait_for_stderr(
        "Sending due task tick-every-second",
        Duration::from_secs(60),
    );
    // Stop it between ticks, once the task is sent: a SIGTERM that arrived while beat was
    // sending a task left beat hanging here (its TERM handler syncs the schedule).
    beat.wait_for_stderr("pulp_test_app.tick sent.", Duration::from_secs(30));
    sigterm(init);
    let (code, _, _, stderr) = beat.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    has(&stderr, "celery exited with 0");
}

#[test]
fn celery_worker_role_gets_sigquit_for_sigterm_as_pulps_manage_workers_sends() {
    let rabbit = Rabbit::start();
    let broker = format!("amqp://guest:guest@127.0.0.1:{}//", rabbit.port);
    let mut cmd = role_as_pid1("worker");
    cmd.env("TEST_BROKER_URL", &broker);
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    worker.wait_for_stderr(" ready.", Duration::from_secs(60));
    sigterm(init);
    let (code, _, _, stderr) = worker.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    has(&stderr, "forwarding SIGTERM to 2 as SIGQUIT");
    has(&stderr, "Cold shutdown");
}

#[test]
fn apache_stops_gracefully_when_pid1_gets_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("htdocs")).unwrap();
    std::fs::write(dir.path().join("htdocs/index.html"), "pulp\n").unwrap();
    let port = free_port();
    let mut cmd = as_pid1_with_apps(&[
        "--role",
        "apache",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--",
        "/usr/sbin/apache2",
        "-f",
        apps().join("apache/httpd.conf").to_str().unwrap(),
        "-DFOREGROUND",
    ]);
    cmd.env("TEST_HTTP_PORT", port.to_string())
        .env("TEST_HTTP_DIR", dir.path());
    let httpd = Running::spawn(cmd);
    let init = init_pid(httpd.child.id());
    let error_log = dir.path().join("error.log");
    let log = || std::fs::read_to_string(&error_log).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(30);
    // Serving: a real request answered.
    loop {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let mut reply = String::new();
            let _ = s.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < until, "apache did not serve: {}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(init);
    let (code, _, _, stderr) = httpd.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}\n{}", log());
    has(&stderr, "forwarding SIGTERM to 2 as SIGWINCH");
    has(&log(), "caught SIGWINCH, shutting down gracefully");
}
