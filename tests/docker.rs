//! pulp-init in real containers, under the Docker Engine: the test images of
//! scripts/images.sh (built here from a debootstrapped base, never pulled), `docker run`,
//! `docker stop`, volumes, an arbitrary uid, a network cut, concurrent beats and the Compose
//! stack. Every test asserts what a user sees: `docker logs`, exit codes, files, timings.
//!
//! Skipped, with one line, only when no Docker engine answers. Everything a test creates
//! (containers, networks, volumes, Compose projects) carries a unique name prefix and is
//! removed by a guard when the test ends, also when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/containers.rs"]
mod containers;

use common::has;
use containers::*;
use std::time::{Duration, Instant};

const ROLE: &str = "pulp-init-test/role:latest";

fn engine() -> bool {
    engine_for("tests/docker.rs")
}

/// The environment `docker run -e` gives a role container to reach the scope's services.
fn env_args(extra: &[&str]) -> Vec<String> {
    let mut args = vec![];
    for e in [
        "DB_SERVICE_HOST=db",
        "MSG_SERVICE_HOST=msg",
        "MSG_SERVICE_TYPE=rabbitmq",
        "PULP_SERVER_NAME=pulp.example.test",
        // RabbitMQ starts in 10 to 40 s on a loaded 2-core machine.
        "PULP_INIT_TIMEOUT=180s",
        // A role started alone has no beat to migrate for it; the Compose stack shows the
        // schema gate opening.
        "PULP_INIT_SKIP_MIGRATE_WAIT=1",
        // Roles started alone share a database but no key volume: each would make a set of
        // its own, and the second would rightly refuse (another set than the deployment's).
        // The Compose stack shows the keys phase (one set on a shared volume, HTTPS).
        "PULP_INIT_SKIP_KEYS=true",
    ]
    .iter()
    .chain(extra)
    {
        args.push("-e".to_string());
        args.push(e.to_string());
    }
    args
}

/// `docker run -d` of the role image on `net`: `--role ROLE` after the given docker options.
fn role(scope: &Scope, name: &str, net: &str, docker_opts: &[&str], role: &str) -> String {
    let env = env_args(&[]);
    let mut args: Vec<&str> = vec!["--network", net];
    args.extend(env.iter().map(String::as_str));
    args.extend_from_slice(docker_opts);
    args.extend([ROLE, "--role", role]);
    scope.run(name, &args)
}

/// `docker run -d` of the role image on `net` without PULP_INIT_SKIP_MIGRATE_WAIT: a role
/// that waits at the schema gate for the beat started beside it, as in a deployment (a
/// Celery process that ran before the migration would hold it up, as it holds up Pulp's
/// pulp-manage-db: its record is online).
fn gated_role(scope: &Scope, name: &str, net: &str, role: &str) -> String {
    let env: Vec<String> = env_args(&[])
        .chunks(2)
        .filter(|e| !e[1].starts_with("PULP_INIT_SKIP_MIGRATE_WAIT="))
        .flatten()
        .cloned()
        .collect();
    let mut args: Vec<&str> = vec!["--network", net];
    args.extend(env.iter().map(String::as_str));
    args.extend([ROLE, "--role", role]);
    scope.run(name, &args)
}

/// The `_id`s of Pulp's `workers` collection, sorted, read in the scope's db container.
fn worker_records(scope: &Scope) -> Vec<String> {
    let out = ok(&[
        "exec",
        &scope.name("db"),
        "/opt/venv/bin/python",
        "-c",
        "import pymongo\nfor w in pymongo.MongoClient('127.0.0.1', 27017).pulp_database.workers.find(sort=[('_id', 1)]): print(w['_id'])",
    ]);
    out.lines().map(str::to_string).collect()
}

/// The name Celery gives a role's process in `container`: `-n PREFIX@%h`, %h its hostname.
fn node(prefix: &str, container: &str) -> String {
    format!("{prefix}@{}", inspect(container, "{{.Config.Hostname}}"))
}

macro_rules! needs_engine {
    () => {
        if !engine() {
            return;
        }
    };
}

