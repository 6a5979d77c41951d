//! Migrations exactly once, against SecantusDB through the real driver, with a stand-in
//! for pulp-manage-db (tests/apps/migrate.py) that records every run in MongoDB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn runs_once_skips_a_restart_and_runs_again_for_a_new_fingerprint() {
    let db = Db::new();
    let first = run(db.migrate(&[], &[]));
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    has(&first.stderr, "migrations: running");
    has(&first.stderr, "migrations: done in");
    // Its output streams through pulp-init's.
    assert!(
        first.stdout.contains("migration ") && first.stdout.contains("exits 0"),
        "{}",
        first.stdout
    );
    assert_eq!(db.runs(), (1, 1));

    let restart = run(db.migrate(&[], &[]));
    assert_eq!(restart.code, Some(0), "{}", restart.stderr);
    assert!(
        restart
            .stderr
            .contains("migrations: skipped: already done for fingerprint pulp-2.21.5-1"),
        "{}",
        restart.stderr
    );
    assert_eq!(db.runs(), (1, 1));

    let upgrade = run(db.migrate(&[], &[("PULP_INIT_MIGRATION_FINGERPRINT", "pulp-2.21.6-1")]));
    assert_eq!(upgrade.code, Some(0), "{}", upgrade.stderr);
    assert_eq!(db.runs(), (2, 2));
    assert_eq!(db.query("records"), "2");

    let forced = run(db.migrate(&["--force"], &[]));
    assert_eq!(forced.code, Some(0), "{}", forced.stderr);
    has(&forced.stderr, "forced");
    assert_eq!(db.runs(), (3, 3));
    assert_eq!(db.query("lock"), "free");
}

#[test]
fn five_beats_started_together_run_it_exactly_once() {
    let db = Db::new();
    let beats: Vec<Running> = (0..5)
        .map(|_| Running::spawn(db.migrate(&[], &[("MIGRATE_SLEEP", "2")])))
        .collect();
    let results: Vec<_> = beats
        .into_iter()
        .map(|b| b.finish(Duration::from_secs(60)))
        .collect();
    for (code, _, _, out) in &results {
        assert_eq!(*code, Some(0), "{out}");
    }
    assert_eq!(db.runs(), (1, 1));
    let ran = results
        .iter()
        .filter(|r| r.3.contains("migrations: done in"))
        .count();
    let waited = results
        .iter()
        .filter(|r| r.3.contains("migrations: waiting:"))
        .count();
    let skipped = results
        .iter()
        .filter(|r| r.3.contains("migrations: skipped"))
        .count();
    assert_eq!((ran, skipped), (1, 4));
    assert!(waited >= 1, "nobody waited for the holder");
    assert_eq!(db.query("lock"), "free");
}

#[test]
fn a_holder_killed_mid_migration_is_replaced_once_its_lease_expires() {
    let db = Db::new();
    // The holder is PID 1 of its own namespace: SIGKILL to it ends the migration too, as
    // when a node dies.
    let command = migrate_command();
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child", BIN])
        .args([
            "migrate",
            "--conf",
            db.conf.arg(),
            "--user",
            MIGRATE_USER,
            "--lock-lease",
            "24s",
        ])
        .args(["--migrate-command", &command])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TEST_MONGO_URL", db.url())
        .envs(migrate_env(&db.conf))
        .env("PULP_INIT_MIGRATION_FINGERPRINT", "fp")
        .env("MIGRATE_SLEEP", "60");
    let holder = Running::spawn(c);
    holder.wait_for_stderr("migration ", Duration::from_secs(20));
    assert_ne!(db.query("lock"), "free");
    let init = init_pid(holder.child.id());
    assert_eq!(unsafe { libc::kill(init, libc::SIGKILL) }, 0);
    let (_, _, _, _) = holder.finish(Duration::from_secs(10));
    assert_eq!(db.runs(), (1, 0));
    assert_ne!(
        db.query("lock"),
        "free",
        "a killed holder cannot release its lock"
    );

    let next = run(db.migrate(
        &["--lock-lease", "24s"],
        &[("PULP_INIT_MIGRATION_FINGERPRINT", "fp")],
    ));
    assert_eq!(next.code, Some(0), "{}", next.stderr);
    has(&next.stderr, "migrations: waiting:");
    has(&next.stderr, "migrations: done in");
    assert_eq!(db.runs(), (2, 1));
    assert_eq!(db.query("lock"), "free");
}

