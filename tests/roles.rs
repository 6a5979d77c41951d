//! Real role processes under pulp-init as PID 1: a Celery worker and Celery beat (PyPI
//! celery, a small test app that keeps Pulp's `workers` records as Pulp 2.21.5 does) against
//! a private RabbitMQ and SecantusDB, and Debian's apache2.
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

/// What a Celery process of the test app needs, as Pulp's does: a broker, the Pulp database
/// (each process keeps its record in `workers`) and the workers' working directory.
struct Services {
    rabbit: Rabbit,
    mongo: Mongo,
    cache: tempfile::TempDir,
}

impl Services {
    fn start() -> Services {
        Services {
            rabbit: Rabbit::start(),
            mongo: Mongo::start(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn broker(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}//", self.rabbit.port)
    }

    fn db_url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.mongo.port)
    }

    /// The test app's environment: server.conf's broker_url, seeds and working_directory.
    fn env(&self, cmd: &mut Command) {
        cmd.env("TEST_BROKER_URL", self.broker())
            .env("TEST_MONGO_URL", self.db_url())
            .env("TEST_WORKING_DIRECTORY", self.cache.path());
    }

    /// Pulp's `workers` collection: (name, seconds since its last heartbeat), by name.
    fn records(&self) -> Vec<(String, f64)> {
        let mut query = Command::new(venv_bin("python"));
        query
            .args([
                "-c",
                "import datetime, sys, pymongo\n\
                 db = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000).pulp_database\n\
                 now = datetime.datetime.utcnow()\n\
                 for w in db.workers.find(sort=[('_id', 1)]):\n\
                 \x20   print(w['_id'], (now - w['last_heartbeat']).total_seconds())",
            ])
            .arg(self.db_url());
        run(query)
            .ok()
            .stdout
            .lines()
            .map(|l| {
                let (name, age) = l.rsplit_once(' ').unwrap();
                (name.to_string(), age.parse().unwrap())
            })
            .collect()
    }

    fn names(&self) -> Vec<String> {
        self.records().into_iter().map(|(n, _)| n).collect()
    }

