//! Every role starts on a migrated database: the schema gate of the roles that do not
//! migrate, beat waiting for the previous deployment's processes, the fenced lease and
//! the server's clock. SecantusDB through the real driver, the pulp-manage-db stand-in
//! (tests/apps/migrate.py) for the command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_gate_opens_on_the_record_of_this_images_fingerprint() {
    let db = Db::new();
    db.query_args(&["record", "fp-old"]);
    let running = Running::spawn(db.gated_worker("fp-new", &[]));
    running.wait_for_stderr("schema: waiting", Duration::from_secs(20));
    has(&running.stderr(), "fingerprint fp-new");
    has(
        &running.stderr(),
        "last migrated for fp-old by test-beat at 20",
    );
    // A beat of the new image migrates.
    let beat = run(db.migrate(&[], &[("PULP_INIT_MIGRATION_FINGERPRINT", "fp-new")]));
    assert_eq!(beat.code, Some(0), "{}", beat.stderr);
    let (code, _, _, log) = running.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{log}");
    has(&log, "schema: migrated for this image (fp-new by ");
}

#[test]
fn at_the_deadline_the_gate_names_both_fingerprints() {
    let db = Db::new();
    db.query_args(&["record", "fp-old"]);
    let out = run(db.gated_worker("fp-new", &["--migrate-timeout", "1s"]));
    assert_eq!(out.code, Some(75), "{}", out.stderr);
    has(
        &out.stderr,
        "schema: database migrated for fp-old by test-beat at 20",
    );
    has(
        &out.stderr,
        "this image is fp-new: start a beat of this image",
    );
    assert!(!out.stderr.contains("running true"), "{}", out.stderr);
}

#[test]
fn a_database_migrated_outside_pulp_init_opens_the_gate_by_dry_run() {
    let db = Db::new();
    let running = Running::spawn(db.gated_worker("fp-new", &[]));
    running.wait_for_stderr("schema: waiting", Duration::from_secs(20));
    has(
        &running.stderr(),
        "the database has no migration record yet",
    );
    db.query_args(&["schema-current"]);
    let (code, _, _, log) = running.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{log}");
    has(&log, "--dry-run reports nothing to migrate");
    has(&log, "(recorded for fp-new)");
    // The answer is recorded, as beat records it: a beat of this image skips.
    has(
        &db.query_args(&["record-of", "fp-new"]),
        "\"how\": \"dry-run\"",
    );
}