#[test]
fn a_failed_migration_is_not_recorded_and_runs_again_next_time() {
    let db = Db::new();
    let failed = run(db.migrate(&[], &[("MIGRATE_EXIT", "3")]));
    assert_eq!(failed.code, Some(3), "{}", failed.stderr);
    has(&failed.stderr, "failed with exit status 3");
    assert_eq!(db.query("records"), "0");
    assert_eq!(db.query("lock"), "free");

    let again = run(db.migrate(&[], &[]));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(!again.stderr.contains("waiting"), "{}", again.stderr);
    assert_eq!(db.runs(), (2, 1));
    assert_eq!(db.query("records"), "1");
}

#[test]
fn a_deterministic_failure_runs_once_and_names_the_migration_and_the_exception() {
    // pulp-manage-db exits 70 for any exception; with no Pulp process online and the
    // database reachable, a second run would fail the same way.
    let db = Db::new();
    let out = run(db.migrate(&[], &[("MIGRATE_EXIT", "70")]));
    assert_eq!(out.code, Some(70), "{}", out.stderr);
    has(
        &out.stderr,
        "failed with exit status 70: migration pulp.server.db.migrations.0030_stand_in failed: ValueError: stand-in migration failed (attempt 1 of 3",
    );
    has(&out.stderr, "not retried: no Pulp process came online");
    // The kept lines: Pulp's line naming the migration once, though printed twice.
    let error = &out.stderr[out.stderr.find("not retried").unwrap()..];
    assert_eq!(
        error
            .matches("| Applying migration pulp.server.db.migrations.0030_stand_in failed.")
            .count(),
        1,
        "{error}"
    );
    has(error, "repeated lines collapsed");
    assert_eq!(db.runs(), (1, 0));
    assert_eq!(db.query("records"), "0");
    assert_eq!(db.query("lock"), "free");
}

#[test]
fn a_failure_while_a_pulp_process_came_online_is_retried_once_it_has_gone() {
    let db = Db::with_conf("[tasks]\nworker_timeout: 6\n");
    let beat = Running::spawn(db.migrate(
        &["--migrate-settle", "0s"],
        &[("MIGRATE_EXIT_FIRST", "70"), ("MIGRATE_SLEEP", "2")],
    ));
    beat.wait_for_stderr("migrations: running", Duration::from_secs(30));
    // A process of the old deployment sends one heartbeat during the run: online for the
    // next 6 s, past the run's end.
    db.query_args(&[
        "insert",
        "workers",
        r#"{"_id": "reserved_resource_worker-1@old-pod", "last_heartbeat": {"$now": 0}}"#,
    ]);
    let (code, _, _, log) = beat.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    has(
        &log,
        "Pulp processes came online during the run (reserved_resource_worker-1@old-pod): waiting for them to go, then retrying",
    );
    has(&log, "attempt 2 of 3");
    assert_eq!(db.runs(), (2, 1));
    assert_eq!(db.query("records"), "1");
}

#[test]
fn as_root_the_migration_fails_at_once_as_pulp_manage_db_does() {
    let db = Db::new();
    let out = run(db.migrate(&["--user", "root"], &[]));
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    has(&out.stderr, "must not be run as root");
    has(&out.stderr, "not retried");
    assert_eq!(db.runs(), (0, 0));
}

#[test]
fn two_beats_without_a_version_file_migrate_once() {
    let db = Db::new();
    let beats: Vec<Running> = (0..2)
        .map(|_| {
            let mut c = db.migrate(&[], &[("MIGRATE_SLEEP", "3")]);
            c.env_remove("PULP_INIT_MIGRATION_FINGERPRINT");
            Running::spawn(c)
        })
        .collect();
    for beat in beats {
        let (code, _, _, log) = beat.finish(Duration::from_secs(60));
        assert_eq!(code, Some(0), "{log}");
        assert_eq!(log.matches("no version file").count(), 1, "{log}");
    }
    assert_eq!(db.runs(), (1, 1));
}

