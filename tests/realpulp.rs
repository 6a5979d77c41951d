//! The real Pulp 2.21.5 under pulp-init, through the Compose stack (deploy/compose.yaml, the
//! test override, and one more naming the real-Pulp image): the status API, a repository
//! created and deleted by a worker's task, an upload, `docker stop` of every role, two beats,
//! and a new image started while the old workers run.
//!
//! Pulp 2 is on no package registry; its source is public (pulp/pulp 2.21.5, jortel/gofer
//! gofer-2.12.5-1, pulp/nectar python-nectar-1.6.4-1) and never part of this repository. The
//! tests run only when the three trees are named, else they pass with one printed line:
//!   PULP_INIT_REALPULP_PULP=... PULP_INIT_REALPULP_GOFER=... PULP_INIT_REALPULP_NECTAR=... \
//!     cargo test --test realpulp -- --nocapture
//! scripts/realpulp-image.sh builds the image (cached by its inputs' hash). The tests print
//! their timings; bench/README.md and NOTES-realpulp.md keep a run's figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/containers.rs"]
mod containers;

use common::{has, repo};
use containers::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Pulp's `[tasks] worker_timeout` in the shipped server.conf (commented: the default).
const WORKER_TIMEOUT: Duration = Duration::from_secs(30);
const ADMIN: &str = "YWRtaW46YWRtaW4="; // admin:admin, Pulp 2's default user

/// The three trees, when named.
fn trees() -> Option<[String; 3]> {
    let get = |what: &str| std::env::var(format!("PULP_INIT_REALPULP_{what}")).ok();
    Some([get("PULP")?, get("GOFER")?, get("NECTAR")?])
}

fn realpulp_image(extra_version: Option<&str>) -> String {
    let [pulp, gofer, nectar] = trees().unwrap();
    let mut cmd = Command::new(repo().join("scripts/realpulp-image.sh"));
    cmd.args([&pulp, &gofer, &nectar]);
    if let Some(extra) = extra_version {
        cmd.env("PULP_INIT_REALPULP_VERSION_EXTRA", extra);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "scripts/realpulp-image.sh:\n{}",
        text(&out)
    );
    let tag = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("image {tag}: {:?}", started.elapsed());
    tag
}

/// The real-Pulp image (built once per test binary), or `None` with one printed line when the
/// trees are not named. The tests run one at a time: each is a whole Pulp deployment.
fn image() -> Option<(String, std::sync::MutexGuard<'static, ()>)> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let tag = IMAGE.get_or_init(|| {
        if trees().is_none() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP tests/realpulp.rs: set PULP_INIT_REALPULP_PULP, PULP_INIT_REALPULP_GOFER and PULP_INIT_REALPULP_NECTAR to the Pulp 2.21.5, gofer and nectar source trees"
            );
            return None;
        }
        let answers = docker(&["info", "--format", "{{.ServerVersion}}"]);
        assert!(answers.status.success(), "no Docker engine answers: {}", text(&answers));
        // The base, the database and the broker of scripts/images.sh.
        if [DB, MSG].iter().any(|i| !docker(&["image", "inspect", i]).status.success()) {
            let out = Command::new(repo().join("scripts/images.sh")).output().unwrap();
            assert!(out.status.success(), "scripts/images.sh:\n{}", text(&out));
        }
        Some(realpulp_image(None))
    });
    let tag = tag.clone()?;
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Some((tag, guard))
}

macro_rules! needs_trees {
    () => {
        match image() {
            Some(found) => found,
            None => return,
        }
    };
}

/// An override that runs every Pulp role of the stack from `tag` (beat from `beat`).
fn images_override(dir: &Path, name: &str, tag: &str, beat: &str) -> PathBuf {
    let file = dir.join(name);
    let mut text = String::from("services:\n");
    for (service, image) in [
        ("beat", beat),
        ("resource_manager", tag),
        ("worker1", tag),
        ("worker2", tag),
        ("apache", tag),
    ] {
        text.push_str(&format!("  {service}:\n    image: {image}\n"));
    }
    std::fs::write(&file, text).unwrap();
    file
}

