//! server.conf is never destroyed: what is not a regular file is refused untouched, a
//! full filesystem leaves the original byte-identical, concurrent writers all keep
//! their edits, and `_FILE` inputs are bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, has, in_mount_namespace, pulp_init, BIN};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(script: &str) {
    let out = Command::new("sh").args(["-euc", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_conf_that_is_not_a_regular_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dev = d.join("null");
    sh(&format!("mknod {} c 1 3", dev.display()));
    let fifo = d.join("fifo");
    sh(&format!("mkfifo {}", fifo.display()));
    let sub = d.join("dir");
    fs::create_dir(&sub).unwrap();
    for (path, kind) in [
        (&dev, "a character device"),
        (&fifo, "a FIFO"),
        (&sub, "a directory"),
    ] {
        let before = fs::metadata(path).unwrap();
        let out = config(path, &[("PULP_SERVER_NAME", "srv")]);
        assert_eq!(out.code, Some(78), "{}", out.stderr);
        has(&out.stderr, kind);
        has(&out.stderr, "not a regular file");
        assert!(out.elapsed < Duration::from_secs(5), "blocked on {kind}");
        let after = fs::metadata(path).unwrap();
        assert_eq!(
            (before.ino(), before.rdev(), before.mode()),
            (after.ino(), after.rdev(), after.mode())
        );
    }
    assert!(fs::metadata(&dev).unwrap().file_type().is_char_device());
    assert_eq!(fs::read_dir(d).unwrap().count(), 3, "a temp file was left");

    // A symlink to a regular file (a ConfigMap mount) is edited through the link.
    let real = d.join("real.conf");
    fs::write(&real, "[server]\n").unwrap();
    let link = d.join("server.conf");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = config(&link, &[("PULP_SERVER_NAME", "srv")]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&real).unwrap(),
        "[server]\nserver_name: srv\n"
    );
}

#[test]
fn a_full_filesystem_leaves_a_bind_mounted_conf_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let long = "x".repeat(12_000);
    // An 8192-byte server.conf on a 64 KiB tmpfs filled up to the last few KiB, bind
    // mounted onto itself (a file mount cannot be renamed over: written in place).
    let script = r#"
        mount -t tmpfs -o size=64k tmpfs "$1"
        printf '[server]\n' > "$1/server.conf"
        head -c 8182 /dev/zero | tr '\0' '#' >> "$1/server.conf"
        printf '\n' >> "$1/server.conf"
        dd if=/dev/zero of="$1/filler" bs=1k count=64 2>/dev/null || true
        truncate -s -8k "$1/filler"
        sum_before=$(sha256sum "$1/server.conf")
        mount --bind "$1/server.conf" "$1/server.conf"
        set +e
        "$2" config --conf "$1/server.conf"
        code=$?
        set -e
        test "$(sha256sum "$1/server.conf")" = "$sum_before" || { echo "CHANGED" >&2; exit 99; }
        wc -c < "$1/server.conf" >&2
        ls -A "$1" >&2
        exit $code
    "#;
    let out = in_mount_namespace(
        script,
        &[mnt.to_str().unwrap(), BIN],
        &[("PULP__SERVER__LONG", &long)],
    );
    assert_eq!(out.code, Some(73), "{}", out.stderr);
    has(&out.stderr, "No space left on device");
    has(&out.stderr, "8192\n");
    // Only the file and the filler: no temp file left using up the space.
    has(&out.stderr, "filler\nserver.conf\n");
    assert!(
        !out.stderr.contains(".server.conf.pulp-init."),
        "{}",
        out.stderr
    );
}

#[test]
fn concurrent_writers_all_keep_their_edits() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    fs::write(&conf, "[server]\n# a comment\n").unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            Command::new(BIN)
                .args(["config", "--conf", conf.to_str().unwrap()])
                .env_clear()
                .env(format!("PULP__SERVER__KEY{i}"), format!("value{i}"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = fs::read_to_string(&conf).unwrap();
    for i in 0..20 {
        assert!(
            text.contains(&format!("\nkey{i}: value{i}\n")),
            "key{i} lost:\n{text}"
        );
    }
    assert!(text.starts_with("[server]\n# a comment\n"));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn file_variables_must_be_small_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conf = d.join("server.conf");
    fs::write(&conf, "[server]\n").unwrap();
    let fifo = d.join("fifo");
    sh(&format!("mkfifo {}", fifo.display()));
    let big = d.join("big");
    fs::write(&big, "x".repeat(64 * 1024 + 1)).unwrap();
    for (path, problem) in [
        (fifo.to_str().unwrap(), "it is a FIFO"),
        ("/dev/zero", "it is a character device"),
        (big.to_str().unwrap(), "larger than 64 KiB"),
    ] {
        let out = config(&conf, &[("PULP__SERVER__SECRET_FILE", path)]);
        assert_eq!(out.code, Some(64), "{}", out.stderr);
        has(&out.stderr, "PULP__SERVER__SECRET_FILE: ");
        has(&out.stderr, problem);
        assert!(out.elapsed < Duration::from_secs(5));
        assert_eq!(fs::read_to_string(&conf).unwrap(), "[server]\n");
    }

    // A Kubernetes secret: a symlink chain to a regular file ending in one newline.
    let data = d.join("..2026_11_27");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("password"), "s3cret\n").unwrap();
    std::os::unix::fs::symlink(&data, d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/password", d.join("password")).unwrap();
    let secret = d.join("password");
    let out = config(
        &conf,
        &[("PULP__SERVER__SECRET_FILE", secret.to_str().unwrap())],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cret"));
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "[server]\nsecret: s3cret\n"
    );
}

/// A secret saved by a Windows editor starts with a UTF-8 byte order mark; Pulp must not
/// get it as the first character of the password.
#[test]
fn a_file_value_loses_its_byte_order_mark() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    fs::write(&conf, "[database]\n").unwrap();
    let secret = dir.path().join("password");
    fs::write(&secret, "\u{feff}s3cret\r\n").unwrap();
    let out = config(
        &conf,
        &[("PULP__DATABASE__PASSWORD_FILE", secret.to_str().unwrap())],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "[database]\npassword: s3cret\n"
    );
}

