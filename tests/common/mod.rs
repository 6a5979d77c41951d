//! Real services for the tests, started on free loopback ports and stopped by PID when
//! the guard drops: SecantusDB (MongoDB wire protocol) and a private RabbitMQ node.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pulp-init");

/// Asserts that `text` (a log, an output) contains `needle`, showing all of it if not.
#[track_caller]
pub fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "no {needle:?} in:\n{text}");
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script(name: &str, args: &[&str]) -> Output {
    let out = Command::new(repo().join("scripts").join(name))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/{name} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct Mongo {
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Mongo {
    pub fn start() -> Mongo {
        Self::start_on(free_port(), None)
    }

    /// With `--auth` and one user (readWrite on `db`).
    pub fn start_with_user(user: &str, password: &str, db: &str) -> Mongo {
        Self::start_on(free_port(), Some((user, password, db)))
    }

    pub fn start_on(port: u16, auth: Option<(&str, &str, &str)>) -> Mongo {
        Self::start_with(port, auth, &[])
    }

    /// With TLS: the server's certificate chain and key (PEM files).
    pub fn start_tls(cert: &Path, key: &Path) -> Mongo {
        let args = [
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
        ];
        Self::start_with(free_port(), None, &args)
    }

    fn start_with(port: u16, auth: Option<(&str, &str, &str)>, extra: &[&str]) -> Mongo {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        let p = port.to_string();
        let mut args = vec!["start", d.as_str(), p.as_str()];
        if let Some((u, pw, db)) = auth {
            args.extend(["--auth", u, pw, db]);
        }
        if !extra.is_empty() {
            args.push("--");
            args.extend_from_slice(extra);
        }
        script("mongo.sh", &args);
        Mongo { port, dir }
    }
}

impl Mongo {
    /// The server's pid (to freeze it with SIGSTOP).
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        stop("mongo.sh", &self.dir);
    }
}

/// Stops what `scripts/NAME start DIR` started, by its pid file in DIR.
fn stop(name: &str, dir: &tempfile::TempDir) {
    let _ = Command::new(repo().join("scripts").join(name))
        .args(["stop", dir.path().to_str().unwrap()])
        .output();
}

pub struct Rabbit {
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Rabbit {
    pub fn start() -> Rabbit {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        script(
            "rabbitmq.sh",
            &["start", dir.path().to_str().unwrap(), &port.to_string()],
        );
        Rabbit { port, dir }
    }

    pub fn add_user(&self, user: &str, password: &str, vhost: &str) {
        script(
            "rabbitmq.sh",
            &[
                "adduser",
                self.dir.path().to_str().unwrap(),
                user,
                password,
                vhost,
            ],
        );
    }

    pub fn queues(&self, vhost: &str) -> Vec<String> {
        let out = script(
            "rabbitmq.sh",
            &["queues", self.dir.path().to_str().unwrap(), vhost],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        stop("rabbitmq.sh", &self.dir);
    }
}

/// A loopback listener that accepts connections and never answers.
pub struct BlackHole {
    pub port: u16,
    _thread: std::thread::JoinHandle<()>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => held.push(c),
                    Err(_) => break,
                }
            }
        });
        BlackHole {
            port,
            _thread: thread,
        }
    }
}

/// A loopback listener that answers an AMQP protocol header with RabbitMQ's (0-9-1), as
/// a broker does to a header it does not speak; enough for the `qpid://` probe.
pub struct AmqpHeaderResponder {
    pub port: u16,
}

impl AmqpHeaderResponder {
    pub fn start() -> AmqpHeaderResponder {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut header = [0u8; 8];
                if conn.read_exact(&mut header).is_ok() {
                    let _ = conn.write_all(b"AMQP\x00\x00\x09\x01");
                }
            }
        });
        AmqpHeaderResponder { port }
    }
}

/// A server.conf in a temp dir.
pub struct Conf {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Conf {
    pub fn new(text: &str) -> Conf {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, text).unwrap();
        Conf { dir, path }
    }

    pub fn with(seeds: &str, broker_url: &str, extra_db: &str) -> Conf {
        Conf::new(&format!(
            "[database]\nseeds: {seeds}\n{extra_db}\n[tasks]\nbroker_url: {broker_url}\n"
        ))
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Readable by every user (its directory 0755), as /etc/pulp/server.conf is to the
    /// service user that reads it (pulp-manage-db, its stand-in).
    pub fn readable(self) -> Conf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        self
    }
}

/// Off in every test but tests/logs.rs, tests/storage.rs and tests/keys.rs, which turn them
/// on in private namespaces or directories: the /dev/log relay would bind the host's
/// /dev/log, the storage phase would create Pulp's directories on the host, and the keys
/// phase would look for (or make) keys in the host's /etc/pki.
pub const HOST_SAFE: [(&str, &str); 3] = [
    ("PULP_INIT_SYSLOG", "off"),
    ("PULP_INIT_SKIP_STORAGE", "true"),
    ("PULP_INIT_SKIP_KEYS", "true"),
];

/// pulp-init with a clean environment (PATH kept).
pub fn pulp_init(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(HOST_SAFE);
    c
}

