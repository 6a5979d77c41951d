//! The probe phase against real servers the tests start themselves: SecantusDB
//! (MongoDB wire protocol, SCRAM auth) and a private RabbitMQ node. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::Duration;

fn amqp(port: u16, user: &str, password: &str) -> String {
    format!("amqp://{user}:{password}@127.0.0.1:{port}//")
}

#[test]
fn both_up_wait_and_check_succeed_and_a_role_runs_its_command() {
    let mongo = Mongo::start();
    let rabbit = Rabbit::start();
    let conf = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &amqp(rabbit.port, "guest", "guest"),
        "",
    );
    let wait = run({
        let mut c = pulp_init(&["wait", "--conf", conf.arg()]);
        c.env("PULP_INIT_TIMEOUT", "20s");
        c
    });
    assert_eq!(wait.code, Some(0), "{}", wait.stderr);
    has(&wait.stderr, "mongodb (127.0.0.1:");
    has(&wait.stderr, "ready after");

    let check = run(pulp_init(&["check", "--conf", conf.arg()]));
    assert_eq!(check.code, Some(0), "{}", check.stderr);

    // The full run on a real Pulp file: config from the environment, wait for what the
    // edited file names, then the command's own status.
    let pulp_conf = Conf::new(
        &std::fs::read_to_string(repo().join("tests/fixtures/server-conf/pulp-2.21-final.conf"))
            .unwrap(),
    );
    let mut c = pulp_init(&[
        "--role",
        "beat",
        "--skip-migrate",
        "--user",
        "nobody",
        "--conf",
        pulp_conf.arg(),
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    c.env("DB_SERVICE_HOST", "127.0.0.1")
        .env("DB_SERVICE_PORT", mongo.port.to_string())
        .env("MSG_SERVICE_HOST", "127.0.0.1")
        .env("MSG_SERVICE_PORT", rabbit.port.to_string())
        .env("MSG_SERVICE_TYPE", "rabbitmq");
    let role = run(c);
    assert_eq!(role.code, Some(3), "{}", role.stderr);
    has(&role.stderr, "set [tasks] broker_url");
    has(&role.stderr, "broker (amqp://guest@127.0.0.1:");

    // qpid:// gets an AMQP protocol header exchange: RabbitMQ answers with its own.
    let qpid = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &format!("qpid://guest@127.0.0.1:{}/", rabbit.port),
        "",
    );
    let check = run(pulp_init(&["check", "--conf", qpid.arg()]));
    assert_eq!(check.code, Some(0), "{}", check.stderr);
    has(&check.stderr, "AMQP protocol header 0.0.9.1");
}

#[test]
fn wrong_broker_password_is_reported_as_such_and_stops_early() {
    let mongo = Mongo::start();
    let rabbit = Rabbit::start();
    rabbit.add_user("pulp", "right-pass", "pulpvh");
    let good = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &format!("amqp://pulp:right-pass@127.0.0.1:{}/pulpvh", rabbit.port),
        "",
    );
    let ok = run(pulp_init(&["check", "--conf", good.arg()]));
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);

    let bad = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &format!("amqp://pulp:wrong-pass@127.0.0.1:{}/pulpvh", rabbit.port),
        "",
    );
    let wait = run(pulp_init(&[
        "wait",
        "--timeout",
        "30s",
        "--conf",
        bad.arg(),
    ]));
    assert_eq!(wait.code, Some(69), "{}", wait.stderr);
    assert!(
        wait.elapsed < Duration::from_secs(10),
        "not early: {:?}",
        wait.elapsed
    );
    has(&wait.stderr, "authentication failed");
    has(&wait.stderr, "ACCESS_REFUSED");
    assert!(
        !wait.stderr.contains("wrong-pass"),
        "password logged: {}",
        wait.stderr
    );

    let no_vhost = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &format!("amqp://pulp:right-pass@127.0.0.1:{}/other", rabbit.port),
        "",
    );
    let check = run(pulp_init(&["check", "--conf", no_vhost.arg()]));
    assert_eq!(check.code, Some(69));
    has(&check.stderr, "may not use vhost \"other\"");
}