#[test]
fn docker_run_e_edits_server_conf_and_docker_logs_shows_pulp_init_and_the_service() {
    needs_engine!();
    let scope = Scope::new("run");
    let net = scope.services();
    let c = role(&scope, "rm", &net, &[], "resource_manager");
    logs_show(
        &c,
        "stand-in: worker resource_manager@",
        Duration::from_secs(90),
    );
    // The image's server.conf (a real Pulp 2.21 one), as the environment says.
    let conf = ok(&["exec", &c, "cat", "/etc/pulp/server.conf"]);
    has(&conf, "\n[database]\n");
    has(&conf, "\nseeds: db:27017\n");
    has(&conf, "\nserver_name: pulp.example.test\n");
    has(&conf, "\nbroker_url: amqp://guest:guest@msg:5672//\n");
    has(&conf, "\ntransport: rabbitmq\n");
    has(&conf, "# seeds: localhost:27017\n"); // the shipped comments stay
    let shown = logs(&c);
    has(&shown, "pulp-init: info:");
    has(&shown, "/etc/pulp/server.conf: written");
    has(&shown, "stand-in: worker resource_manager@");
    // Celery's banner: the worker took the broker that server.conf names.
    has(&shown, ".> transport:   amqp://guest:**@msg:5672//");
    let (_, code) = stop(&c, 30);
    assert_eq!(code, 0, "{}", logs(&c));
}

#[test]
fn docker_stop_of_every_role_delivers_its_stop_signal_and_exits_0_without_sigkill() {
    needs_engine!();
    let scope = Scope::new("stop");
    let net = scope.services();
    // role, what shows that it is up, what shows that its own stop signal reached it
    let cases: [(&str, &str, &[&str]); 4] = [
        // Beat stops on SIGTERM itself, silently.
        ("beat", "stand-in: beat ready", &["celery exited with 0"]),
        (
            "resource_manager",
            "stand-in: worker resource_manager@",
            &[
                "worker: Warm shutdown (MainProcess)",
                "celery exited with 0",
            ],
        ),
        (
            "worker",
            "stand-in: worker reserved_resource_worker-1@",
            &[
                "forwarding SIGTERM to ",
                " as SIGQUIT",
                "worker: Cold shutdown (MainProcess)",
                "celery exited with 0",
            ],
        ),
        (
            "apache",
            "resuming normal operations",
            &[
                " as SIGWINCH",
                "caught SIGWINCH, shutting down gracefully",
                "httpd exited with 0",
            ],
        ),
    ];
    let containers: Vec<String> = cases
        .iter()
        .map(|(r, _, _)| gated_role(&scope, &r.replace('_', ""), &net, r))
        .collect();
    for ((_, up, _), c) in cases.iter().zip(&containers) {
        logs_show(c, up, Duration::from_secs(120));
    }
    // Each Celery process's record in Pulp's `workers` collection, named as Pulp names it.
    let mut records = vec![
        node("reserved_resource_worker-1", &containers[2]),
        node("resource_manager", &containers[1]),
        node("scheduler", &containers[0]),
    ];
    records.sort();
    wait_until(
        Duration::from_secs(30),
        || format!("{:?}", worker_records(&scope)),
        || worker_records(&scope) == records,
    );
    let timeout = 30;
    for ((r, _, stopped), c) in cases.iter().zip(&containers) {
        let (took, code) = stop(c, timeout);
        let shown = logs(c);
        assert_eq!(code, 0, "{r}: exit code {code}:\n{shown}");
        for needle in stopped.iter() {
            has(&shown, needle);
        }
        // Its stop signal made it remove its record before it ended, as Pulp's do.
        let left = worker_records(&scope);
        assert!(
            !left
                .iter()
                .any(|n| n.ends_with(&format!("@{}", inspect(c, "{{.Config.Hostname}}")))),
            "{r}: record left after docker stop: {left:?}\n{shown}"
        );
        assert!(
            took < Duration::from_secs(10),
            "{r}: docker stop took {took:?} (timeout {timeout} s):\n{shown}"
        );
        assert_eq!(inspect(c, "{{.State.OOMKilled}}"), "false");
        println!("{r}: docker stop took {took:?}, exit 0");
    }
}