    /// Polls the records until `cond` holds; panics with them at the deadline.
    #[track_caller]
    fn wait_records(&self, what: &str, cond: impl Fn(&[(String, f64)]) -> bool) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let records = self.records();
            if cond(&records) {
                return;
            }
            assert!(Instant::now() < until, "{what}: {records:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The host's name: Celery's `%h` and Python's platform.node() (no UTS namespace here).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
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
    let services = Services::start();
    let broker = services.broker();

    // The resource manager's own command line, with the test app instead of Pulp's.
    let mut cmd = role_as_pid1("resource_manager");
    services.env(&mut cmd);
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    worker.wait_for_stderr(" ready.", Duration::from_secs(60));
    // Its record, named as Celery expands `-n resource_manager@%h`, as Pulp's app writes it.
    let name = format!("resource_manager@{}", host());
    services.wait_records("its record", |r| r.len() == 1 && r[0].0 == name);
    assert!(services.cache.path().join(&name).is_dir());

    // Its queues exist in RabbitMQ, as the original deployment checked with qpid-config.
    let queues = services.rabbit.queues("/");
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
    // A clean stop removes the record (Pulp's HeartbeatStep.shutdown).
    assert_eq!(services.names(), Vec::<String>::new(), "{stderr}");

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
    services.env(&mut cmd);
    let beat = Running::spawn(cmd);
    let init = init_pid(beat.child.id());
    beat.wait_for_stderr(
        "Sending due task tick-every-second",
        Duration::from_secs(60),
    );
    // Beat's record is `scheduler@<host>` (Pulp's scheduler.py: platform.node()).
    let name = format!("scheduler@{}", host());
    services.wait_records("beat's record", |r| r.len() == 1 && r[0].0 == name);
    // Stop it between ticks, once the task is sent: a SIGTERM that arrived while beat was
    // sending a task left beat hanging here (its TERM handler syncs the schedule).
    beat.wait_for_stderr("pulp_test_app.tick sent.", Duration::from_secs(30));
    sigterm(init);
    let (code, _, _, stderr) = beat.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    has(&stderr, "celery exited with 0");
    assert_eq!(services.names(), Vec::<String>::new(), "{stderr}");
}

#[test]
fn celery_worker_role_gets_sigquit_for_sigterm_as_pulps_manage_workers_sends() {
    let services = Services::start();
    let mut cmd = role_as_pid1("worker");
    services.env(&mut cmd);
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    worker.wait_for_stderr(" ready.", Duration::from_secs(60));
    let name = format!("reserved_resource_worker-1@{}", host());
    services.wait_records("its record", |r| r.len() == 1 && r[0].0 == name);
    assert!(services.cache.path().join(&name).is_dir());
    sigterm(init);
    let (code, _, _, stderr) = worker.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    has(&stderr, "forwarding SIGTERM to 2 as SIGQUIT");
    has(&stderr, "Cold shutdown");
    // Pulp removes the record during the cold shutdown, before the process ends.
    assert_eq!(services.names(), Vec::<String>::new(), "{stderr}");
}

/// What the migration's wait for the old deployment relies on: a live process refreshes its
/// record every worker_timeout / 5 s, and a SIGKILLed one leaves it behind to age.
#[test]
fn a_workers_record_is_refreshed_while_it_runs_and_left_behind_by_sigkill() {
    let services = Services::start();
    let mut cmd = role_as_pid1("worker");
    services.env(&mut cmd);
    // worker_timeout 10: a heartbeat every 2 s (int(10 / 5), Pulp's constants.py).
    cmd.env("TEST_WORKER_TIMEOUT", "10");
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    worker.wait_for_stderr(" ready.", Duration::from_secs(60));
    let name = format!("reserved_resource_worker-1@{}", host());
    // Refreshed: the record's age drops back (waited on, not timed).
    services.wait_records("an older heartbeat first", |r| {
        r.len() == 1 && r[0].1 >= 1.0
    });
    services.wait_records("then a fresh one", |r| r.len() == 1 && r[0].1 < 1.0);
    // SIGKILL of the Celery process: nothing of it runs to remove its record.
    let celery: i32 = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(unsafe { libc::kill(celery, libc::SIGKILL) }, 0);
    let (code, _, _, stderr) = worker.finish(Duration::from_secs(30));
    assert_eq!(code, Some(128 + 9), "{stderr}");
    let records = services.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].0, name);
    // (Pulp's start removes an old record too: that line comes before "ready.".)
    let after_ready = &stderr[stderr.find(" ready.").unwrap()..];
    assert!(
        !after_ready.contains("Cleaning up shutdown worker"),
        "{stderr}"
    );
}

/// Pulp's initialize_worker makes `<working_directory>/<name>` with os.mkdir; Celery 4.0.2
/// logs what that raises and starts the worker anyway, and each task then fails making its
/// own directory in it. The test app does the same.
#[test]
fn a_worker_without_its_working_directory_runs_but_its_tasks_fail() {
    let services = Services::start();
    let mut cmd = role_as_pid1("resource_manager");
    services.env(&mut cmd);
    let missing = services.cache.path().join("missing");
    cmd.env("TEST_WORKING_DIRECTORY", &missing);
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    worker.wait_for_stderr(" ready.", Duration::from_secs(60));
    has(&worker.stderr(), "initialize_worker");
    has(&worker.stderr(), "No such file or directory");
    let sent = Command::new(venv_bin("python"))
        .arg(apps().join("celery/send_slow.py"))
        .arg("0")
        .env("TEST_BROKER_URL", services.broker())
        .output()
        .unwrap();
    assert!(sent.status.success());
    worker.wait_for_stderr(
        "raised unexpected: FileNotFoundError",
        Duration::from_secs(30),
    );
    assert!(!worker.stderr().contains("slow task start"));
    sigterm(init);
    let (code, _, _, stderr) = worker.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
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