#[test]
fn wrong_or_missing_mongodb_credentials_are_authentication_failures() {
    let mongo = Mongo::start_with_user("pulp", "db-secret", "pulp_database");
    let broker = BlackHole::start();
    let seeds = format!("127.0.0.1:{}", mongo.port);
    // The broker is irrelevant here: only the database is checked through `wait`'s
    // early stop, which ends both.
    let broker_url = format!("qpid://guest@127.0.0.1:{}/", broker.port);

    let right = Conf::with(&seeds, &broker_url, "username: pulp\npassword: db-secret");
    let ok = run(pulp_init(&[
        "check",
        "--conf",
        right.arg(),
        "--attempt-timeout",
        "3s",
    ]));
    assert!(
        ok.stderr.contains("mongodb (") && ok.stderr.contains("ready after"),
        "{}",
        ok.stderr
    );

    for (extra, what) in [
        ("username: pulp\npassword: not-it", "wrong password"),
        ("username: nobody\npassword: db-secret", "unknown user"),
        ("", "no credentials (ping alone would pass)"),
    ] {
        let conf = Conf::with(&seeds, &broker_url, extra);
        let wait = run(pulp_init(&[
            "wait",
            "--timeout",
            "30s",
            "--conf",
            conf.arg(),
        ]));
        assert_eq!(wait.code, Some(69), "{what}: {}", wait.stderr);
        assert!(
            wait.elapsed < Duration::from_secs(10),
            "{what}: not early: {:?}",
            wait.elapsed
        );
        assert!(
            wait.stderr.contains("mongodb (127.0.0.1:")
                && wait.stderr.contains("authentication failed"),
            "{what}: {}",
            wait.stderr
        );
        assert!(!wait.stderr.contains("db-secret") && !wait.stderr.contains("not-it"));
    }
}

#[test]
fn mongodb_started_late_is_noticed_quickly() {
    let port = free_port();
    let broker = Rabbit::start();
    let conf = Conf::with(
        &format!("127.0.0.1:{port}"),
        &amqp(broker.port, "guest", "guest"),
        "",
    );
    let waiting = Running::spawn(pulp_init(&[
        "wait",
        "--timeout",
        "40s",
        "--conf",
        conf.arg(),
    ]));
    waiting.wait_for_stderr("connection refused", Duration::from_secs(10));
    // The scenario: the database comes up 5 s after pulp-init started waiting.
    std::thread::sleep(Duration::from_secs(5));
    let _mongo = Mongo::start_on(port, None);
    let ready_at = std::time::Instant::now();
    let (code, _, _, stderr) = waiting.finish(Duration::from_secs(10));
    let noticed = ready_at.elapsed();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        noticed < Duration::from_secs(1),
        "noticed {noticed:?} after ready:\n{stderr}"
    );
    // One log line per state change, not one per attempt.
    assert_eq!(
        stderr.matches("waiting: connection refused").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_broker_that_never_comes_up_fails_at_the_deadline() {
    let mongo = Mongo::start();
    let conf = Conf::with(
        &format!("127.0.0.1:{}", mongo.port),
        &amqp(free_port(), "guest", "guest"),
        "",
    );
    let wait = run(pulp_init(&[
        "wait",
        "--timeout",
        "4s",
        "--conf",
        conf.arg(),
    ]));
    assert_eq!(wait.code, Some(69), "{}", wait.stderr);
    assert!(
        wait.elapsed >= Duration::from_secs(3) && wait.elapsed <= Duration::from_secs(5),
        "{:?}",
        wait.elapsed
    );
    let last = wait.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("pulp-init: error: broker (amqp://guest@127.0.0.1:"),
        "{last}"
    );
    has(
        last,
        "not ready within 4.0 s; last seen: connection refused",
    );
    assert!(!wait.stderr.contains("error: mongodb"), "{}", wait.stderr);
}

#[test]
fn a_black_hole_peer_is_bounded_by_the_attempt_timeout() {
    let hole = BlackHole::start();
    let conf = Conf::with(
        &format!("127.0.0.1:{}", hole.port),
        &amqp(hole.port, "guest", "guest"),
        "",
    );
    let check = run(pulp_init(&["check", "--conf", conf.arg()]));
    assert_eq!(check.code, Some(69), "{}", check.stderr);
    assert!(
        check.elapsed < Duration::from_secs(1),
        "{:?}",
        check.elapsed
    );
    assert_eq!(
        check.stderr.matches("error: ").count(),
        2,
        "{}",
        check.stderr
    );
    has(&check.stderr, "timed out");

    let wait = run(pulp_init(&[
        "wait",
        "--timeout",
        "3s",
        "--attempt-timeout",
        "500ms",
        "--conf",
        conf.arg(),
    ]));
    assert_eq!(wait.code, Some(69));
    assert!(wait.elapsed < Duration::from_secs(4), "{:?}", wait.elapsed);
}

