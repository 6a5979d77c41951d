//! `check --live`, run as Docker's HEALTHCHECK and the kubelet run it: a second process in
//! the namespaces of pulp-init as PID 1 (here `nsenter`), judging the real role processes —
//! the Celery stand-in heartbeating into SecantusDB as Pulp does, Debian's apache2 — and
//! pulp-init waiting at the schema gate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// The host name of the test's UTS namespace (a dot in it: `%h` is the whole of it).
const HOST: &str = "pod-1.live.test";

fn venv_bin(name: &str) -> String {
    let venv = std::env::var("PULP_INIT_VENV").unwrap_or_else(|_| "/opt/pulp-init-venv".into());
    format!("{venv}/bin/{name}")
}

fn apps() -> std::path::PathBuf {
    repo().join("tests/apps")
}

/// pulp-init as PID 1 of new PID, mount and UTS namespaces whose host name is `HOST`, with
/// the venv and the test app. Clean environment, PATH kept.
fn pid1_on_host(args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--uts", "--kill-child"])
        .args(["sh", "-c", "hostname \"$0\" && exec \"$@\"", HOST, BIN])
        .args(args)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv_bin(""),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .envs(HOST_SAFE)
        .env("HOME", "/tmp")
        .env("PYTHONPATH", apps().join("celery"))
        .current_dir(apps().join("celery"));
    c
}

/// `pulp-init check --live ARGS` inside the namespaces of `init` (a host pid), as
/// `docker exec` runs it: the container's /proc and host name, its environment.
fn live_in(init: i32, args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut c = Command::new("nsenter");
    c.args([
        "-t",
        &init.to_string(),
        "-p",
        "-m",
        "-u",
        "--",
        BIN,
        "check",
        "--live",
    ])
    .args(args)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .envs(env.iter().copied());
    run(c)
}