#[test]
fn a_skip_after_a_dry_run_keeps_the_migrating_runs_record() {
    let db = Db::new();
    let unversioned = || {
        let mut c = db.migrate(&[], &[("MIGRATE_SLEEP", "1")]);
        c.env_remove("PULP_INIT_MIGRATION_FINGERPRINT");
        c
    };
    let first = run(unversioned());
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let fingerprint = first
        .stderr
        .split("(fingerprint ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .to_string();
    let migrated = db.query_args(&["record-of", &fingerprint]);
    has(&migrated, "\"how\": \"migrated\"");
    let again = run(unversioned());
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    has(&again.stderr, "--dry-run reports nothing to migrate");
    let after = db.query_args(&["record-of", &fingerprint]);
    let field = |doc: &str, key: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        v[key].to_string()
    };
    for key in ["completed_at", "holder", "seconds", "how"] {
        assert_eq!(field(&migrated, key), field(&after, key), "{key}: {after}");
    }
    assert_ne!(field(&after, "confirmed_at"), "null", "{after}");
    assert_eq!(db.runs(), (1, 1));
}

#[test]
fn a_lost_lease_stops_a_wrappers_child_too_before_pulp_init_exits() {
    let db = Db::new();
    let holder = Running::spawn(db.migrate(
        &["--lock-lease", "3s"],
        &[("MIGRATE_SLEEP", "60"), ("MIGRATE_CHILD", "1")],
    ));
    holder.wait_for_stderr("migration ", Duration::from_secs(30));
    let child: i32 = db.query("pids").parse().unwrap();
    assert_eq!(unsafe { libc::kill(db.mongo.pid(), libc::SIGSTOP) }, 0);
    let (code, _, _, log) = holder.finish(Duration::from_secs(30));
    assert_eq!(unsafe { libc::kill(db.mongo.pid(), libc::SIGCONT) }, 0);
    assert_eq!(code, Some(75), "{log}");
    has(&log, "its process group");
    // The wrapper's child, which did the work, is not running any more.
    let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
    let running = state
        .rsplit(") ")
        .next()
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.is_empty());
    assert!(!running, "pid {child} still runs: {state}\n{log}");
}

#[test]
fn the_migration_waits_the_settle_time_after_the_last_record_goes() {
    let db = Db::with_conf("[tasks]\nworker_timeout: 30\n");
    db.query_args(&["workers", "1"]);
    let beat = Running::spawn(db.migrate(&["--migrate-settle", "2s"], &[]));
    beat.wait_for_stderr("previous deployment are online", Duration::from_secs(30));
    // The worker's clean stop removes its record.
    let removed: f64 = db
        .query_args(&["delete-worker", "reserved_resource_worker-0@pod"])
        .parse()
        .unwrap();
    let (code, _, _, log) = beat.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    has(
        &log,
        "more for the last processes to end (--migrate-settle)",
    );
    let started: f64 = db.query("first-start").parse().unwrap();
    assert!(started - removed >= 2.0, "{:.3}\n{log}", started - removed);
}