#[test]
fn a_name_that_does_not_resolve_is_a_dns_failure() {
    // A private network namespace: only loopback exists, no resolver is reachable.
    let conf = Conf::with(
        "mongo.invalid:27017",
        "amqp://guest:guest@rabbit.invalid:5672//",
        "",
    );
    let mut c = std::process::Command::new("unshare");
    c.args([
        "--net",
        "sh",
        "-c",
        r#"ip link set lo up; exec "$0" wait --timeout 2s --conf "$1""#,
    ])
    .arg(BIN)
    .arg(conf.arg());
    let wait = run(c);
    assert_eq!(wait.code, Some(69), "{}", wait.stderr);
    assert!(
        wait.stderr.contains(
            "mongodb (mongo.invalid:27017): not ready within 2.0 s; last seen: DNS failure"
        ),
        "{}",
        wait.stderr
    );
    has(&wait.stderr, "broker (amqp://guest@rabbit.invalid:5672 vhost /): not ready within 2.0 s; last seen: DNS failure");
}

#[test]
fn sigterm_or_sigint_during_the_wait_ends_pulp_init_at_once() {
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let conf = Conf::with(
            &format!("127.0.0.1:{}", free_port()),
            &amqp(free_port(), "guest", "guest"),
            "",
        );
        let waiting = Running::spawn(pulp_init(&[
            "wait",
            "--timeout",
            "60s",
            "--conf",
            conf.arg(),
        ]));
        waiting.wait_for_stderr("waiting: connection refused", Duration::from_secs(10));
        let sent = std::time::Instant::now();
        let pid = i32::try_from(waiting.child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        let (status, _, _, stderr) = waiting.finish(Duration::from_secs(5));
        let took = sent.elapsed();
        assert_eq!(status, Some(code), "{stderr}");
        assert!(took < Duration::from_millis(500), "took {took:?}");
        has(&stderr, "received before the service started");
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost, made with openssl.
fn certificates(dir: &std::path::Path) {
    let sh = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca
"#;
    let out = std::process::Command::new("sh")
        .args(["-c", sh])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mongodb_over_tls_is_checked_with_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let mongo = Mongo::start_tls(
        &dir.path().join("server.pem"),
        &dir.path().join("server.key"),
    );
    let broker = AmqpHeaderResponder::start();
    let broker_url = format!("qpid://guest@127.0.0.1:{}/", broker.port);
    let seeds = format!("127.0.0.1:{}", mongo.port);
    let ca = |file: &str| format!("ssl: true\nca_path: {}", dir.path().join(file).display());

    let good = Conf::with(&seeds, &broker_url, &ca("ca.pem"));
    let out = run(pulp_init(&[
        "check",
        "--conf",
        good.arg(),
        "--attempt-timeout",
        "3s",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "tls): ready after");

    let unverified = Conf::with(&seeds, &broker_url, "ssl: true\nverify_ssl: false");
    let out = run(pulp_init(&[
        "check",
        "--conf",
        unverified.arg(),
        "--attempt-timeout",
        "3s",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let wrong_ca = Conf::with(&seeds, &broker_url, &ca("other.pem"));
    let out = run(pulp_init(&["check", "--conf", wrong_ca.arg()]));
    assert_eq!(out.code, Some(69), "{}", out.stderr);
    has(&out.stderr, "last seen: TLS failure: ");
    has(&out.stderr, "UnknownIssuer");
}

/// Issue 15: a kombu failover list (`url1;url2`) made `check` exit 78 ("1;amqp" is not a
/// port). It is tried as kombu tries it: ready when one URL answers, even when the first
/// is a host that never answers (each URL gets a share of the attempt's time).
#[test]
fn a_failover_broker_url_is_ready_when_one_of_its_urls_answers() {
    let mongo = Mongo::start();
    let responder = AmqpHeaderResponder::start();
    let hole = BlackHole::start();
    for first in [free_port(), hole.port] {
        let conf = Conf::with(
            &format!("127.0.0.1:{}", mongo.port),
            &format!(
                "qpid://guest@127.0.0.1:{first}/;qpid://guest@127.0.0.1:{}/",
                responder.port
            ),
            "",
        );
        let check = run(pulp_init(&["check", "--conf", conf.arg()]));
        assert_eq!(check.code, Some(0), "{}", check.stderr);
        has(&check.stderr, "(and 1 failover URL)): ready");
        has(&check.stderr, "failover URL 1 (127.0.0.1:");
    }
}
