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
    let command = format!("{} {}", python(), program());
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child", BIN])
        .args([
            "migrate",
            "--conf",
            db.conf.arg(),
            "--user",
            "root",
            "--lock-lease",
            "24s",
        ])
        .args(["--migrate-command", &command])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TEST_MONGO_URL", db.url())
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
fn exit_70_with_no_worker_online_is_a_failure_retried_a_bounded_number_of_times() {
    // pulp-manage-db exits 70 for live workers AND for any crash; with no Pulp process
    // online it is a crash: reported as such, with the command's output.
    let db = Db::new();
    let out = run(db.migrate(&[], &[("MIGRATE_EXIT_FIRST", "70")]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "failed with exit status 70 (no Pulp process was online",
    );
    has(&out.stderr, "attempt 2 of 3");
    has(&out.stderr, "| migration ");
    assert!(
        !out.stderr.contains("workers are still running"),
        "{}",
        out.stderr
    );
    assert_eq!(db.runs(), (2, 1));

    let db = Db::new();
    let out = run(db.migrate(&[], &[("MIGRATE_EXIT", "70")]));
    assert_eq!(out.code, Some(70), "{}", out.stderr);
    has(&out.stderr, "failed with exit status 70 (attempt 3 of 3");
    has(&out.stderr, "exits 70");
    assert_eq!(db.runs(), (3, 0));
    assert_eq!(db.query("records"), "0");
    assert_eq!(db.query("lock"), "free");
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
        "[database]\nseeds: 127.0.0.1:{}\n[tasks]\nbroker_url: qpid://guest@127.0.0.1:{}/\n",
        db.mongo.port, broker.port
    ));
    let command = format!("{} {}", python(), program());
    for expected in ["migrations: done in", "migrations: skipped"] {
        let mut c = pulp_init(&[
            "--role",
            "beat",
            "--user",
            "root",
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