#[test]
fn a_new_image_without_new_migrations_does_not_keep_its_beat_waiting_for_its_own_workers() {
    // A rebuild with a new version file and the same schema: the gated roles open on
    // --dry-run and heartbeat; the new beat, waiting for "the previous deployment", must
    // not wait for them until --migrate-timeout (and again after every restart).
    let db = Db::new();
    db.query_args(&["record", "fp-old"]);
    db.query_args(&["schema-current"]);
    let mut heartbeat = db.heartbeat("reserved_resource_worker-1@new-pod", 120);
    let beat = Running::spawn(db.migrate(
        &["--migrate-timeout", "60s"],
        &[("PULP_INIT_MIGRATION_FINGERPRINT", "fp-new")],
    ));
    beat.wait_for_stderr(
        "previous deployment are online: reserved_resource_worker-1@new-pod",
        Duration::from_secs(20),
    );
    let out = run(db.gated_worker("fp-new", &[]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (code, _, elapsed, log) = beat.finish(Duration::from_secs(20));
    let _ = heartbeat.kill();
    let _ = heartbeat.wait();
    assert_eq!(code, Some(0), "{log}");
    has(
        &log,
        "migrations: a record for this image came while waiting (fp-new by ",
    );
    has(
        &log,
        "migrations: skipped: done meanwhile for fingerprint fp-new",
    );
    assert_eq!(db.runs(), (0, 0), "{log}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

#[test]
fn skip_migrate_wait_starts_at_once() {
    let db = Db::new();
    let out = run(db.gated_worker("fp-new", &["--skip-migrate-wait"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("schema:"), "{}", out.stderr);
    let mut env_off = db.gated_worker("fp-new", &[]);
    env_off.env("PULP_INIT_SKIP_MIGRATE_WAIT", "1");
    let out = run(env_off);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn beat_waits_for_online_workers_and_migrates_as_soon_as_they_are_gone() {
    // worker_timeout 4 s: a heartbeat older than that is a stopped process.
    let db = Db::with_conf("[tasks]\nworker_timeout: 4\n");
    let heartbeat = db.heartbeat("reserved_resource_worker-1@old-pod", 3);
    let beat = Running::spawn(db.migrate(&["--migrate-settle", "1s"], &[]));
    beat.wait_for_stderr("migrations: running", Duration::from_secs(30));
    let decided = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last_heartbeat: f64 = String::from_utf8(heartbeat.wait_with_output().unwrap().stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (code, _, _, log) = beat.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    has(
        &log,
        "previous deployment are online: reserved_resource_worker-1@old-pod (heartbeat ",
    );
    has(&log, "no Pulp process is online any more");
    assert_eq!(db.runs(), (1, 1));
    // The command started within 1 s after the heartbeat aged past the timeout and the
    // settle time (1 s) passed, never before (the log line is seen here within 10 ms).
    let offline = last_heartbeat + 4.0 + 1.0;
    assert!(
        decided >= offline - 0.1 && decided < offline + 1.0,
        "started {:.3} s after the last heartbeat\n{log}",
        decided - last_heartbeat
    );
}

#[test]
fn a_lost_lease_stops_the_command_before_another_holder_can_take_the_lock() {
    let db = Db::new();
    let holder = Running::spawn(db.migrate(&["--lock-lease", "3s"], &[("MIGRATE_SLEEP", "60")]));
    holder.wait_for_stderr("migration ", Duration::from_secs(20));
    // The database freezes (a partition, a paused node) for longer than the lease.
    let frozen = Instant::now();
    assert_eq!(unsafe { libc::kill(db.mongo.pid(), libc::SIGSTOP) }, 0);
    let (code, _, _, log) = holder.finish(Duration::from_secs(20));
    let stopped_after = frozen.elapsed();
    assert_eq!(unsafe { libc::kill(db.mongo.pid(), libc::SIGCONT) }, 0);
    assert_eq!(code, Some(75), "{log}");
    has(&log, "the lease could not be kept");
    has(&log, "not recorded");
    // The command ended before the lease (3 s from its last renewal) ran out.
    assert!(
        stopped_after < Duration::from_secs(3),
        "{stopped_after:?}\n{log}"
    );

    let next = run(db.migrate(&["--lock-lease", "3s"], &[]));
    assert_eq!(next.code, Some(0), "{}", next.stderr);
    assert_eq!(db.runs(), (2, 1));
    assert_eq!(db.query("records"), "1");
}

#[test]
fn a_client_clock_far_ahead_cannot_take_a_live_lock() {
    let db = Db::new();
    let holder = Running::spawn(db.migrate(&[], &[("MIGRATE_SLEEP", "30")]));
    holder.wait_for_stderr("migrations: running", Duration::from_secs(20));
    // Its clock an hour ahead: by its own clock the lock expired long ago.
    let skewed = run(db.migrate(
        &["--migrate-timeout", "2s"],
        &[("PULP_INIT_TEST_CLOCK_OFFSET", "3600")],
    ));
    assert_eq!(skewed.code, Some(75), "{}", skewed.stderr);
    has(&skewed.stderr, "still held by");
    assert_eq!(db.runs(), (1, 0));
    // The lease is measured by the server: it ends about 30 s from the server's now.
    let left: f64 = db.query_args(&["lease-left"]).parse().unwrap();
    assert!((20.0..=31.0).contains(&left), "lease left {left}");
    let pid = i32::try_from(holder.child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (code, _, _, out) = holder.finish(Duration::from_secs(20));
    assert_eq!(code, Some(143), "{out}");
}

/// Issue 15: a heartbeat in the future ("0 ms ago") blocked beat until that time came. One
/// further ahead than worker_timeout is clock skew or a bad record: not online, with a
/// warning naming it.
#[test]
fn a_heartbeat_far_in_the_future_does_not_block_beat() {
    let db = Db::new();
    db.query_args(&[
        "insert",
        "workers",
        r#"{"_id": "reserved_resource_worker-1@skewed", "last_heartbeat": {"$now": 3600}}"#,
    ]);
    let beat = Running::spawn(db.migrate(&["--migrate-timeout", "5s"], &[]));
    beat.wait_for_stderr("migrations: running", Duration::from_secs(30));
    // pulp-manage-db's own check does count it (and would sleep until 92 s after that
    // heartbeat, as the stand-in does): pulp-init says so, and stops there.
    beat.wait_for_stderr("processes might still be running", Duration::from_secs(30));
    let pid = i32::try_from(beat.child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (code, _, _, log) = beat.finish(Duration::from_secs(30));
    assert_eq!(code, Some(143), "{log}");
    has(&log, "not counted as online");
    has(&log, "reserved_resource_worker-1@skewed (");
    has(&log, "ahead)");
    has(&log, "pulp-manage-db's own check counts it");
    assert!(!log.contains("0 ms ago"), "{log}");
}

/// Issue 15: 5,000 online workers made a 520 KB log line. A few are named, the rest
/// counted, in the waiting line and in the error at the deadline.
#[test]
fn thousands_of_online_workers_are_named_a_few_and_counted() {
    let db = Db::new();
    db.query_args(&["workers", "5000"]);
    let out = run(db.migrate(&["--migrate-timeout", "1s"], &[]));
    assert_eq!(out.code, Some(75), "{}", out.stderr);
    has(&out.stderr, "are online: reserved_resource_worker-");
    assert_eq!(
        out.stderr.matches("and 4995 more").count(),
        2,
        "{}",
        out.stderr
    );
    let longest = out.stderr.lines().map(str::len).max().unwrap();
    assert!(longest < 1000, "a line of {longest} bytes");
}

/// Issue 15: a malformed newest completion record hid a valid older one: the gate said
/// "not migrated by pulp-init yet". Malformed records are passed over with a warning.
#[test]
fn a_malformed_newest_record_does_not_hide_an_older_good_one() {
    let db = Db::new();
    db.query_args(&["record", "fp-old"]);
    db.query_args(&[
        "insert",
        "pulp_init",
        r#"{"_id": "migrated:bad", "fingerprint": 5, "completed_at": {"$now": 60}}"#,
    ]);
    // This image's own record, malformed: not taken as done, said once (the gate looks
    // every 100 ms).
    db.query_args(&[
        "insert",
        "pulp_init",
        r#"{"_id": "migrated:fp-new", "fingerprint": "fp-new"}"#,
    ]);
    let out = run(db.gated_worker("fp-new", &["--migrate-timeout", "1s"]));
    assert_eq!(out.code, Some(75), "{}", out.stderr);
    assert_eq!(
        out.stderr
            .matches("completion record \"migrated:fp-new\" is malformed")
            .count(),
        1,
        "{}",
        out.stderr
    );
    has(
        &out.stderr,
        "schema: database migrated for fp-old by test-beat at 20",
    );
    has(
        &out.stderr,
        "completion record \"migrated:bad\" is malformed",
    );
}

/// Whether `pid` (a host pid: these tests run pulp-init without a PID namespace) still
/// runs; a zombie waiting for its parent does not.
fn runs(pid: i32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    state
        .rsplit(") ")
        .next()
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('Z'))
}

/// The pid of the stand-in's first `--dry-run`, once it has started.
fn first_dry_run(db: &Db) -> i32 {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let out = db.query_args(&["dry-run-pids"]);
        if let Some(pid) = out.lines().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < until, "no --dry-run started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_gate_says_it_waits_at_once_and_opens_on_a_record_during_a_slow_dry_run() {
    let db = Db::new();
    let mut c = db.gated_worker("fp-new", &[]);
    c.env("MIGRATE_DRY_RUN_SECONDS", "30");
    let running = Running::spawn(c);
    running.wait_for_stderr("schema: waiting", Duration::from_secs(20));
    let dry_run = first_dry_run(&db);
    // Said before the first --dry-run has answered.
    assert!(runs(dry_run));
    db.query_args(&["record", "fp-new"]);
    let (code, _, _, log) = running.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{log}");
    has(&log, "schema: migrated for this image (fp-new by test-beat");
    // The --dry-run no longer needed was stopped, not left to the service.
    assert!(!runs(dry_run), "--dry-run {dry_run} still runs\n{log}");
    assert_eq!(db.query("dry-runs"), "1");
}

#[test]
fn the_deadline_holds_during_a_slow_dry_run() {
    let db = Db::new();
    let mut c = db.gated_worker("fp-new", &["--migrate-timeout", "2s"]);
    c.env("MIGRATE_DRY_RUN_SECONDS", "60");
    let out = run(c);
    assert_eq!(out.code, Some(75), "{}", out.stderr);
    has(
        &out.stderr,
        "this image is fp-new: start a beat of this image",
    );
    // Well before the --dry-run would have answered.
    assert!(out.elapsed < Duration::from_secs(30), "{:?}", out.elapsed);
    let dry_run = first_dry_run(&db);
    assert!(!runs(dry_run), "--dry-run {dry_run} still runs");
}

#[test]
fn online_processes_are_named_again_only_when_their_set_changes() {
    let db = Db::with_conf("[tasks]\nworker_timeout: 2\n");
    // Two processes heartbeating every 0.1 s: which is newer flips all the time.
    let beating: Vec<std::process::Child> = ["a@old-pod", "b@old-pod"]
        .iter()
        .map(|name| {
            Command::new(python())
                .args([&program(), "heartbeat", name, "3"])
                .env("TEST_MONGO_URL", db.url())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(20);
    while db.query_args(&["online"]) != "2" {
        assert!(Instant::now() < until, "no heartbeats");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = run(db.migrate(&["--migrate-settle", "0s"], &[]));
    for mut b in beating {
        b.wait().unwrap();
    }
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let named = out.stderr.matches("previous deployment are online").count();
    // {a, b}, then perhaps {b} when a stops first: never once per heartbeat order flip.
    assert!((1..=2).contains(&named), "{named}\n{}", out.stderr);
    has(&out.stderr, "a@old-pod");
}
