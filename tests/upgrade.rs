//! The rolling upgrade an operator runs, end to end, on the Compose stack of the stand-in
//! images (deploy/compose.yaml + deploy/compose.test.yaml): v1 up and busy (heartbeats, a
//! task running), then `docker-compose up -d` with v2 (the same image with another
//! /etc/pulp-init/version: another fingerprint), which recreates every role: the old one
//! stopped, the new one started. Then Kubernetes' order, v2 -> v3: v3's pods started beside
//! v2's (a second project on the same network and volumes), v2's stopped afterwards. What is
//! asserted is what an operator sees: each time the migration
//! ran once, after the last v1 process was gone, the v2 beat said what it waited for, the
//! gated roles started within a second of the record, nothing restarted; the API's downtime
//! is measured and printed.
//!
//! Skipped, with one line, only when no Docker engine answers (as tests/docker.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/containers.rs"]
mod containers;

use common::{free_port, has};
use containers::*;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROLE: &str = "pulp-init-test/role:latest";

fn engine() -> bool {
    engine_for("tests/upgrade.rs")
}
const ROLES: [&str; 5] = ["beat", "resource_manager", "worker1", "worker2", "apache"];
/// The roles that wait at the schema gate.
const GATED: [&str; 4] = ["resource_manager", "worker1", "worker2", "apache"];
/// The stand-in's `[tasks] worker_timeout` (Pulp's default).
const WORKER_TIMEOUT: f64 = 30.0;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Seconds since the epoch of an RFC 3339 UTC time as Docker writes it
/// (`2025-01-02T03:04:05.123456789Z`).
fn epoch_of(t: &str) -> f64 {
    let (date, time) = t.trim().trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2];
    secs as f64 + format!("0.{frac}").parse::<f64>().unwrap()
}

/// When `container` logged its first line containing `needle` (`docker logs -t`).
fn logged_at(container: &str, needle: &str) -> Option<f64> {
    text(&docker(&["logs", "-t", container]))
        .lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split_once(' '))
        .map(|(t, _)| epoch_of(t))
}

/// Python with pymongo in the stack's database container, against its database.
fn db_python(db: &str, code: &str) -> String {
    let code = format!(
        "import calendar, pymongo\ndb = pymongo.MongoClient('127.0.0.1', 27017).pulp_database\ndef epoch(d): return calendar.timegm(d.utctimetuple()) + d.microsecond / 1e6\n{code}"
    );
    ok(&["exec", db, "/opt/venv/bin/python", "-c", &code])
}

/// The migration stand-in's runs: start times, epoch seconds, oldest first.
fn migration_starts(db: &str) -> Vec<f64> {
    db_python(
        db,
        "for r in db.test_runs.find(sort=[('start', 1)]): print(r['start'], 'end' in r)",
    )
    .lines()
    .map(|l| {
        assert!(l.ends_with(" True"), "a migration run did not finish: {l}");
        l.split(' ').next().unwrap().parse().unwrap()
    })
    .collect()
}

/// When the completion record of `fingerprint` was written (the database's clock).
fn record_completed_at(db: &str, fingerprint: &str) -> f64 {
    assert!(fingerprint
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-'));
    db_python(
        db,
        &format!("print(epoch(db.pulp_init.find_one({{'_id': 'migrated:{fingerprint}'}})['completed_at']))"),
    )
    .parse()
    .unwrap()
}

/// The fingerprint a beat migrated for, from its "migrations: running" line.
fn migrated_fingerprint(beat: &str) -> String {
    let shown = logs(beat);
    let line = shown
        .lines()
        .find(|l| l.contains("migrations: running"))
        .unwrap_or_else(|| panic!("no migration run in the beat's log:\n{shown}"));
    line.split_once("(fingerprint ")
        .and_then(|(_, r)| r.split([',', ')']).next())
        .unwrap()
        .to_string()
}

fn ready_line(role: &str) -> &'static str {
    match role {
        "beat" => "stand-in: beat ready",
        "resource_manager" => "stand-in: worker resource_manager@",
        "apache" => "resuming normal operations",
        _ => "stand-in: worker reserved_resource_worker-",
    }
}