/// What the migration's wait for the old deployment relies on: `docker stop` (SIGQUIT to
/// a worker) removes a worker's record; `docker kill` (SIGKILL) leaves it behind, to age
/// out after worker_timeout, as Pulp's do.
#[test]
fn a_workers_record_goes_with_docker_stop_and_stays_after_docker_kill() {
    needs_engine!();
    let scope = Scope::new("record");
    let net = scope.services();
    let stopped = role(&scope, "w1", &net, &[], "worker");
    let killed = role(&scope, "w2", &net, &["-e", "PULP_WORKER_ID=2"], "worker");
    for c in [&stopped, &killed] {
        logs_show(
            c,
            "stand-in: worker reserved_resource_worker-",
            Duration::from_secs(120),
        );
    }
    let mut both = vec![
        node("reserved_resource_worker-1", &stopped),
        node("reserved_resource_worker-2", &killed),
    ];
    both.sort();
    wait_until(
        Duration::from_secs(30),
        || format!("{:?}", worker_records(&scope)),
        || worker_records(&scope) == both,
    );
    // Each made its working directory.
    for (c, n) in [(&stopped, 1), (&killed, 2)] {
        let dir = format!(
            "/var/cache/pulp/{}",
            node(&format!("reserved_resource_worker-{n}"), c)
        );
        assert_eq!(stat(c, "%U", &[&dir]), "apache");
    }
    let (_, code) = stop(&stopped, 30);
    assert_eq!(code, 0, "{}", logs(&stopped));
    assert_eq!(
        worker_records(&scope),
        [node("reserved_resource_worker-2", &killed)]
    );
    ok(&["kill", &killed]);
    wait_until(
        Duration::from_secs(30),
        || logs(&killed),
        || !running(&killed),
    );
    assert_eq!(inspect(&killed, "{{.State.ExitCode}}"), "137");
    assert_eq!(
        worker_records(&scope),
        [node("reserved_resource_worker-2", &killed)]
    );
}

#[test]
fn volumes_from_a_content_container_and_a_host_directory_as_the_original_posts_did() {
    needs_engine!();
    let scope = Scope::new("vol");
    let net = scope.services();
    // The data container of the original posts: volumes only, never started.
    let data = scope.create("content", &["-v", "/var/lib/pulp", ROLE, "--", "true"]);
    let www = tempfile::tempdir().unwrap();
    std::fs::create_dir(www.path().join("pub")).unwrap();
    std::fs::write(www.path().join("pub/hello.txt"), "published by the host\n").unwrap();
    let mount = format!("{}:/var/www", www.path().display());
    let beat = role(&scope, "beat", &net, &["--volumes-from", &data], "beat");
    let web = role(
        &scope,
        "apache",
        &net,
        &["--volumes-from", &data, "-v", &mount, "-p", "127.0.0.1::80"],
        "apache",
    );
    logs_show(&beat, "stand-in: beat ready", Duration::from_secs(120));
    logs_show(&web, "resuming normal operations", Duration::from_secs(120));
    // The beat's schedule lands in the data container's volume: another container that
    // mounts it sees it.
    wait_until(
        Duration::from_secs(30),
        || "no celerybeat-schedule in the content volume".into(),
        || {
            let out = docker(&[
                "run",
                "--rm",
                "--volumes-from",
                &data,
                ROLE,
                "--",
                "ls",
                "/var/lib/pulp/celery",
            ]);
            text(&out).contains("celerybeat-schedule")
        },
    );
    // httpd serves the host directory.
    let port = ok(&["port", &web, "80/tcp"]);
    let addr = port.lines().next().unwrap().to_string();
    let body = http_get(&addr, "/pub/hello.txt");
    has(&body, "200 OK");
    has(&body, "published by the host");
    for c in [&beat, &web] {
        let (_, code) = stop(c, 30);
        assert_eq!(code, 0, "{}", logs(c));
    }
}