pub struct Finished {
    pub code: Option<i32>,
    pub stderr: String,
    pub stdout: String,
    pub elapsed: Duration,
}

pub fn run(mut cmd: Command) -> Finished {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    Finished {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        elapsed: started.elapsed(),
    }
}

impl Finished {
    /// Asserts exit 0, showing stderr if not.
    #[track_caller]
    pub fn ok(self) -> Finished {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        self
    }
}

/// Runs pulp-init with exactly `env` (plus PATH).
pub fn run_with(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut cmd = pulp_init(args);
    cmd.envs(env.iter().copied());
    run(cmd)
}

/// `pulp-init config --conf CONF` with exactly `env` (plus PATH).
pub fn config(conf: &Path, env: &[(&str, &str)]) -> Finished {
    run_with(&["config", "--conf", conf.to_str().unwrap()], env)
}

/// A server.conf holding `text` in a directory of its own, removed on drop.
pub fn scratch(text: &str) -> Conf {
    Conf::new(text)
}

/// Runs `script` ($1.. = args) as root in a private mount namespace, with exactly `env`
/// (plus PATH).
pub fn in_mount_namespace(script: &str, args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-euc",
        script,
        "sh",
    ])
    .args(args)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    // The keys phase would look in the host's /etc/pki (tests/keys.rs covers it).
    .env("PULP_INIT_SKIP_KEYS", "true")
    .envs(env.iter().copied());
    run(cmd)
}