/// Every role's container (in ROLES' order), once its process is up and it is healthy.
fn stack_up(stack: &Compose) -> Vec<String> {
    let ids: Vec<String> = ROLES
        .iter()
        .map(|r| stack.ok(&["ps", "-q", r]).trim().to_string())
        .collect();
    let all = stack.containers();
    wait_until(
        Duration::from_secs(240),
        || {
            all.iter()
                .map(|c| {
                    format!(
                        "{c}: {}",
                        inspect(c, "{{.Name}} {{.State.Status}} {{.State.Health.Status}}")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
                + &stack.ok(&["logs", "--no-color", "--tail", "20"])
        },
        || {
            ROLES
                .iter()
                .zip(&ids)
                .all(|(r, c)| logs(c).contains(ready_line(r)))
                && all
                    .iter()
                    .all(|c| inspect(c, "{{.State.Health.Status}}") == "healthy")
        },
    );
    ids
}

/// One GET of Pulp's status API on `port`: answered 200.
fn status_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if write!(
        s,
        "GET /pulp/api/v2/status/ HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200 ")
}

/// Polls the status API every 50 ms in a thread, from before the old apache stops until the
/// new one answers: up when any of the ports answers (as a Service in front of the pods).
struct Poller {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(f64, bool)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(ports: Vec<u16>) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(vec![]));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let t = now();
                let ok = ports.iter().any(|p| status_ok(*p));
                v.lock().unwrap().push((t, ok));
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Poller {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The API's downtime: from the last answer before the first failure to the first
    /// answer after it; None while it has not answered again.
    fn downtime(&self) -> Option<(f64, f64)> {
        let seen = self.seen.lock().unwrap();
        let first_fail = seen.iter().position(|(_, ok)| !ok)?;
        let last_ok = seen[..first_fail].iter().rev().find(|(_, ok)| *ok)?.0;
        let back = seen[first_fail..].iter().find(|(_, ok)| *ok)?.0;
        Some((last_ok, back))
    }

    fn finish(mut self) -> Option<(f64, f64)> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.downtime()
    }
}

/// Docker's `die` events of containers, streamed from its start (the engine keeps only the
/// last 256 events, and the health checks' exec events push them out within seconds).
struct Deaths {
    child: std::process::Child,
    file: tempfile::NamedTempFile,
}

impl Deaths {
    fn watch() -> Deaths {
        let file = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("docker")
            .args([
                "events",
                "--filter",
                "type=container",
                "--filter",
                "event=die",
                "--format",
                "{{.TimeNano}} {{.Actor.ID}} {{index .Actor.Attributes \"exitCode\"}}",
            ])
            .stdout(file.reopen().unwrap())
            .spawn()
            .unwrap();
        // Watching once it shows an event of its own: a container that dies at once.
        let probe = docker(&[
            "run",
            "-d",
            "--entrypoint",
            "/bin/true",
            "pulp-init-test/db:latest",
        ]);
        let id = String::from_utf8_lossy(&probe.stdout).trim().to_string();
        wait_until(
            Duration::from_secs(30),
            || "docker events shows nothing".into(),
            || std::fs::read_to_string(file.path()).unwrap().contains(&id),
        );
        let _ = docker(&["rm", "-f", "-v", &id]);
        Deaths { child, file }
    }

    /// (time, container id, exit code) of each death so far.
    fn seen(&self) -> Vec<(f64, String, i32)> {
        std::fs::read_to_string(self.file.path())
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.parse::<f64>().ok()? / 1e9,
                    f.get(1)?.to_string(),
                    f.get(2)?.parse().ok()?,
                ))
            })
            .collect()
    }

    fn finish(mut self) -> Vec<(f64, String, i32)> {
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.seen()
    }
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1]
}