/// A plain HTTP/1.0 request without a body, with Basic credentials `user:password` if
/// given; the whole response.
fn http(addr: &str, method: &str, path: &str, basic: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = basic
        .map(|b| format!("Authorization: Basic {}\r\n", base64(b.as_bytes())))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The JSON body of an HTTP response (`Null` when it has none that parses).
fn body(response: &str) -> serde_json::Value {
    let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The names in a status response's `known_workers`.
fn known_workers(response: &str) -> Vec<String> {
    body(response)["known_workers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w["_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn an_arbitrary_uid_in_group_0_runs_the_role_as_openshift_does() {
    needs_engine!();
    let scope = Scope::new("uid");
    let net = scope.services();
    let c = role(
        &scope,
        "rm",
        &net,
        &["--user", "1000650000:0"],
        "resource_manager",
    );
    logs_show(
        &c,
        "stand-in: worker resource_manager@",
        Duration::from_secs(90),
    );
    // server.conf is group-writable (group 0): edited, and in place of the shipped one.
    let conf = ok(&["exec", &c, "cat", "/etc/pulp/server.conf"]);
    has(&conf, "\nseeds: db:27017\n");
    // The service runs as that uid.
    let top = ok(&["top", &c, "-o", "pid,uid,args"]);
    let celery: Vec<&str> = top.lines().filter(|l| l.contains("celery")).collect();
    assert!(!celery.is_empty(), "{top}");
    for line in celery {
        assert_eq!(line.split_whitespace().nth(1), Some("1000650000"), "{top}");
    }
    let (_, code) = stop(&c, 30);
    assert_eq!(code, 0, "{}", logs(&c));
}

#[test]
fn a_database_cut_off_during_the_wait_is_waited_for_then_the_deadline_is_exit_69() {
    needs_engine!();
    let scope = Scope::new("cut");
    let net = scope.services();
    let db = scope.name("db");
    ok(&["network", "disconnect", &net, &db]);
    let c = role(&scope, "rm", &net, &[], "resource_manager");
    logs_show(&c, "waiting", Duration::from_secs(30));
    // Still waiting 10 s later (pulp-init logs changes of state, not every attempt).
    holds_for(Duration::from_secs(10), || logs(&c), || running(&c));
    assert!(!logs(&c).contains("stand-in: worker"), "{}", logs(&c));
    ok(&["network", "connect", "--alias", "db", &net, &db]);
    logs_show(
        &c,
        "stand-in: worker resource_manager@",
        Duration::from_secs(90),
    );
    let (_, code) = stop(&c, 30);
    assert_eq!(code, 0, "{}", logs(&c));

    // Cut off until the deadline: exit 69, with a line that says what was missing.
    ok(&["network", "disconnect", &net, &db]);
    let env = env_args(&["PULP_INIT_TIMEOUT=5s"]);
    let mut args: Vec<&str> = vec!["--network", &net];
    args.extend(env.iter().map(String::as_str));
    args.extend([ROLE, "--role", "resource_manager"]);
    let late = scope.run("late", &args);
    wait_until(Duration::from_secs(60), || logs(&late), || !running(&late));
    let shown = logs(&late);
    assert_eq!(inspect(&late, "{{.State.ExitCode}}"), "69", "{shown}");
    has(
        &shown,
        "pulp-init: error: mongodb (db:27017): not ready within 5.0 s; last seen: DNS failure",
    );
    assert!(!shown.contains("stand-in: worker"), "{shown}");
}

/// The migration stand-in's own count of its runs: "<started> <finished>".
fn migration_runs(container: &str) -> String {
    ok(&[
        "exec",
        "-e",
        "TEST_MONGO_URL=mongodb://db:27017/",
        container,
        "/opt/venv/bin/python",
        "/opt/stand-ins/migrate.py",
        "runs",
    ])
}

#[test]
fn two_beats_started_together_migrate_once() {
    needs_engine!();
    let scope = Scope::new("beats");
    let net = scope.services();
    let opts = ["-e", "MIGRATE_SLEEP=3"];
    let a = role(&scope, "beat-a", &net, &opts, "beat");
    let b = role(&scope, "beat-b", &net, &opts, "beat");
    for c in [&a, &b] {
        logs_show(c, "stand-in: beat ready", Duration::from_secs(120));
    }
    assert_eq!(migration_runs(&a), "1 1");
    let ran: Vec<&String> = [&a, &b]
        .into_iter()
        .filter(|c| logs(c).contains(" started"))
        .collect();
    assert_eq!(ran.len(), 1, "{}\n---\n{}", logs(&a), logs(&b));
    for c in [&a, &b] {
        let (_, code) = stop(c, 30);
        assert_eq!(code, 0, "{}", logs(c));
    }
}

#[test]
fn a_beat_killed_during_its_migration_leaves_it_to_the_next_beat_after_the_lease() {
    needs_engine!();
    let scope = Scope::new("kill");
    let net = scope.services();
    let lease = ["-e", "PULP_INIT_LOCK_LEASE=6s"];
    let a = role(
        &scope,
        "beat-a",
        &net,
        &[lease[0], lease[1], "-e", "MIGRATE_SLEEP=120"],
        "beat",
    );
    logs_show(&a, " started", Duration::from_secs(120));
    ok(&["kill", &a]); // SIGKILL: no lock release, no completion record
    wait_until(Duration::from_secs(30), || logs(&a), || !running(&a));
    let killed = Instant::now();
    let b = role(&scope, "beat-b", &net, &lease, "beat");
    logs_show(&b, "stand-in: beat ready", Duration::from_secs(120));
    let waited = killed.elapsed();
    // The first run never finished; the second ran and finished.
    assert_eq!(migration_runs(&b), "2 1", "{}", logs(&b));
    has(&logs(&b), " started");
    assert!(
        waited < Duration::from_secs(60),
        "{waited:?}:\n{}",
        logs(&b)
    );
    let (_, code) = stop(&b, 30);
    assert_eq!(code, 0, "{}", logs(&b));
}

#[test]
fn the_compose_stack_comes_up_healthy_and_compose_down_exits_every_container_0() {
    needs_engine!();
    let scope = Scope::new("compose");
    let stack = scope.compose("stack");
    std::fs::write(&stack.secret, "s3cr%t@pass\n").unwrap();
    let started = Instant::now();
    // httpd first, then the rest: the apache role used to make Pulp's directories on the
    // shared volume as root, and every worker started after it exited 77, restarting for ever.
    stack.ok(&["up", "-d", "db", "msg", "apache"]);
    let apache = stack.ok(&["ps", "-q", "apache"]);
    // Its directories are made before the probes; then it waits at the schema gate for beat.
    logs_show(&apache, "schema: waiting", Duration::from_secs(240));
    assert_eq!(
        stat(
            &apache,
            "%U",
            &[
                "/var/lib/pulp/uploads",
                "/var/lib/pulp/celery",
                "/var/cache/pulp"
            ]
        ),
        "apache\napache\napache"
    );
    stack.ok(&["up", "-d"]);
    let ids = stack.containers();
    assert_eq!(
        ids.len(),
        7,
        "db, msg, beat, resource_manager, 2 workers, apache"
    );
    wait_until(
        Duration::from_secs(240),
        || {
            ids.iter()
                .map(|c| format!("{c}: {}", inspect(c, "{{.Name}} {{.State.Health.Status}}")))
                .collect::<Vec<_>>()
                .join("\n")
        },
        || {
            ids.iter()
                .all(|c| inspect(c, "{{.State.Health.Status}}") == "healthy")
        },
    );
    println!("compose up to all healthy: {:?}", started.elapsed());
    for c in &ids {
        let restarts = inspect(c, "{{.Name}} {{.RestartCount}}");
        assert!(restarts.ends_with(" 0"), "{restarts}:\n{}", logs(c));
    }
    // Healthy says MongoDB and the broker answer; the roles' processes come up, with the
    // broker password from the secret file.
    let up = [
        "stand-in: beat ready",
        "stand-in: worker resource_manager@",
        "stand-in: worker reserved_resource_worker-1@",
        "stand-in: worker reserved_resource_worker-2@",
        "resuming normal operations",
    ];
    wait_until(
        Duration::from_secs(120),
        || stack.ok(&["logs", "--no-color"]),
        || {
            let all = stack.ok(&["logs", "--no-color"]);
            up.iter().all(|l| all.contains(l))
        },
    );
    println!(
        "compose up to every role's process up: {:?}",
        started.elapsed()
    );
    let logs_all = stack.ok(&["logs", "--no-color"]);
    assert!(
        !logs_all.contains("s3cr%t@pass"),
        "the secret is never logged"
    );
    // Pulp's status API lists every Celery process online, from their records.
    let port = stack.ok(&["port", "apache", "80"]);
    let addr = port
        .lines()
        .next()
        .unwrap()
        .trim()
        .replace("0.0.0.0", "127.0.0.1");
    let processes = ["scheduler", "resource_manager", "reserved_resource_worker-"];
    let status = std::cell::RefCell::new(String::new());
    wait_until(
        Duration::from_secs(30),
        || status.borrow().clone(),
        || {
            let answer = http(&addr, "GET", "/pulp/api/v2/status/", None);
            let names = known_workers(&answer);
            *status.borrow_mut() = answer;
            names.len() == 4
                && processes
                    .iter()
                    .all(|p| names.iter().any(|n| n.starts_with(p)))
        },
    );
    let status = status.into_inner();
    has(&status, "HTTP/1.1 200 ");
    let json = body(&status);
    assert_eq!(json["database_connection"]["connected"], true, "{status}");
    assert_eq!(json["messaging_connection"]["connected"], true, "{status}");
    // HTTPS with the deployment's keys: one pod made the set on the shared volume, every
    // other took it, and the REST API's certificate verifies against the deployment's CA.
    let made: usize = stack
        .ok(&["ps", "-q"])
        .lines()
        .map(|c| {
            logs(c.trim())
                .matches("keys: made the deployment's set")
                .count()
        })
        .sum();
    assert_eq!(made, 1, "{logs_all}");
    let pki = tempfile::tempdir().unwrap();
    let ca = pki.path().join("ca.crt");
    ok(&[
        "cp",
        &format!("{apache}:/etc/pki/pulp/ca.crt"),
        ca.to_str().unwrap(),
    ]);
    let https = stack.ok(&["port", "apache", "443"]);
    let https = https.lines().next().unwrap().trim();
    let port = https.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/pulp/api/v2/status/");
    let curl = |extra: &[&str]| {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let verified = curl(&["--cacert", ca.to_str().unwrap()]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    has(&String::from_utf8_lossy(&verified.stdout), "known_workers");
    // Without the deployment's CA the certificate is not trusted (curl exit 60).
    assert_eq!(curl(&[]).status.code(), Some(60));
    // Consumers fetch Pulp's public key from /pulp/static (pulp-gen-key-pair's link).
    assert_eq!(
        ok(&[
            "exec",
            &apache,
            "readlink",
            "/var/lib/pulp/static/rsa_pub.key"
        ]),
        "/etc/pki/pulp/rsa_pub.key"
    );
    // An upload request: httpd serves as apache and writes /var/lib/pulp/uploads as apache.
    let created = http(
        &addr,
        "POST",
        "/pulp/api/v2/content/uploads/",
        Some("admin:admin"),
    );
    has(&created, "HTTP/1.1 201 ");
    let id = body(&created)["upload_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no upload_id: {created}"))
        .to_string();
    assert_eq!(
        stat(&apache, "%U:%G", &[&format!("/var/lib/pulp/uploads/{id}")]),
        "apache:apache"
    );
    // Pulp's upload views need credentials.
    has(
        &http(&addr, "POST", "/pulp/api/v2/content/uploads/", None),
        "HTTP/1.1 401 ",
    );
    // As Pulp does, a 500 where it cannot write (an uploads directory of root's).
    ok(&[
        "exec",
        &apache,
        "chown",
        "root:root",
        "/var/lib/pulp/uploads",
    ]);
    ok(&["exec", &apache, "chmod", "0755", "/var/lib/pulp/uploads"]);
    let refused = http(
        &addr,
        "POST",
        "/pulp/api/v2/content/uploads/",
        Some("admin:admin"),
    );
    has(&refused, "HTTP/1.1 500 ");
    has(&refused, "Permission denied");
    ok(&[
        "exec",
        &apache,
        "chown",
        "apache:apache",
        "/var/lib/pulp/uploads",
    ]);
    let stopping = Instant::now();
    stack.ok(&["stop"]);
    let took = stopping.elapsed();
    for c in &ids {
        let state = inspect(c, "{{.Name}} {{.State.ExitCode}}");
        assert!(state.ends_with(" 0"), "{state}:\n{}", logs(c));
    }
    println!("compose stop of the stack: {took:?}, every container exit 0");
    stack.ok(&["down", "-v"]);
    assert!(stack.containers().is_empty());
}

/// What DESIGN.md and the exit-code table promise (77: a volume is not writable by the
/// service user): the worker role (it needs storage) with a root-owned 0700
/// `/var/lib/pulp` does not start Celery on a volume it cannot write.
#[test]
fn a_volume_the_service_user_cannot_write_is_exit_77() {
    needs_engine!();
    let scope = Scope::new("ro");
    let net = scope.services();
    let dir = tempfile::tempdir().unwrap(); // root, 0700
    let mount = format!("{}:/var/lib/pulp", dir.path().display());
    let c = role(&scope, "worker", &net, &["-v", &mount], "worker");
    wait_until(
        Duration::from_secs(120),
        || logs(&c),
        || !running(&c) || logs(&c).contains("stand-in: worker"),
    );
    assert_eq!(inspect(&c, "{{.State.ExitCode}}"), "77", "{}", logs(&c));
}