/// Holds an exclusive lock on `path` (as a concurrent `pulp-init config` would) until
/// the returned child's stdin is closed.
pub fn hold_lock(path: &std::path::Path) -> Child {
    let mut holder = Command::new("flock")
        .args([path.to_str().unwrap(), "-c", "echo locked; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "locked\n");
    holder
}

/// Starts `cmd` with stdout and stderr collected on threads.
pub struct Running {
    pub child: Child,
    pub started: Instant,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

fn collect(
    mut pipe: impl std::io::Read + Send + 'static,
) -> (
    std::sync::Arc<std::sync::Mutex<String>>,
    std::thread::JoinHandle<()>,
) {
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, reader)
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let (stderr, reader) = collect(child.stderr.take().unwrap());
        let (stdout, _) = collect(child.stdout.take().unwrap());
        Running {
            child,
            started,
            stderr,
            stdout,
            reader,
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr (or stdout) contains `text`, or panics at the deadline.
    pub fn wait_for_stderr(&self, text: &str, deadline: Duration) {
        let until = Instant::now() + deadline;
        while !self.stderr().contains(text) && !self.stdout().contains(text) {
            assert!(Instant::now() < until, "no {text:?} in:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for exit (kills at the deadline and panics); the output is stderr then stdout.
    pub fn finish(mut self, deadline: Duration) -> (Option<i32>, Option<i32>, Duration, String) {
        use std::os::unix::process::ExitStatusExt;
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let elapsed = self.started.elapsed();
                // The reader ends at EOF, once every holder of the pipe is gone.
                let drained = Instant::now() + Duration::from_secs(2);
                while !self.reader.is_finished() && Instant::now() < drained {
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Both streams: services differ in where they log.
                return (
                    status.code(),
                    status.signal(),
                    elapsed,
                    self.stderr() + &self.stdout(),
                );
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("did not exit within {deadline:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `unshare --pid --fork --mount-proc pulp-init ARGS`: pulp-init is PID 1 inside, with a
/// clean environment (PATH kept).
pub fn as_pid1(args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child", BIN])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(HOST_SAFE);
    c
}

/// The host pid of the first child of `parent` (pulp-init, for an `unshare` parent), once
/// it exists.
pub fn init_pid(parent: u32) -> i32 {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = kids.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < until, "pulp-init did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Python 2.7, the judge of what Pulp 2 reads from server.conf: `PULP_INIT_PYTHON2`, else
/// pyenv's 2.7.x, else `python2` on PATH.
pub fn python2() -> Option<PathBuf> {
    let works = |p: &Path| {
        Command::new(p)
            .args([
                "-c",
                "import sys, ConfigParser; sys.exit(sys.version_info[0] != 2)",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(p) = std::env::var_os("PULP_INIT_PYTHON2").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            works(&p),
            "PULP_INIT_PYTHON2={p:?} is not a working Python 2.7"
        );
        return Some(p);
    }
    let mut candidates = Vec::new();
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| {
            let out = Command::new("pyenv").arg("root").output().ok()?;
            let root = String::from_utf8(out.stdout).ok()?;
            out.status.success().then(|| PathBuf::from(root.trim_end()))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Some(root) = pyenv_root {
        candidates.push(root.join("versions/2.7.18/bin/python"));
        if let Ok(dir) = std::fs::read_dir(root.join("versions")) {
            let mut more: Vec<PathBuf> = dir
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("2.7"))
                .map(|e| e.path().join("bin/python"))
                .collect();
            more.sort();
            candidates.extend(more.into_iter().rev());
        }
    }
    candidates.push("python2".into());
    candidates.push("python2.7".into());
    candidates.into_iter().find(|p| works(p))
}

pub fn python() -> String {
    let venv = std::env::var("PULP_INIT_VENV").unwrap_or_else(|_| "/opt/pulp-init-venv".into());
    format!("{venv}/bin/python")
}

pub fn program() -> String {
    repo()
        .join("tests/apps/migrate.py")
        .to_str()
        .unwrap()
        .to_string()
}

/// The pulp-manage-db stand-in as a command line: Debian's python3 with the test venv's
/// packages (the venv's own interpreter lies under /root, which the migration user, as
/// pulp-manage-db refuses root, cannot reach).
pub fn migrate_command() -> String {
    format!("/usr/bin/python3 {}", program())
}

/// Who runs the stand-in: like pulp-manage-db, it refuses root (exit 64).
pub const MIGRATE_USER: &str = "nobody";

/// The environment the stand-in needs beside `TEST_MONGO_URL`: its packages, and the
/// server.conf it reads as pulp-manage-db reads /etc/pulp/server.conf.
pub fn migrate_env(conf: &Conf) -> [(&'static str, String); 2] {
    let venv = std::env::var("PULP_INIT_VENV").unwrap_or_else(|_| "/opt/pulp-init-venv".into());
    [
        ("PYTHONPATH", format!("{venv}/lib/python3.11/site-packages")),
        ("PULP_SERVER_CONF", conf.arg().to_string()),
    ]
}

/// A SecantusDB with a server.conf pointing at it (`log_type: console`: the host tests have
/// no /dev/log, and pulp-manage-db exits 69 without it under syslog), and the
/// pulp-manage-db stand-in.
pub struct Db {
    pub mongo: Mongo,
    pub conf: Conf,
}

impl Db {
    pub fn new() -> Db {
        Db::with_conf("")
    }

    /// With `extra` appended to server.conf.
    pub fn with_conf(extra: &str) -> Db {
        Db::with_raw_conf(&format!("[server]\nlog_type: console\n{extra}"))
    }

    /// Only `[database] seeds` and `extra` in server.conf (Pulp logs to syslog).
    pub fn with_raw_conf(extra: &str) -> Db {
        let mongo = Mongo::start();
        let conf = Conf::new(&format!(
            "[database]\nseeds: 127.0.0.1:{}\n{extra}",
            mongo.port
        ))
        .readable();
        Db { mongo, conf }
    }

    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.mongo.port)
    }

    /// A worker role at the schema gate, of image `fingerprint` (none: no
    /// `PULP_INIT_MIGRATION_FINGERPRINT`), the stand-in its migration command; its service
    /// is `true`.
    pub fn gated_worker(&self, fingerprint: &str, extra: &[&str]) -> Command {
        let command = migrate_command();
        let mut args = vec![
            "--role",
            "worker",
            "--conf",
            self.conf.arg(),
            "--user",
            MIGRATE_USER,
            "--skip-config",
            "--skip-wait",
            "--migrate-command",
            &command,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true"]);
        let mut c = pulp_init(&args);
        c.env("TEST_MONGO_URL", self.url())
            .envs(migrate_env(&self.conf));
        if !fingerprint.is_empty() {
            c.env("PULP_INIT_MIGRATION_FINGERPRINT", fingerprint);
        }
        c
    }

    /// A Pulp process `name` heartbeating (every 0.1 s) for `seconds`, once its record is
    /// there; its stdout, at the end, is its last heartbeat (epoch seconds).
    pub fn heartbeat(&self, name: &str, seconds: u32) -> Child {
        let child = Command::new(python())
            .args([&program(), "heartbeat", name, &seconds.to_string()])
            .env("TEST_MONGO_URL", self.url())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while self.query_args(&["online"]) == "0" {
            assert!(Instant::now() < until, "no heartbeat");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// `pulp-init migrate` with the stand-in, as `MIGRATE_USER`, and `env`.
    pub fn migrate(&self, extra: &[&str], env: &[(&str, &str)]) -> Command {
        let command = migrate_command();
        let mut args = vec![
            "migrate",
            "--conf",
            self.conf.arg(),
            "--user",
            MIGRATE_USER,
            "--migrate-command",
            &command,
        ];
        args.extend_from_slice(extra);
        let mut c = pulp_init(&args);
        c.env("TEST_MONGO_URL", self.url())
            .envs(migrate_env(&self.conf))
            .env("PULP_INIT_MIGRATION_FINGERPRINT", "pulp-2.21.5-1")
            .envs(env.iter().copied());
        c
    }

    pub fn query(&self, what: &str) -> String {
        self.query_args(&[what])
    }

    /// What the stand-in prints for `args` (see tests/apps/migrate.py).
    pub fn query_args(&self, args: &[&str]) -> String {
        let mut query = Command::new(python());
        query
            .arg(program())
            .args(args)
            .env("TEST_MONGO_URL", self.url());
        run(query).ok().stdout.trim().to_string()
    }

    /// (started, finished) migration runs.
    pub fn runs(&self) -> (u32, u32) {
        let text = self.query("runs");
        let (a, b) = text.split_once(' ').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }
}