/// pulp-init is PID 1 in every container: a temp file named after the pid, left by a write
/// that SIGTERM (or SIGKILL) cut short, made the next start fail with 73 ("File exists").
#[test]
fn a_temp_file_left_by_an_interrupted_write_never_blocks_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    fs::write(&conf, "[database]\n").unwrap();
    let ours = dir.path().join(".server.conf.pulp-init.1.tmp");
    fs::write(&ours, "[database]\nseeds: half-writ").unwrap();
    // One that is not ours (another user's) is left alone, and does not block either.
    let foreign = dir.path().join(".server.conf.pulp-init.2.tmp");
    fs::write(&foreign, "x").unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    for host in ["db1", "db2"] {
        let out = common::as_pid1(&["config", "--conf", conf.to_str().unwrap()])
            .env("DB_SERVICE_HOST", host)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert_eq!(
            fs::read_to_string(&conf).unwrap(),
            format!("[database]\nseeds: {host}:27017\n")
        );
    }
    assert!(!ours.exists(), "the stale temp file is still there");
    assert!(foreign.exists(), "another user's file was removed");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A stop signal while server.conf is being written ends pulp-init once the write is
/// done: no temp file is left behind, and the file is either the old or the new one.
#[test]
fn a_stop_signal_during_the_write_leaves_a_whole_file_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    // Large enough that writing and fsyncing the temp file takes a while.
    let old = format!(
        "[server]\n{}",
        "# a long comment line, many times over, so that the write takes some time\n"
            .repeat(60_000)
    );
    let mut interrupted = 0;
    for round in 0..3 {
        fs::write(&conf, &old).unwrap();
        let mut cmd = pulp_init(&["config", "--conf", conf.to_str().unwrap()]);
        cmd.env("PULP_SERVER_NAME", format!("srv{round}"));
        let mut running = common::Running::spawn(cmd);
        let pid = running.child.id() as i32;
        let until = Instant::now() + Duration::from_secs(30);
        let temp_exists = || {
            fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".pulp-init."))
        };
        while !temp_exists() && running.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < until, "no temp file appeared");
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let (code, _, _, log) = running.finish(Duration::from_secs(30));
        if code == Some(143) {
            interrupted += 1;
        }
        let left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "server.conf")
            .collect();
        assert!(
            left.is_empty(),
            "round {round}: left behind: {left:?}\n{log}"
        );
        let now = fs::read_to_string(&conf).unwrap();
        let line = format!("server_name: srv{round}\n");
        assert!(
            now == old || (now.contains(&line) && now.replacen(&line, "", 1) == old),
            "round {round}: server.conf is neither the old nor the new text\n{log}"
        );
    }
    assert!(interrupted > 0, "the signal never came during the write");
}

#[test]
fn a_stop_signal_while_waiting_for_the_lock_ends_config_at_once() {
    // Another writer holds server.conf's lock; `docker stop` must not wait for it.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    fs::write(&conf, "[server]\n").unwrap();
    let mut holder = common::hold_lock(&conf);
    let mut cmd = pulp_init(&["config", "--conf", conf.to_str().unwrap()]);
    cmd.env("PULP_SERVER_NAME", "srv");
    let running = common::Running::spawn(cmd);
    let pid = running.child.id() as i32;
    wait_until_signals_blocked(pid);
    let sent = Instant::now();
    unsafe_free_kill(pid, "TERM");
    let (code, _, _, log) = running.finish(Duration::from_secs(5));
    assert_eq!(code, Some(143), "{log}");
    assert!(sent.elapsed() < Duration::from_secs(2), "{log}");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    assert_eq!(fs::read_to_string(&conf).unwrap(), "[server]\n");
}

fn wait_until_signals_blocked(pid: i32) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status
            .lines()
            .any(|l| l.starts_with("SigBlk:") && !l.ends_with("0000000000000000"))
        {
            return;
        }
        assert!(Instant::now() < until, "signals never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn unsafe_free_kill(pid: i32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}