macro_rules! needs_engine {
    () => {
        if !engine() {
            return;
        }
    };
}

#[test]
fn a_rolling_upgrade_compose_then_kubernetes_order_migrates_once_after_the_old_processes_and_restarts_nothing(
) {
    needs_engine!();
    let started = Instant::now();
    let scope = Scope::new("upgrade");
    let v2 = scope.image_with_version("v2", ROLE, "pulp-init-test stand-ins, release 2");
    let mut stack = scope.compose("stack");
    std::fs::write(&stack.secret, "upgrade-pass\n").unwrap();
    // A fixed port: the API's address stays the same across the recreation of apache.
    let port = free_port();
    stack.set_env("PULP_HTTP_PORT", &format!("127.0.0.1:{port}"));
    stack.set_env("PULP_TEST_ROLE_IMAGE", ROLE);

    // v1, up and busy: every role healthy, the workers heartbeating, a task running.
    stack.ok(&["up", "-d"]);
    let v1 = stack_up(&stack);
    let db = stack.ok(&["ps", "-q", "db"]).trim().to_string();
    println!("v1 up and healthy: {:?}", started.elapsed());
    let fp1 = migrated_fingerprint(&v1[0]);
    assert_eq!(migration_starts(&db).len(), 1);
    let rm1 = &v1[1];
    // The stand-in's workers also consume the resource_manager queue (Celery's default
    // queue there): tasks are sent until one runs on the resource manager, whose stop
    // (SIGTERM, warm) waits for it; a worker's (SIGQUIT, cold) ends its task, as Pulp's.
    let task = 10.0;
    let send = format!("import importlib, runpy, sys\nimportlib.import_module('pulp.server.async.app')\nsys.argv = ['send_slow.py', '{task}']\nrunpy.run_path('/opt/stand-ins/celery/send_slow.py', run_name='__main__')");
    let mut sent = 0;
    wait_until(
        Duration::from_secs(60),
        || format!("no task ran on the resource manager:\n{}", logs(rm1)),
        || {
            if sent < 8 {
                ok(&["exec", rm1, "/opt/venv/bin/python", "-c", &send]);
                sent += 1;
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if logs(rm1).contains("slow task start") {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        },
    );
    let host = |c: &str| inspect(c, "{{.Config.Hostname}}");
    let rm1_host = host(rm1);

    // Compose removes v1's containers once v2's are started: v1's resource_manager's log
    // is followed meanwhile.
    let follow_file = tempfile::NamedTempFile::new().unwrap();
    let mut follow = Command::new("docker")
        .args(["logs", "-f", rm1])
        .stdout(follow_file.reopen().unwrap())
        .stderr(follow_file.reopen().unwrap())
        .spawn()
        .unwrap();

    // v2: `docker-compose up -d` recreates every role (old stopped, then new started).
    let watch = Deaths::watch();
    let poller = Poller::start(vec![port]);
    assert!(
        wait_for_answer(port),
        "v1's API does not answer on port {port}"
    );
    stack.set_env("PULP_TEST_ROLE_IMAGE", &v2);
    let upgrading = Instant::now();
    stack.ok(&["up", "-d"]);
    let v2_ids = stack_up(&stack);
    println!(
        "docker-compose up -d with v2 to every v2 role up: {:?}",
        upgrading.elapsed()
    );
    wait_until(
        Duration::from_secs(30),
        || "v2's API does not answer".into(),
        || poller.downtime().is_some(),
    );
    let downtime = poller.finish();
    let died = watch.finish();

    // The v1 task ran to its end (warm shutdown), and each v1 container stopped with 0.
    let _ = follow.wait();
    let rm1_log = std::fs::read_to_string(follow_file.path()).unwrap();
    has(&rm1_log, &format!("slow task done {task}"));
    for (r, c) in ROLES.iter().zip(&v1) {
        let d: Vec<_> = died.iter().filter(|(_, id, _)| id == c).collect();
        assert_eq!(d.len(), 1, "{r} v1: die events {d:?}");
        assert_eq!(d[0].2, 0, "{r} v1 exited {}", d[0].2);
    }
    // No v2 container died or restarted: no crash loop.
    for (r, c) in ROLES.iter().zip(&v2_ids) {
        assert!(
            died.iter().all(|(_, id, _)| id != c),
            "{r} v2 died: {died:?}\n{}",
            logs(c)
        );
        assert_eq!(inspect(c, "{{.RestartCount}}"), "0", "{r} v2:\n{}", logs(c));
    }

    // The migration ran once more, for v2's fingerprint, by v2's beat.
    let beat2 = &v2_ids[0];
    let fp2 = migrated_fingerprint(beat2);
    assert_ne!(fp1, fp2);
    let starts = migration_starts(&db);
    assert_eq!(starts.len(), 2, "one run for v1, one for v2");
    for c in &v2_ids[1..] {
        assert!(!logs(c).contains("migrations: running"), "{}", logs(c));
    }
    // v2's beat waited for v1's processes (the task kept v1's resource_manager up), named
    // them, and migrated within worker_timeout + 2 s after the last of them ended.
    let shown = logs(beat2);
    has(
        &shown,
        "migrations: waiting: Pulp processes of the previous deployment are online: ",
    );
    has(&shown, &format!("resource_manager@{rm1_host} (heartbeat "));
    has(&shown, "migrations: no Pulp process is online any more");
    // Presence: after the last v1 pod of any role, httpd's too (it has no Pulp record).
    let after = migrated_after(starts[1], &died, &v1, &shown);
    println!("compose: migration start after the last v1 pod ended: {after:.2} s");
    let mut latencies = gate_openings(&db, &fp2, &v2_ids);
    let (down, up) = downtime.unwrap();
    println!(
        "compose: API downtime (status 200 by v1, then by v2): {:.2} s",
        up - down
    );
    assert!(up - down < 120.0);

    // Kubernetes' order, v2 -> v3: the new pods start beside the old ones (a second project
    // on the same network and volumes), and the old ones are stopped afterwards.
    let v3 = scope.image_with_version("v3", ROLE, "pulp-init-test stand-ins, release 3");
    let a = &stack.project;
    let shared = tempfile::NamedTempFile::new().unwrap();
    let external = |v: &str| format!("  {v}: {{external: true, name: {a}_{v}}}\n");
    std::fs::write(
        shared.path(),
        format!(
            "networks:\n  default: {{external: true, name: {a}_default}}\nvolumes:\n{}",
            ["db-data", "msg-data", "pulp-lib", "pulp-www", "pulp-pki"]
                .map(external)
                .concat()
        ),
    )
    .unwrap();
    let mut next = scope.compose("next");
    next.add_file(shared.path());
    std::fs::write(&next.secret, "upgrade-pass\n").unwrap();
    let port3 = free_port();
    next.set_env("PULP_HTTP_PORT", &format!("127.0.0.1:{port3}"));
    next.set_env("PULP_TEST_ROLE_IMAGE", &v3);
    let watch = Deaths::watch();
    let poller = Poller::start(vec![port, port3]);
    let mut up = vec!["up", "-d", "--no-deps"];
    up.extend(ROLES);
    next.ok(&up);
    let v3_ids: Vec<String> = ROLES
        .iter()
        .map(|r| next.ok(&["ps", "-q", r]).trim().to_string())
        .collect();
    // v3's beat waits, naming every v2 Celery process; v3's other roles wait at the gate.
    let beat3 = &v3_ids[0];
    logs_show(
        beat3,
        "migrations: waiting: Pulp processes of the previous deployment are online: ",
        Duration::from_secs(120),
    );
    for (r, c) in ROLES.iter().zip(&v3_ids).skip(1) {
        logs_show(
            c,
            "schema: waiting for a beat of this image",
            Duration::from_secs(120),
        );
        assert!(
            !logs(c).contains(ready_line(r)),
            "{r} v3 started before the migration"
        );
    }
    // The line names v2's 4 Pulp records (workers, resource manager, scheduler) and, of the
    // 5 pods' presence records, the one no Pulp record stands for: httpd's.
    let v2_hosts: Vec<String> = v2_ids.iter().map(|c| host(c)).collect();
    let apache2 = &v2_hosts[ROLES.iter().position(|r| *r == "apache").unwrap()];
    let httpd_named = format!(" on {apache2} (image {fp2}, seen ");
    let full =
        |l: &&str| l.contains("previous deployment are online: ") && l.contains(&httpd_named);
    wait_until(
        Duration::from_secs(30),
        || logs(beat3),
        || logs(beat3).lines().any(|l| full(&l)),
    );
    let waiting = logs(beat3);
    let line = waiting.lines().rfind(full).unwrap();
    let named = line.split_once("are online: ").unwrap().1;
    let entries: Vec<&str> = named.split("), ").collect();
    assert_eq!(entries.len(), 5, "{line}");
    assert!(!named.contains(" more"), "{line}");
    for entry in &entries {
        assert!(
            v2_hosts
                .iter()
                .any(|h| entry.contains(&format!("@{h} (heartbeat "))
                    || entry.contains(&format!(" on {h} (image {fp2}"))),
            "not a v2 process: {entry:?} in {line}"
        );
    }
    println!("kubernetes order: v3's beat waited for {named}");
    assert_eq!(
        migration_starts(&db).len(),
        2,
        "no migration beside the old pods"
    );
    let mut stop = vec!["stop"];
    stop.extend(ROLES);
    stack.ok(&stop);
    let v3_ids = stack_up(&next);
    wait_until(
        Duration::from_secs(30),
        || "v3's API does not answer".into(),
        || poller.downtime().is_some(),
    );
    let downtime = poller.finish();
    let died = watch.finish();
    for (r, c) in ROLES.iter().zip(&v2_ids) {
        let d: Vec<_> = died.iter().filter(|(_, id, _)| id == c).collect();
        assert_eq!(d.len(), 1, "{r} v2: die events {d:?}");
        assert_eq!(d[0].2, 0, "{r} v2 exited {}", d[0].2);
    }
    for (r, c) in ROLES.iter().zip(&v3_ids) {
        assert!(
            died.iter().all(|(_, id, _)| id != c),
            "{r} v3 died:\n{}",
            logs(c)
        );
        assert_eq!(inspect(c, "{{.RestartCount}}"), "0", "{r} v3:\n{}", logs(c));
    }
    let fp3 = migrated_fingerprint(beat3);
    let starts = migration_starts(&db);
    assert_eq!(starts.len(), 3, "one run each for v1, v2, v3");
    let after = migrated_after(starts[2], &died, &v2_ids, &logs(beat3));
    println!("kubernetes order: migration start after the last v2 pod ended: {after:.2} s");
    latencies.extend(gate_openings(&db, &fp3, &v3_ids));
    let (down, up) = downtime.unwrap();
    println!(
        "kubernetes order: API downtime (status 200 by v2, then by v3): {:.2} s",
        up - down
    );
    println!(
        "gate open after the record: p95 {:.0} ms of {}",
        p95(latencies.clone()) * 1000.0,
        latencies.len()
    );

    // Rolling back, v3 -> v2, after v3 migrated: v2's pods refuse the database (exit 75,
    // naming both fingerprints) each time the restart policy starts them again...
    let mut stop = vec!["stop"];
    stop.extend(ROLES);
    next.ok(&stop);
    let watch = Deaths::watch();
    let mut start = vec!["start"];
    start.extend(ROLES);
    stack.ok(&start);
    for (r, c) in ROLES.iter().zip(&v2_ids) {
        wait_until(
            Duration::from_secs(120),
            || {
                format!(
                    "{r} v2: restarts {}:\n{}",
                    inspect(c, "{{.RestartCount}}"),
                    logs(c)
                )
            },
            || {
                inspect(c, "{{.RestartCount}}").parse::<u32>().unwrap() >= 1
                    && watch.seen().iter().filter(|(_, id, _)| id == c).count() >= 2
            },
        );
        let shown = logs(c);
        let refusal = shown.lines().rfind(|l| l.contains("newer image")).unwrap();
        assert!(
            refusal.contains(&fp3) && refusal.contains(&fp2),
            "{refusal}"
        );
        has(refusal, "--allow-older-image");
    }
    let died = watch.finish();
    for (r, c) in ROLES.iter().zip(&v2_ids) {
        let codes: Vec<i32> = died
            .iter()
            .filter(|(_, id, _)| id == c)
            .map(|d| d.2)
            .collect();
        assert!(
            codes.len() >= 2 && codes.iter().all(|&c| c == 75),
            "{r} v2 exits: {codes:?}"
        );
    }
    println!("rollback: every v2 pod exits 75 (restarted, 75 again), naming {fp3} and {fp2}");
    // ... and start with PULP_INIT_ALLOW_OLDER_IMAGE=true, without migrating.
    let allow = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        allow.path(),
        format!(
            "services:\n{}",
            ROLES
                .map(|r| format!(
                    "  {r}:\n    environment: {{PULP_INIT_ALLOW_OLDER_IMAGE: \"true\"}}\n"
                ))
                .concat()
        ),
    )
    .unwrap();
    stack.add_file(allow.path());
    let mut up = vec!["up", "-d", "--no-deps"];
    up.extend(ROLES);
    stack.ok(&up);
    let back = stack_up(&stack);
    for (r, c) in ROLES.iter().zip(&back) {
        has(&logs(c), "starting anyway (--allow-older-image)");
        assert_eq!(inspect(c, "{{.RestartCount}}"), "0", "{r}:\n{}", logs(c));
    }
    assert_eq!(
        migration_starts(&db).len(),
        3,
        "a rollback migrates nothing"
    );
    println!("rollback with PULP_INIT_ALLOW_OLDER_IMAGE=true: every v2 role up");
    println!("the whole test: {:?}", started.elapsed());
    next.ok(&["down", "-v", "-t", "5"]);
    stack.ok(&["down", "-v", "-t", "5"]);
}

/// The migration started after the last of `old` ended (its die event), and within
/// worker_timeout + 2 s of it; how long after.
#[track_caller]
fn migrated_after(start: f64, died: &[(f64, String, i32)], old: &[String], beat_log: &str) -> f64 {
    let last = died
        .iter()
        .filter(|(_, id, _)| old.contains(id))
        .map(|(t, _, _)| *t)
        .fold(f64::MIN, f64::max);
    let after = start - last;
    assert!(
        after > 0.0 && after <= WORKER_TIMEOUT + 2.0,
        "the migration started {after:.2} s after the last old process ended:\n{beat_log}"
    );
    after
}

/// Each gated role of `ids` (in ROLES' order) waited at the schema gate and started within a
/// second of the record of `fingerprint`; how long after the record each did.
#[track_caller]
fn gate_openings(db: &str, fingerprint: &str, ids: &[String]) -> Vec<f64> {
    let completed = record_completed_at(db, fingerprint);
    let mut latencies = vec![];
    for (r, c) in ROLES.iter().zip(ids).skip(1) {
        assert!(GATED.contains(r));
        let shown = logs(c);
        has(&shown, "schema: waiting for a beat of this image");
        let opened = logged_at(c, "schema: migrated for this image (")
            .unwrap_or_else(|| panic!("{r}: the gate did not open:\n{shown}"));
        let latency = opened - completed;
        println!("{r}: gate open {:.0} ms after the record", latency * 1000.0);
        assert!(
            (-0.05..=1.0).contains(&latency),
            "{r}: {latency:.3} s after the record:\n{shown}"
        );
        latencies.push(latency);
    }
    latencies
}

/// Until the status API answers (at most 60 s).
fn wait_for_answer(port: u16) -> bool {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if status_ok(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