#[test]
fn sigterm_during_the_migration_is_forwarded_and_the_lock_released() {
    let db = Db::new();
    let running = Running::spawn(db.migrate(&[], &[("MIGRATE_SLEEP", "60")]));
    running.wait_for_stderr("migrations: running", Duration::from_secs(20));
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !running.stdout().contains("started") {
        assert!(std::time::Instant::now() < until, "{}", running.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = i32::try_from(running.child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (code, _, _, out) = running.finish(Duration::from_secs(20));
    assert_eq!(code, Some(143), "{out}");
    has(&out, "got signal 15");
    has(&out, "lock released");
    assert_eq!(db.query("lock"), "free");
    assert_eq!(db.query("records"), "0");
}

#[test]
fn the_beat_role_migrates_before_its_command_and_skips_on_restart() {
    let db = Db::new();
    let broker = AmqpHeaderResponder::start();
    let conf = Conf::new(&format!(
        "[server]\nlog_type: console\n[database]\nseeds: 127.0.0.1:{}\n[tasks]\nbroker_url: qpid://guest@127.0.0.1:{}/\n",
        db.mongo.port, broker.port
    ))
    .readable();
    let command = migrate_command();
    for expected in ["migrations: done in", "migrations: skipped"] {
        let mut c = pulp_init(&[
            "--role",
            "beat",
            "--user",
            MIGRATE_USER,
            "--conf",
            conf.arg(),
            "--migrate-command",
            &command,
            "--",
            "sh",
            "-c",
            "echo beat runs",
        ]);
        c.env("TEST_MONGO_URL", db.url())
            .envs(migrate_env(&conf))
            .env("PULP_INIT_MIGRATION_FINGERPRINT", "fp");
        let out = run(c);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(out.stderr.contains(expected), "{}", out.stderr);
        has(&out.stdout, "beat runs");
    }
    assert_eq!(db.runs(), (1, 1));
}

#[test]
fn waiting_for_a_held_lock_ends_at_the_deadline_with_75() {
    let db = Db::new();
    let holder = Running::spawn(db.migrate(&[], &[("MIGRATE_SLEEP", "30")]));
    holder.wait_for_stderr("migrations: running", Duration::from_secs(20));
    let waiter = run(db.migrate(&["--migrate-timeout", "2s"], &[]));
    assert_eq!(waiter.code, Some(75), "{}", waiter.stderr);
    has(&waiter.stderr, "migrations: waiting:");
    has(&waiter.stderr, "still held by");
    assert!(
        waiter.elapsed < Duration::from_secs(10),
        "{:?}",
        waiter.elapsed
    );
    let pid = i32::try_from(holder.child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (code, _, _, out) = holder.finish(Duration::from_secs(20));
    assert_eq!(code, Some(143), "{out}");
    assert_eq!(db.query("lock"), "free");
}

/// Issue 15: `--migrate-timeout` near u64 seconds panicked (134) once the database
/// answered; a blank PULP_INIT_MIGRATE_COMMAND ended in 70; a FIFO as the version file
/// blocked forever. Each is refused with 64 and one line.
#[test]
fn a_huge_migrate_timeout_a_blank_command_or_a_fifo_version_file_is_refused_with_64() {
    let db = Db::new();
    let out = run(db.migrate(&["--migrate-timeout", "10000000000000000000"], &[]));
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    has(&out.stderr, "--migrate-timeout");
    has(&out.stderr, "from 0 to 87600h");

    let mut blank = pulp_init(&["migrate", "--conf", db.conf.arg(), "--user", "root"]);
    blank
        .env("PULP_INIT_MIGRATE_COMMAND", " ")
        .env("PULP_INIT_MIGRATION_FINGERPRINT", "fp");
    let out = run(blank);
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    has(&out.stderr, "is empty or only white space");

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("version");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let cmd = db.migrate(
        &["--version-file", fifo.to_str().unwrap()],
        &[("PULP_INIT_MIGRATION_FINGERPRINT", "")],
    );
    let (code, _, _, log) = Running::spawn(cmd).finish(Duration::from_secs(20));
    assert_eq!(code, Some(64), "{log}");
    has(&log, "PULP_INIT_VERSION_FILE");
    has(&log, "it is a FIFO; give a regular file");
    assert_eq!(db.runs(), (0, 0));
}

/// Issue 15: a lock document without a readable `expires` (missing, or not a date) was
/// never taken: beat waited the whole --migrate-timeout, logging "(lease until )". It is
/// taken as expired, with a warning that says why.
#[test]
fn a_lock_without_a_readable_expiry_is_taken_as_expired() {
    for (lock, says) in [
        (
            r#"{"_id": "migration_lock", "holder": "ghost"}"#,
            "the lock held by ghost had no expiry (no expires field): taken as expired",
        ),
        (
            r#"{"_id": "migration_lock", "holder": "ghost", "expires": "tomorrow"}"#,
            "the lock held by ghost had an unreadable expiry (expires is String, not a date)",
        ),
    ] {
        let db = Db::new();
        db.query_args(&["insert", "pulp_init", lock]);
        let out = run(db.migrate(&["--migrate-timeout", "10s"], &[]));
        assert_eq!(out.code, Some(0), "{lock}: {}", out.stderr);
        has(&out.stderr, says);
        has(&out.stderr, "migrations: done in");
        assert!(!out.stderr.contains("lease until )"), "{}", out.stderr);
        assert_eq!(db.runs(), (1, 1));
        assert_eq!(db.query("lock"), "free");
    }
}