/// One HTTP/1.0 request to Pulp's API as admin; the status code and the body.
#[track_caller]
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    request(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// `http`, with the error of a server not answering yet (Docker's proxy accepts, then closes).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nAuthorization: Basic {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((code, body))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The names of the status API's `known_workers` (Pulp's `workers` collection).
fn known_workers(addr: &str) -> Option<Vec<String>> {
    let (code, body) = request(addr, "GET", "/pulp/api/v2/status/", None).ok()?;
    if code != 200 {
        return None;
    }
    let status: serde_json::Value = serde_json::from_str(&body).ok()?;
    let workers = status["known_workers"].as_array()?;
    Some(
        workers
            .iter()
            .filter_map(|w| w["_id"].as_str().or(w["name"].as_str()))
            .map(str::to_string)
            .collect(),
    )
}

/// Seconds since the epoch of an RFC 3339 UTC time as Docker writes it
/// (`2026-12-02T07:59:01.123456789Z`).
fn epoch(rfc3339: &str) -> f64 {
    let (date, time) = rfc3339.trim().split_once('T').unwrap();
    let mut d = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let time = time.trim_end_matches('Z');
    let mut t = time.split(':');
    let (h, min) = (t.next().unwrap(), t.next().unwrap());
    let sec: f64 = t.next().unwrap().parse().unwrap();
    days as f64 * 86_400.0
        + h.parse::<f64>().unwrap() * 3_600.0
        + min.parse::<f64>().unwrap() * 60.0
        + sec
}

/// When the first line of `container`'s log containing `needle` was written (epoch seconds).
fn logged_at(container: &str, needle: &str) -> Option<f64> {
    let out = text(&docker(&["logs", "-t", container]));
    out.lines()
        .find(|l| l.contains(needle))
        .map(|l| epoch(l.split_whitespace().next().unwrap()))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn hostname(container: &str) -> String {
    inspect(container, "{{.Config.Hostname}}")
}

fn service_ids(stack: &Compose, service: &str) -> Vec<String> {
    stack
        .ok(&["ps", "-q", service])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A started stack: its containers by service, apache's address.
struct Stack {
    compose: Compose,
    addr: String,
}

impl Stack {
    fn one(&self, service: &str) -> String {
        let ids = service_ids(&self.compose, service);
        assert_eq!(ids.len(), 1, "{service}: {ids:?}");
        ids.into_iter().next().unwrap()
    }
}

/// `compose up -d ARGS` with the image override; waits until the status API lists every
/// Celery process of the stack.
fn up(scope: &Scope, project: &str, file: &Path, args: &[&str]) -> Stack {
    let compose = scope.compose(project).with_file(file);
    std::fs::write(&compose.secret, "realpulp\n").unwrap();
    let started = Instant::now();
    let mut all = vec!["up", "-d"];
    all.extend_from_slice(args);
    compose.ok(&all);
    let apache = service_ids(&compose, "apache").remove(0);
    let addr = ok(&["port", &apache, "80/tcp"])
        .lines()
        .next()
        .unwrap()
        .to_string();
    let stack = Stack { compose, addr };
    let expected = expected_workers(&stack);
    wait_until(
        Duration::from_secs(400),
        || {
            format!(
                "not every process in the status API (expected {expected:?}, listed {:?}):\n{}",
                known_workers(&stack.addr),
                stack.compose.ok(&["logs", "--no-color", "--tail", "60"])
            )
        },
        || known_workers(&stack.addr).is_some_and(|k| expected.iter().all(|e| k.contains(e))),
    );
    println!(
        "{project}: compose up to every process in the status API: {:?}",
        started.elapsed()
    );
    stack
}

/// The `workers` records the stack's Celery processes write: `scheduler@<host>`,
/// `resource_manager@<host>`, `reserved_resource_worker-<N>@<host>`.
fn expected_workers(stack: &Stack) -> Vec<String> {
    let mut names = vec![];
    for c in service_ids(&stack.compose, "beat") {
        names.push(format!("scheduler@{}", hostname(&c)));
    }
    for c in service_ids(&stack.compose, "resource_manager") {
        names.push(format!("resource_manager@{}", hostname(&c)));
    }
    for (service, n) in [("worker1", 1), ("worker2", 2)] {
        for c in service_ids(&stack.compose, service) {
            names.push(format!("reserved_resource_worker-{n}@{}", hostname(&c)));
        }
    }
    names
}

fn no_restarts(stack: &Stack) {
    for c in stack.compose.containers() {
        let state = inspect(&c, "{{.Name}} {{.RestartCount}}");
        assert!(state.ends_with(" 0"), "{state}:\n{}", logs(&c));
    }
}

/// pulp-init's migration runs in these containers' logs: (containers that ran it, runs).
fn migration_runs(containers: &[String]) -> (usize, usize) {
    let runs: Vec<usize> = containers
        .iter()
        .map(|c| logs(c).matches("migrations: running ").count())
        .collect();
    (runs.iter().filter(|n| **n > 0).count(), runs.iter().sum())
}

#[test]
fn two_beats_migrate_once_and_the_api_lists_every_process_creates_deletes_uploads_and_stops() {
    let (tag, _one) = needs_trees!();
    let t0 = Instant::now();
    let scope = Scope::new("real");
    let dir = tempfile::tempdir().unwrap();
    let file = images_override(dir.path(), "realpulp.yaml", &tag, &tag);
    // (e) Two beats started together on a fresh database: one migrates.
    let stack = up(&scope, "stack", &file, &["--scale", "beat=2"]);
    let beats = service_ids(&stack.compose, "beat");
    assert_eq!(beats.len(), 2);
    let (ran, runs) = migration_runs(&beats);
    let shown = || format!("{}\n---\n{}", logs(&beats[0]), logs(&beats[1]));
    assert_eq!((ran, runs), (1, 1), "{}", shown());
    let migrated = beats
        .iter()
        .find(|c| logs(c).contains("migrations: running "))
        .unwrap();
    has(&logs(migrated), "migrations: done in ");
    // pulp-manage-db's own lines in that beat's log only (a fresh database is
    // "fast-forwarded", not migrated step by step).
    for c in &beats {
        assert_eq!(
            logs(c).contains("Beginning database migrations."),
            c == migrated,
            "{}",
            shown()
        );
    }
    for (i, c) in beats.iter().enumerate() {
        for line in logs(c).lines().filter(|l| l.contains("migrations: ")) {
            println!("beat {}: {line}", i + 1);
        }
    }

    // (a) The status API lists every process (up() waited for it); show them.
    let listed = known_workers(&stack.addr).unwrap();
    println!("status API: {} processes: {listed:?}", listed.len());
    assert_eq!(listed.len(), 5, "{listed:?}"); // 2 schedulers, resource manager, 2 workers

    // (a') Liveness as the real processes show it: each Celery process's own record in
    // `workers` (named as Celery and Pulp's scheduler name it), httpd's status URL.
    for service in ["beat", "resource_manager", "worker1", "worker2", "apache"] {
        for c in service_ids(&stack.compose, service) {
            let out = docker(&["exec", &c, "/usr/bin/pulp-init", "check", "--live"]);
            let line = text(&out);
            println!("{service}: check --live: {}", line.trim());
            assert_eq!(out.status.code(), Some(0), "{service}: {line}");
            let host = hostname(&c);
            let want = match service {
                "beat" => format!("live: scheduler@{host} heartbeat "),
                "resource_manager" => format!("live: resource_manager@{host} heartbeat "),
                "worker1" => format!("live: reserved_resource_worker-1@{host} heartbeat "),
                "worker2" => format!("live: reserved_resource_worker-2@{host} heartbeat "),
                _ => "live: ".to_string(),
            };
            has(&line, &want);
        }
    }
    // Every pod's presence record (httpd's too), with the image's fingerprint.
    let pods = ok(&[
        "exec",
        &stack.one("db"),
        "/opt/venv/bin/python3",
        "-c",
        "import pymongo; c = pymongo.MongoClient(); print(c.pulp_database.pulp_init.count_documents({'_id': {'$regex': '^pod:'}}))",
    ]);
    println!("presence records: {}", pods.trim());
    assert_eq!(
        pods.trim(),
        "6",
        "one per pod: 2 beats, resource manager, 2 workers, httpd"
    );

    // (b) A repository created and deleted: the delete is a task the workers run.
    let repo_id = format!("r{}", std::process::id());
    let started = Instant::now();
    let (code, body) = http(
        &stack.addr,
        "POST",
        "/pulp/api/v2/repositories/",
        Some(&format!(
            r#"{{"id": "{repo_id}", "display_name": "pulp-init test"}}"#
        )),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = http(
        &stack.addr,
        "GET",
        &format!("/pulp/api/v2/repositories/{repo_id}/"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(
        &stack.addr,
        "DELETE",
        &format!("/pulp/api/v2/repositories/{repo_id}/"),
        None,
    );
    assert_eq!(code, 202, "{body}");
    let task = json(&body)["spawned_tasks"][0]["_href"]
        .as_str()
        .unwrap()
        .to_string();
    let state = std::cell::RefCell::new(String::new());
    wait_until(
        Duration::from_secs(120),
        || format!("task {task}: {}", state.borrow()),
        || {
            let (_, body) = http(&stack.addr, "GET", &task, None);
            let t = json(&body);
            let s = t["state"].as_str().unwrap_or("").to_string();
            assert!(
                !["error", "canceled"].contains(&s.as_str()),
                "task {task}: {body}"
            );
            if s == "finished" {
                let worker = t["worker_name"].as_str().unwrap_or("").to_string();
                println!("repository deleted by {worker}");
                assert!(worker.starts_with("reserved_resource_worker-"), "{body}");
            }
            let finished = s == "finished";
            *state.borrow_mut() = s;
            finished
        },
    );
    let (code, _) = http(
        &stack.addr,
        "GET",
        &format!("/pulp/api/v2/repositories/{repo_id}/"),
        None,
    );
    assert_eq!(code, 404);
    println!(
        "repository created, deleted, task finished: {:?}",
        started.elapsed()
    );

    // (c) An upload request: httpd's wsgi process writes /var/lib/pulp/uploads as apache.
    let (code, body) = http(
        &stack.addr,
        "POST",
        "/pulp/api/v2/content/uploads/",
        Some("{}"),
    );
    assert_eq!(code, 201, "{body}");
    let upload = json(&body)["upload_id"].as_str().unwrap().to_string();
    let apache = stack.one("apache");
    assert_eq!(
        stat(&apache, "%U", &[&format!("/var/lib/pulp/uploads/{upload}")]),
        "apache"
    );
    println!("upload {upload}: written by apache");

    // Keys (issue 17): the set the first pod made at start. `login` returns a user
    // certificate signed by the deployment's CA; consumers fetch rsa_pub.key from /pulp/static.
    let (code, body) = http(&stack.addr, "POST", "/pulp/api/v2/actions/login/", None);
    assert_eq!(code, 200, "{body}");
    let pki = tempfile::tempdir().unwrap();
    let certificate = pki.path().join("user.crt");
    std::fs::write(&certificate, json(&body)["certificate"].as_str().unwrap()).unwrap();
    ok(&[
        "cp",
        &format!("{apache}:/etc/pki/pulp/ca.crt"),
        pki.path().join("ca.crt").to_str().unwrap(),
    ]);
    let verified = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "ca.crt", "user.crt"])
        .current_dir(pki.path())
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let (code, served) = http(&stack.addr, "GET", "/pulp/static/rsa_pub.key", None);
    assert_eq!(code, 200, "{served}");
    assert_eq!(
        served.trim(),
        ok(&["exec", &apache, "cat", "/etc/pki/pulp/rsa_pub.key"]).trim()
    );
    println!(
        "login: a user certificate that verifies against the deployment's CA; rsa_pub.key served"
    );

    // (d) docker stop of every role: its stop signal in Pulp's own log, its record gone.
    // Celery's own shutdown line for the signal pulp-init forwarded (SIGTERM: warm, SIGQUIT:
    // cold) and Pulp's: each Celery process runs Pulp's `_delete_worker` ("Cleaning up
    // shutdown worker") once at start and again when it stops; beat's scheduler says
    // "Worker '<name>' shutdown" first.
    let cases: [(&str, &str, &[&str]); 4] = [
        ("beat", "scheduler", &["Worker 'scheduler@"]),
        (
            "resource_manager",
            "resource_manager",
            &["worker: Warm shutdown (MainProcess)"],
        ),
        (
            "worker1",
            "reserved_resource_worker-1",
            &[" as SIGQUIT", "worker: Cold shutdown (MainProcess)"],
        ),
        (
            "worker2",
            "reserved_resource_worker-2",
            &[" as SIGQUIT", "worker: Cold shutdown (MainProcess)"],
        ),
    ];
    for (service, record, signs) in cases {
        let c = service_ids(&stack.compose, service).remove(0);
        let name = format!("{record}@{}", hostname(&c));
        let cleaned = format!("Cleaning up shutdown worker '{name}'");
        let before = logs(&c).matches(&cleaned).count();
        let (took, code) = stop(&c, 60);
        let shown = logs(&c);
        assert_eq!(code, 0, "{service}: exit {code}:\n{shown}");
        for s in signs {
            has(&shown, s);
        }
        // Beat's scheduler closes twice: two lines.
        assert!(shown.matches(&cleaned).count() > before, "{shown}");
        let listed = known_workers(&stack.addr).unwrap();
        assert!(!listed.contains(&name), "{name} still in {listed:?}");
        println!("{service}: docker stop {took:?}, exit 0, record {name} gone");
    }
    let (took, code) = stop(&apache, 30);
    let shown = logs(&apache);
    assert_eq!(code, 0, "apache: exit {code}:\n{shown}");
    has(&shown, " as SIGWINCH");
    has(&shown, "caught SIGWINCH, shutting down gracefully");
    println!("apache: docker stop {took:?}, exit 0");
    no_restarts(&stack);
    println!("test: {:?}", t0.elapsed());
}

#[test]
fn a_new_image_started_while_the_old_pods_run_migrates_once_after_they_stop() {
    let (tag, _one) = needs_trees!();
    let t0 = Instant::now();
    let scope = Scope::new("upgrade");
    let dir = tempfile::tempdir().unwrap();
    let old = images_override(dir.path(), "old.yaml", &tag, &tag);
    let stack = up(&scope, "stack", &old, &[]);
    let first = stack.one("beat");
    assert_eq!(migration_runs(std::slice::from_ref(&first)), (1, 1));

    // The same Pulp with another version file: an upgrade's new image.
    let new = realpulp_image(Some("upgrade test"));
    assert_ne!(new, tag);
    let file = images_override(dir.path(), "new.yaml", &tag, &new);
    let upgraded = scope.compose("stack").with_file(&file);
    std::fs::write(&upgraded.secret, "realpulp\n").unwrap();
    // Compose replaces the beat (SIGTERM: its record goes); the old workers and httpd stay.
    upgraded.ok(&["up", "-d", "--no-deps", "beat"]);
    let beat = stack.one("beat");
    assert_ne!(beat, first);
    logs_show(
        &beat,
        "migrations: waiting: Pulp processes of the previous deployment are online",
        Duration::from_secs(120),
    );
    let old_ones: Vec<String> = ["resource_manager", "worker1", "worker2", "apache"]
        .iter()
        .map(|s| stack.one(s))
        .collect();
    // Still waiting while they run; httpd (no record in Pulp's workers) by its presence.
    logs_show(
        &beat,
        &format!("apache on {} (image ", hostname(&stack.one("apache"))),
        Duration::from_secs(60),
    );
    assert!(
        !logs(&beat).contains("migrations: running "),
        "{}",
        logs(&beat)
    );
    let mut last_stop = 0.0_f64;
    for c in &old_ones {
        let (took, code) = stop(c, 60);
        assert_eq!(code, 0, "{}", logs(c));
        let finished = epoch(&inspect(c, "{{.State.FinishedAt}}"));
        last_stop = last_stop.max(finished);
        println!("old {}: docker stop {took:?}", inspect(c, "{{.Name}}"));
    }
    let stopped_at = now();
    logs_show(&beat, "migrations: done in ", Duration::from_secs(120));
    let began = logged_at(&beat, "migrations: running ").unwrap();
    let after = began - last_stop;
    println!(
        "migration began {after:.3} s after the last old pod's process ended (httpd included; docker stop returned {:.3} s after it)",
        stopped_at - last_stop
    );
    assert!(
        after <= (WORKER_TIMEOUT + Duration::from_secs(2)).as_secs_f64(),
        "{after:.3} s:\n{}",
        logs(&beat)
    );
    assert_eq!(migration_runs(std::slice::from_ref(&beat)), (1, 1));
    for line in logs(&beat).lines().filter(|l| l.contains("migrations: ")) {
        println!("new beat: {line}");
    }
    no_restarts(&stack);
    println!("test: {:?}", t0.elapsed());
}