/// The host pid of PID 1's oldest child in the namespace: the service.
fn service_pid(init: i32) -> i32 {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let kids = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .unwrap_or_default();
        if let Some(pid) = kids.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < until, "no service under {init}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILLs a namespace's PID 1 when dropped, so a failed assertion leaves no namespace,
/// Celery or httpd behind (the kernel ends the rest of the namespace with it).
struct Namespace(i32);

impl Drop for Namespace {
    fn drop(&mut self) {
        // Only while that pid is still this test's pulp-init (not a reused pid).
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.0)).unwrap_or_default();
        if cmdline.starts_with(BIN.as_bytes()) {
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

fn signal(pid: i32, sig: i32) {
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// Runs `check` until `done` holds for what it answered; panics at the deadline with the
/// last answer.
#[track_caller]
fn until(
    what: &str,
    deadline: Duration,
    check: impl Fn() -> Finished,
    done: impl Fn(&Finished) -> bool,
) -> (Finished, Instant) {
    let until = Instant::now() + deadline;
    loop {
        let out = check();
        if done(&out) {
            return (out, Instant::now());
        }
        assert!(
            Instant::now() < until,
            "{what}: still {:?}: {}{}",
            out.code,
            out.stdout,
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One line on stdout, nothing on stderr.
#[track_caller]
fn one_line(out: &Finished) -> &str {
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "{:?} {:?}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.stderr, "", "{}", out.stdout);
    out.stdout.trim_end()
}

/// A loopback port that counts the connections made to it (the "broker" of server.conf).
struct Counter {
    port: u16,
    listener: std::net::TcpListener,
}

impl Counter {
    fn start() -> Counter {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Counter {
            port: listener.local_addr().unwrap().port(),
            listener,
        }
    }

    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.listener.accept().ok()).count()
    }
}

#[test]
fn a_heartbeating_worker_is_live_a_stopped_one_not_and_a_lost_database_is_not_judged() {
    let rabbit = Rabbit::start();
    let mongo = Mongo::start();
    let cache = tempfile::tempdir().unwrap();
    // What check --live reads: the database, worker_timeout 5 (a heartbeat every 1 s), and
    // a broker that counts every connection made to it.
    let broker = Counter::start();
    let conf = Conf::new(&format!(
        "[database]\nseeds: 127.0.0.1:{}\n[tasks]\nworker_timeout: 5\nbroker_url: amqp://guest:guest@127.0.0.1:{}//\n",
        mongo.port, broker.port
    ));
    let mut cmd = pid1_on_host(&[
        "--role",
        "worker",
        "--user",
        "root",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--",
        "celery",
        "-A",
        "pulp_test_app",
        "worker",
        "-n",
        "reserved_resource_worker-3@%h",
        "-c",
        "1",
        "-l",
        "INFO",
    ]);
    cmd.env(
        "TEST_BROKER_URL",
        format!("amqp://guest:guest@127.0.0.1:{}//", rabbit.port),
    )
    .env(
        "TEST_MONGO_URL",
        format!("mongodb://127.0.0.1:{}/", mongo.port),
    )
    .env("TEST_WORKING_DIRECTORY", cache.path())
    .env("TEST_WORKER_TIMEOUT", "5");
    let worker = Running::spawn(cmd);
    let init = init_pid(worker.child.id());
    let _namespace = Namespace(init);
    let env = [("PULP_SERVER_CONF", conf.arg())];
    let check = |extra: &[&str]| live_in(init, extra, &env);

    // 1. Live, named from PID 1's own command line, as Celery expands it.
    let name = format!("reserved_resource_worker-3@{HOST}");
    let (out, _) = until(
        "live",
        Duration::from_secs(60),
        || check(&[]),
        |o| o.stdout.starts_with("live:"),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = one_line(&out);
    has(line, &format!("live: {name} heartbeat "));
    has(line, " ago by the database's clock (worker_timeout 5.0 s)");

    // 6. No broker traffic: nothing connected to server.conf's broker.
    assert_eq!(broker.connections(), 0);

    // 2. The Celery process stopped: not live within worker_timeout + one heartbeat
    // interval of its last heartbeat (the attempt's own time on top).
    let celery = service_pid(init);
    let stopped = Instant::now();
    signal(celery, libc::SIGSTOP);
    let (out, at) = until(
        "not live",
        Duration::from_secs(30),
        || check(&["--start-period", "0s"]),
        |o| o.code != Some(0),
    );
    let took = at.duration_since(stopped);
    println!("not live {took:?} after SIGSTOP (worker_timeout 5 s, heartbeat every 1 s)");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    has(one_line(&out), &format!("not live: {name} heartbeat "));
    assert!(took <= Duration::from_secs(5 + 1 + 2), "{took:?}");
    signal(celery, libc::SIGCONT);
    let (out, _) = until(
        "live again",
        Duration::from_secs(20),
        || check(&["--start-period", "0s"]),
        |o| o.code == Some(0),
    );
    has(one_line(&out), "live: ");

    // 3. The database gone: not a reason to restart the worker.
    signal(mongo.pid(), libc::SIGKILL);
    // Gone once its port refuses (the kill is asynchronous).
    let gone = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", mongo.port)).is_ok() {
        assert!(Instant::now() < gone, "SecantusDB still listens");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = check(&["--start-period", "0s", "--attempt-timeout", "2s"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        one_line(&out),
        "not judged: database unreachable (connection refused",
    );
    assert_eq!(broker.connections(), 0);

    // (Without its database the stand-in's shutdown would wait 30 s for it, as Pulp's.)
    signal(init, libc::SIGKILL);
    let _ = worker.finish(Duration::from_secs(20));
}

#[test]
fn at_the_schema_gate_it_is_starting_and_a_service_without_a_record_is_not_live_after_its_start_period(
) {
    let db = Db::with_conf("[tasks]\nworker_timeout: 5\n");
    let command = migrate_command();
    let mut cmd = pid1_on_host(&[
        "--role",
        "worker",
        "--conf",
        db.conf.arg(),
        "--user",
        MIGRATE_USER,
        "--skip-config",
        "--skip-wait",
        "--migrate-command",
        &command,
        "--",
        "sleep",
        "600",
    ]);
    cmd.env("TEST_MONGO_URL", db.url())
        .envs(migrate_env(&db.conf))
        .env("PULP_INIT_MIGRATION_FINGERPRINT", "fp-new");
    let running = Running::spawn(cmd);
    let init = init_pid(running.child.id());
    let _namespace = Namespace(init);
    running.wait_for_stderr("schema: waiting", Duration::from_secs(20));
    let env = [("PULP_SERVER_CONF", db.conf.arg())];
    // Even with no start period left: the service does not run yet.
    let out = live_in(init, &["--start-period", "0s"], &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        one_line(&out),
        "starting: pulp-init (PID 1) is in its start-up phases",
    );

    // A beat of this image migrates; the gate opens and `sleep` runs, never heartbeating.
    let beat = run(db.migrate(&[], &[("PULP_INIT_MIGRATION_FINGERPRINT", "fp-new")]));
    assert_eq!(beat.code, Some(0), "{}", beat.stderr);
    running.wait_for_stderr("running sleep", Duration::from_secs(20));
    // `sleep` has no -n: Celery's default name.
    let name = format!("celery@{HOST}");
    let out = live_in(init, &["--start-period", "1h"], &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        one_line(&out),
        &format!(
            "starting: {name} has no record in Pulp's workers collection; the service started "
        ),
    );
    // The start period counts from the service's start, not from PID 1's.
    let (out, _) = until(
        "not live after the start period",
        Duration::from_secs(10),
        || live_in(init, &["--start-period", "1s"], &env),
        |o| o.code != Some(0),
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    has(
        one_line(&out),
        &format!(
            "not live: {name} has no record in Pulp's workers collection; the service started "
        ),
    );
    has(&out.stdout, "(start period 1.0 s)");
    signal(init, libc::SIGTERM);
    let _ = running.finish(Duration::from_secs(20));
}

/// The host pids of httpd: its parent (PID 1's child) and the parent's children.
fn httpd_pids(init: i32) -> Vec<i32> {
    let parent = service_pid(init);
    let kids = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
        .unwrap_or_default();
    std::iter::once(parent)
        .chain(kids.split_whitespace().map(|p| p.parse().unwrap()))
        .collect()
}

#[test]
fn httpd_answering_is_live_and_a_hanging_httpd_is_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("htdocs")).unwrap();
    let port = free_port();
    let mut cmd = pid1_on_host(&[
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
    let _namespace = Namespace(init);
    let url = format!("http://127.0.0.1:{port}/pulp/api/v2/status/");
    // The role from PID 1, the URL from the environment.
    let env = [("PULP_INIT_LIVE_URL", url.as_str())];
    let args = ["--start-period", "0s", "--attempt-timeout", "1s"];
    // The test httpd has no Pulp: 404 is an answer, and an answer is alive.
    let (out, _) = until(
        "live",
        Duration::from_secs(30),
        || live_in(init, &args, &env),
        |o| o.stdout.starts_with("live:"),
    );
    has(
        one_line(&out),
        &format!("live: {url} answered 404 Not Found in "),
    );

    // Hanging: the kernel still accepts connections, nothing answers.
    let pids = httpd_pids(init);
    for p in &pids {
        signal(*p, libc::SIGSTOP);
    }
    let out = live_in(init, &args, &env);
    for p in &pids {
        signal(*p, libc::SIGCONT);
    }
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    has(
        one_line(&out),
        &format!("not live: {url}: no answer in time (attempt timeout 1.0 s)"),
    );
    assert!(
        out.elapsed < Duration::from_millis(1900),
        "{:?}",
        out.elapsed
    );

    let out = live_in(init, &args, &env);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    signal(init, libc::SIGTERM);
    let (code, _, _, log) = httpd.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
}

/// A loopback HTTP server that answers every request with `status_line`.
fn answering(status_line: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ =
                conn.write_all(format!("{status_line}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
    });
    port
}

/// Outside a container (PID 1 is the host's init): the role given to `check`, the start
/// period counted from PID 1's start.
#[test]
fn a_5xx_is_not_live_and_refused_is_starting_within_the_start_period() {
    let port = answering("HTTP/1.1 503 Service Unavailable");
    let url = format!("http://127.0.0.1:{port}/pulp/api/v2/status/");
    let out = run_with(
        &[
            "check",
            "--live",
            "--role",
            "apache",
            "--url",
            &url,
            "--start-period",
            "0s",
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    has(
        one_line(&out),
        &format!("not live: {url} answered 503 Service Unavailable"),
    );

    let closed = format!("http://127.0.0.1:{}/", free_port());
    let out = run_with(
        &[
            "check",
            "--live",
            "--url",
            &closed,
            "--start-period",
            "87600h",
        ],
        &[("PULP_INIT_ROLE", "apache")],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        one_line(&out),
        &format!("starting: {closed}: connection refused (nothing listens)"),
    );
    let out = run_with(
        &[
            "check",
            "--live",
            "--role",
            "apache",
            "--url",
            &closed,
            "--start-period",
            "0s",
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);

    // No role known: a usage error, not a verdict.
    let out = run_with(&["check", "--live"], &[]);
    assert_eq!(out.code, Some(64), "{}", out.stdout);
    has(&out.stderr, "no role known");
    // --live and --storage are two different checks.
    assert_eq!(
        run_with(&["check", "--live", "--storage"], &[]).code,
        Some(64)
    );
}

#[test]
fn https_is_asked_without_verifying_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = run({
        let mut c = Command::new("openssl");
        c.args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=elsewhere",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
        c
    });
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let port = free_port();
    // `-www` answers a GET with "HTTP/1.0 200 ok" and a status page.
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://localhost:{port}/pulp/api/v2/status/");
    let (out, _) = until(
        "live over TLS",
        Duration::from_secs(10),
        || {
            run_with(
                &[
                    "check",
                    "--live",
                    "--role",
                    "apache",
                    "--url",
                    &url,
                    "--start-period",
                    "87600h",
                ],
                &[],
            )
        },
        |o| o.stdout.starts_with("live:"),
    );
    let _ = server.kill();
    let _ = server.wait();
    has(one_line(&out), &format!("live: {url} answered 200 ok in "));
}
