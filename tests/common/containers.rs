//! Docker helpers of the container tests (tests/docker.rs, tests/realpulp.rs): `docker` and
//! Compose commands, waits on a condition with a deadline, and a scope that names every object
//! a test creates and removes them when it ends. Included with `#[path]` next to `mod common`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::repo;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const DB: &str = "pulp-init-test/db:latest";
pub const MSG: &str = "pulp-init-test/msg:latest";

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `docker ARGS`, which must succeed; its stdout, trimmed.
#[track_caller]
pub fn ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `cond` every 100 ms until it holds; panics with `what()` at the deadline.
#[track_caller]
pub fn wait_until(deadline: Duration, what: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !cond() {
        assert!(
            Instant::now() < until,
            "not within {deadline:?}: {}",
            what()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks `cond` every 100 ms for all of `period`; panics with `what()` when it fails.
#[track_caller]
pub fn holds_for(period: Duration, what: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        assert!(cond(), "no longer true: {}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Names for one test's objects, and their removal when the test ends.
pub struct Scope {
    pub prefix: String,
    containers: std::cell::RefCell<Vec<String>>,
    networks: std::cell::RefCell<Vec<String>>,
    projects: std::cell::RefCell<Vec<String>>,
    images: std::cell::RefCell<Vec<String>>,
}

impl Scope {
    pub fn new(test: &str) -> Scope {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        Scope {
            prefix: format!("pit{}-{n}-{test}", std::process::id()),
            containers: Default::default(),
            networks: Default::default(),
            projects: Default::default(),
            images: Default::default(),
        }
    }

    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    pub fn network(&self) -> String {
        let net = self.name("net");
        ok(&["network", "create", &net]);
        self.networks.borrow_mut().push(net.clone());
        net
    }

    /// `docker run -d --name PREFIX-NAME ARGS`; the container's name.
    pub fn run(&self, name: &str, args: &[&str]) -> String {
        let full = self.name(name);
        self.containers.borrow_mut().push(full.clone());
        let mut all = vec!["run", "-d", "--name", full.as_str()];
        all.extend_from_slice(args);
        ok(&all);
        full
    }

    /// A created (not started) container, e.g. a data container for `--volumes-from`.
    pub fn create(&self, name: &str, args: &[&str]) -> String {
        let full = self.name(name);
        self.containers.borrow_mut().push(full.clone());
        let mut all = vec!["create", "--name", full.as_str()];
        all.extend_from_slice(args);
        ok(&all);
        full
    }

    /// A database and a broker on a new network, starting (pulp-init waits for them, as it
    /// does in a real deployment); the network's name.
    pub fn services(&self) -> String {
        let net = self.network();
        self.run("db", &["--network", &net, "--network-alias", "db", DB]);
        self.run("msg", &["--network", &net, "--network-alias", "msg", MSG]);
        net
    }

    /// An image built `FROM base` with `version` as its /etc/pulp-init/version (another
    /// fingerprint: what a new release of the same image is to pulp-init); its tag, removed
    /// when the scope ends.
    pub fn image_with_version(&self, name: &str, base: &str, version: &str) -> String {
        let tag = format!("pulp-init-test/{}:latest", self.name(name).to_lowercase());
        self.images.borrow_mut().push(tag.clone());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("version"), format!("{version}\n")).unwrap();
        std::fs::write(
            dir.path().join("Containerfile"),
            format!("FROM {base}\nCOPY version /etc/pulp-init/version\n"),
        )
        .unwrap();
        // The classic builder's step container would leave the image's anonymous volumes.
        let before = volumes();
        let out = Command::new("docker")
            .args([
                "build",
                "-q",
                "--force-rm",
                "-f",
                "Containerfile",
                "-t",
                &tag,
                ".",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        for v in volumes().difference(&before) {
            let _ = docker(&["volume", "rm", v]);
        }
        assert!(out.status.success(), "docker build {tag}:\n{}", text(&out));
        tag
    }

    pub fn compose(&self, project: &str) -> Compose {
        let name = self.name(project).to_lowercase().replace(['-', '_'], "");
        self.projects.borrow_mut().push(name.clone());
        Compose::new(name)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Last first: a later project may use an earlier one's network and volumes.
        for project in self.projects.borrow().iter().rev() {
            let _ = Compose::new(project.clone())
                .cmd(&["down", "-v", "--remove-orphans", "-t", "1"])
                .output();
        }
        for c in self.containers.borrow().iter().rev() {
            let _ = docker(&["rm", "-f", "-v", c]);
        }
        for n in self.networks.borrow().iter() {
            let _ = docker(&["network", "rm", n]);
        }
        for i in self.images.borrow().iter() {
            let _ = docker(&["image", "rm", "-f", i]);
        }
    }
}

/// The names of the engine's volumes.
pub fn volumes() -> std::collections::BTreeSet<String> {
    text(&docker(&["volume", "ls", "-q"]))
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn inspect(container: &str, format: &str) -> String {
    ok(&["inspect", "-f", format, container])
}

/// What `docker logs` shows: stdout and stderr.
pub fn logs(container: &str) -> String {
    text(&docker(&["logs", container]))
}

#[track_caller]
pub fn logs_show(container: &str, needle: &str, deadline: Duration) {
    wait_until(
        deadline,
        || {
            format!(
                "no {needle:?} in the logs of {container}:\n{}",
                logs(container)
            )
        },
        || logs(container).contains(needle),
    );
}

pub fn running(container: &str) -> bool {
    inspect(container, "{{.State.Running}}") == "true"
}

/// `stat -c FORMAT PATHS…` in `container` (e.g. `%U:%G`: who owns them).
pub fn stat(container: &str, format: &str, paths: &[&str]) -> String {
    let mut args = vec!["exec", container, "stat", "-c", format];
    args.extend_from_slice(paths);
    ok(&args)
}

/// `docker stop -t TIMEOUT`; the time it took, and the container's exit code.
pub fn stop(container: &str, timeout: u32) -> (Duration, i32) {
    let started = Instant::now();
    ok(&["stop", "-t", &timeout.to_string(), container]);
    let took = started.elapsed();
    let code = inspect(container, "{{.State.ExitCode}}").parse().unwrap();
    (took, code)
}

/// A plain HTTP/1.0 GET; the whole response.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A Compose project of deploy/compose.yaml with the test override (and any more).
pub struct Compose {
    pub project: String,
    pub secret: std::path::PathBuf,
    files: Vec<std::path::PathBuf>,
    env: Vec<(String, String)>,
}

impl Compose {
    pub fn new(project: String) -> Compose {
        let secret = std::env::temp_dir().join(format!("{project}-msg-password"));
        Compose {
            project,
            secret,
            files: vec![
                "deploy/compose.yaml".into(),
                "deploy/compose.test.yaml".into(),
            ],
            env: vec![],
        }
    }

    /// One more override file for every later command (as `with_file`).
    pub fn add_file(&mut self, file: &std::path::Path) {
        self.files.push(file.to_path_buf());
    }

    /// An environment variable of every later Compose command (e.g. PULP_TEST_ROLE_IMAGE,
    /// or PULP_HTTP_PORT to publish on a fixed port); set again, it replaces the value.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    /// One more override file, after the test override.
    pub fn with_file(mut self, file: &std::path::Path) -> Compose {
        self.files.push(file.to_path_buf());
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(compose_program());
        for file in &self.files {
            c.arg("-f").arg(file);
        }
        c.args(["-p", self.project.as_str()])
            .args(args)
            .current_dir(repo())
            .env("PULP_MSG_PASSWORD_FILE", &self.secret)
            .env("PULP_HTTP_PORT", "127.0.0.1:0")
            .env("PULP_HTTPS_PORT", "127.0.0.1:0")
            .envs(self.env.iter().map(|(n, v)| (n, v)));
        c
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "compose {args:?}:\n{}", text(&out));
        text(&out)
    }

    pub fn containers(&self) -> Vec<String> {
        self.ok(&["ps", "-a", "-q"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.secret);
    }
}

/// `docker-compose` (Compose v1), else `docker compose` is not supported here: the command
/// line differs; the CI machines have v1.
pub fn compose_program() -> &'static str {
    "docker-compose"
}

/// The engine answers and the test images are built (once per test binary). `false`, with
/// one printed line naming `test_file`, when there is no engine.
pub fn engine_for(test_file: &str) -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        let answers = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !answers {
            // Straight to stderr: the test harness captures println!.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test_file}: no Docker engine answers (`docker info` failed)"
            );
            return false;
        }
        let out = Command::new(repo().join("scripts/images.sh"))
            .output()
            .unwrap();
        assert!(out.status.success(), "scripts/images.sh:\n{}", text(&out));
        true
    })
}
