//! Which pods of a deployment still run, for a beat of the next image: every supervised
//! role keeps a presence record (httpd too, which has no record in Pulp's `workers`), a
//! later beat waits for those of the previous deployment; and an older image refuses a
//! database a newer one migrated. SecantusDB through the real driver, the pulp-manage-db
//! stand-in (tests/apps/migrate.py), pulp-init as PID 1 of its own PID and UTS namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// `pulp-init --role apache -- sleep 600` as PID 1 of new PID and UTS namespaces whose
/// host name is `host`, image `fingerprint`: a pod of the previous deployment.
fn pod(db: &Db, host: &str, fingerprint: &str) -> Running {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--uts", "--fork", "--mount-proc", "--kill-child"])
        .args(["sh", "-c", "hostname \"$0\" && exec \"$@\"", host, BIN])
        .args([
            "--role",
            "apache",
            "--conf",
            db.conf.arg(),
            "--skip-config",
            "--skip-wait",
            "--skip-migrate-wait",
            "--skip-storage",
            // httpd's own rewrite is SIGWINCH, which sleep ignores.
            "--rewrite",
            "TERM:TERM",
            "--",
            "sleep",
            "600",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(HOST_SAFE)
        .env("PULP_INIT_MIGRATION_FINGERPRINT", fingerprint);
    Running::spawn(c)
}

/// The presence record of `host`, once it is there.
fn record_of(db: &Db, host: &str) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = db
            .query("pods")
            .lines()
            .find(|l| l.contains(&format!("\"pod:{host}\"")))
        {
            return serde_json::from_str(line).unwrap();
        }
        assert!(Instant::now() < until, "no presence record for {host}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: i32, sig: i32) {
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

fn beat(db: &Db, fingerprint: &str) -> Running {
    Running::spawn(db.migrate(
        &["--migrate-settle", "0s"],
        &[("PULP_INIT_MIGRATION_FINGERPRINT", fingerprint)],
    ))
}

#[test]
fn a_pod_is_announced_while_its_service_runs_and_a_later_beat_migrates_only_after_it_stopped() {
    let db = Db::with_conf("[tasks]\nworker_timeout: 5\n");
    let old = pod(&db, "old-apache", "fp-v1");
    let record = record_of(&db, "old-apache");
    assert_eq!(record["role"], "apache", "{record}");
    assert_eq!(record["fingerprint"], "fp-v1", "{record}");
    has(
        &old.stderr(),
        "presence: announcing this pod (apache, image fp-v1)",
    );

    let new = beat(&db, "fp-v2");
    new.wait_for_stderr(
        "previous deployment are online: apache on old-apache (image fp-v1, seen ",
        Duration::from_secs(20),
    );
    assert_eq!(db.runs(), (0, 0), "{}", new.stderr());

    // docker stop: the service ends, then the record goes, before PID 1 exits.
    let init = init_pid(old.child.id());
    let stopped = Instant::now();
    signal(init, libc::SIGTERM);
    let (code, _, _, log) = old.finish(Duration::from_secs(10));
    assert_eq!(code, Some(143), "{log}");
    assert!(
        !db.query("pods").contains("old-apache"),
        "the record outlived the pod:\n{log}"
    );
    let (code, _, _, beat_log) = new.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{beat_log}");
    has(&beat_log, "no Pulp process is online any more");
    assert_eq!(db.runs(), (1, 1), "{beat_log}");
    // Not after the record aged out (worker_timeout 5 s): when it was withdrawn.
    assert!(
        stopped.elapsed() < Duration::from_secs(5) + Duration::from_secs(4),
        "the beat took {:?}",
        stopped.elapsed()
    );
}

#[test]
fn a_killed_pods_record_stays_and_counts_until_it_is_worker_timeout_old() {
    let db = Db::with_conf("[tasks]\nworker_timeout: 4\n");
    let old = pod(&db, "killed-pod", "fp-v1");
    record_of(&db, "killed-pod");
    // SIGKILL to unshare: the kernel kills its PID 1, and with it the whole namespace.
    signal(old.child.id() as i32, libc::SIGKILL);
    old.finish(Duration::from_secs(10));
    assert!(db.query("pods").contains("killed-pod"));
    let new = beat(&db, "fp-v2");
    let (code, _, _, log) = new.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    has(&log, "apache on killed-pod (image fp-v1, seen ");
    has(&log, "no Pulp process is online any more");
    assert_eq!(db.runs(), (1, 1), "{log}");
}

#[test]
fn without_supervision_or_with_skip_presence_no_record_is_kept() {
    let db = Db::new();
    let ways: [&[&str]; 2] = [
        &["--mode", "supervise", "--skip-presence"],
        &["--mode", "exec"],
    ];
    for how in ways {
        let mut args = vec![
            "--role",
            "worker",
            "--conf",
            db.conf.arg(),
            "--user",
            MIGRATE_USER,
            "--skip-config",
            "--skip-wait",
            "--skip-migrate-wait",
            "--skip-storage",
        ];
        args.extend_from_slice(how);
        args.extend_from_slice(&["--", "sleep", "1"]);
        let out = run(pulp_init(&args));
        assert_eq!(out.code, Some(0), "{how:?}: {}", out.stderr);
        assert!(!out.stderr.contains("presence"), "{how:?}: {}", out.stderr);
        assert_eq!(db.query("pods"), "", "{how:?}");
    }
    // The control: supervised, the same command is announced.
    let out = run(pulp_init(&[
        "--role",
        "worker",
        "--conf",
        db.conf.arg(),
        "--user",
        MIGRATE_USER,
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--skip-storage",
        "--mode",
        "supervise",
        "--",
        "sleep",
        "1",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "presence: announcing this pod (worker, image ");
}

#[test]
fn an_older_image_refuses_a_database_a_newer_one_migrated_unless_allowed() {
    let db = Db::new();
    db.query_args(&["record", "fp-v1"]);
    // A newer image that found nothing to migrate changed no schema.
    db.query_args(&[
        "insert",
        "pulp_init",
        r#"{"_id": "migrated:fp-v1b", "fingerprint": "fp-v1b", "completed_at": {"$now": 1}, "holder": "b", "how": "dry-run"}"#,
    ]);
    let out = run(db.gated_worker("fp-v1", &[]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    db.query_args(&["record", "fp-v2"]);
    let out = run(db.gated_worker("fp-v1", &[]));
    assert_eq!(out.code, Some(75), "{}", out.stderr);
    has(
        &out.stderr,
        "schema: the database was migrated for a newer image, fingerprint fp-v2 by test-beat at ",
    );
    has(&out.stderr, "after this image's (fp-v1 by test-beat at ");
    has(&out.stderr, "--allow-older-image");
    assert!(!out.stderr.contains("running true"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    let out = run(db.gated_worker("fp-v1", &["--allow-older-image"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stderr, "starting anyway (--allow-older-image)");

    // Beat of the older image: the same refusal, before it would start celery beat.
    let out = run(db.migrate(&[], &[("PULP_INIT_MIGRATION_FINGERPRINT", "fp-v1")]));
    assert_eq!(out.code, Some(75), "{}", out.stderr);
    has(
        &out.stderr,
        "migrations: the database was migrated for a newer image, fingerprint fp-v2",
    );
    let out = run(db.migrate(
        &[],
        &[
            ("PULP_INIT_MIGRATION_FINGERPRINT", "fp-v1"),
            ("PULP_INIT_ALLOW_OLDER_IMAGE", "true"),
        ],
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "migrations: skipped: already done for fingerprint fp-v1",
    );
    assert_eq!(db.runs(), (0, 0));
}

#[test]
fn the_gate_does_not_open_on_its_own_record_while_a_migration_runs() {
    let db = Db::new();
    db.query_args(&["record", "fp-v1"]);
    db.query_args(&[
        "insert",
        "pulp_init",
        r#"{"_id": "migration_lock", "holder": "beat-of-v2", "expires": {"$now": 60}}"#,
    ]);
    let gate = Running::spawn(db.gated_worker("fp-v1", &[]));
    gate.wait_for_stderr(
        "schema: a migration is running (beat-of-v2, lease until ",
        Duration::from_secs(20),
    );
    assert!(!gate.stderr().contains("running true"), "{}", gate.stderr());
    // The migration ends: its lock goes (and here no newer record came).
    assert_eq!(
        db.query_args(&["delete", "pulp_init", r#"{"_id": "migration_lock"}"#]),
        "1"
    );
    let (code, _, _, log) = gate.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{log}");
    has(&log, "schema: migrated for this image (fp-v1 by test-beat");
}

#[test]
fn a_pod_of_beats_own_image_is_not_the_previous_deployment() {
    // Started with --skip-migrate-wait (or at once), it runs this image already: beat does
    // not wait for it.
    let db = Db::with_conf("[tasks]\nworker_timeout: 30\n");
    let same = pod(&db, "same-image", "fp-v2");
    record_of(&db, "same-image");
    let (code, _, _, log) = beat(&db, "fp-v2").finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("same-image"), "{log}");
    assert_eq!(db.runs(), (1, 1), "{log}");
    signal(init_pid(same.child.id()), libc::SIGTERM);
    same.finish(Duration::from_secs(10));
}
