//! Pulp's directories and volumes (issue 11): created with the service user as owner,
//! never chowned recursively, and a real write test as that user with one diagnosis.
//! Runs as root; a read-only bind mount lives in a private mount namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const NOBODY: u32 = 65534;

/// A scratch root everyone can enter (tempdir makes it 0700).
fn scratch() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    chmod(t.path(), 0o755);
    t
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
}

fn mkdir(p: &Path, uid: u32, mode: u32) -> PathBuf {
    std::fs::create_dir_all(p).unwrap();
    chown(p, uid);
    chmod(p, mode);
    p.to_path_buf()
}

fn owner(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Pulp's layout under `root`, as --dirs.
fn layout(root: &Path) -> Vec<PathBuf> {
    [
        "lib/pulp",
        "lib/pulp/celery",
        "lib/pulp/published",
        "lib/pulp/uploads",
        "lib/pulp/static",
        "cache/pulp",
        "run/pulp",
        "www/pub",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect()
}

fn dirs_arg(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(",")
}

/// The worker role with probes skipped, as nobody, with `dirs`, running `true`.
fn worker_args<'a>(dirs: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--role",
        "worker",
        "--user",
        "nobody",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--dirs",
        dirs,
    ];
    args.extend_from_slice(extra);
    args.extend(["--", "true"]);
    args
}

fn worker(dirs: &[PathBuf], extra: &[&str]) -> Command {
    let d = dirs_arg(dirs);
    storage_on(pulp_init(&worker_args(&d, extra)))
}

/// `worker` as PID 1 of a PID namespace (pulp-init's own PID is 1, as in every container).
fn worker_as_pid1(dirs: &str) -> Command {
    storage_on(as_pid1(&worker_args(dirs, &[])))
}

/// tests/common turns the storage phase off for the other tests.
fn storage_on(mut c: Command) -> Command {
    c.env_remove("PULP_INIT_SKIP_STORAGE");
    c
}

#[test]
fn a_good_empty_volume_gets_the_tree_with_the_right_owner() {
    let t = scratch();
    // The volumes: /var/lib/pulp and /var/www given to the service user, the rest missing.
    mkdir(&t.path().join("lib/pulp"), NOBODY, 0o755);
    mkdir(&t.path().join("www"), 0, 0o755);
    let dirs = layout(t.path());
    let out = run(worker(&dirs, &[]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for d in &dirs {
        assert_eq!(owner(d), (NOBODY, NOBODY, 0o755), "{}", d.display());
    }
    has(
        &out.stderr,
        &format!(
            "created {} (owner nobody 65534:65534, mode 0755)",
            dirs[1].display()
        ),
    );
    assert!(!out
        .stderr
        .contains(&format!("created {} ", dirs[0].display())));
    // Parents that are not Pulp's are root's, as mkdir -p makes them.
    assert_eq!(owner(&t.path().join("cache")).0, 0);
    // The write test left nothing.
    for d in &dirs {
        assert!(
            entries(d).iter().all(|e| !e.starts_with(".pulp-init")),
            "{}",
            d.display()
        );
    }
}

#[test]
fn a_populated_volume_is_not_chowned_and_fix_ownership_does_top_levels_only() {
    let t = scratch();
    let dirs = layout(t.path());
    for d in &dirs {
        mkdir(d, NOBODY, 0o755);
    }
    let content = mkdir(&dirs[0].join("content/units"), 1234, 0o755);
    std::fs::write(content.join("rpm"), "x").unwrap();
    chown(&content.join("rpm"), 1234);
    let out = run(worker(&dirs, &[]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(owner(&content).0, 1234);
    assert_eq!(owner(&content.join("rpm")).0, 1234);
    assert!(!out.stderr.contains("created"), "{}", out.stderr);

    // A top level owned by someone else: --fix-ownership changes it alone, and says so.
    chown(&dirs[5], 1234);
    std::fs::write(dirs[5].join("cached"), "x").unwrap();
    chown(&dirs[5].join("cached"), 1234);
    let out = run(worker(&dirs, &["--fix-ownership"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        &format!(
            "--fix-ownership: {} owner 1234:1234 -> 65534:65534 (nobody; its contents unchanged)",
            dirs[5].display()
        ),
    );
    assert_eq!(
        out.stderr.matches("--fix-ownership:").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(owner(&dirs[5]).0, NOBODY);
    assert_eq!(owner(&dirs[5].join("cached")).0, 1234);
    assert_eq!(owner(&content).0, 1234);
}

#[test]
fn a_volume_owned_by_another_uid_exits_77_naming_owner_mode_user_and_fix() {
    let t = scratch();
    let vol = mkdir(&t.path().join("pulp"), 1234, 0o755);
    let out = run(worker(std::slice::from_ref(&vol), &[]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    let v = vol.display();
    has(
        &out.stderr,
        &format!("{v} is not writable by the service user nobody (uid 65534, gid 65534)"),
    );
    has(
        &out.stderr,
        &format!("{v} is owned by 1234:1234 with mode 0755"),
    );
    has(&out.stderr, &format!("chown 65534:65534 {v}"));
    has(&out.stderr, "securityContext.fsGroup: 65534");
    assert_eq!(
        out.stderr.lines().filter(|l| l.contains("error")).count(),
        1,
        "{}",
        out.stderr
    );
    assert!(entries(&vol).is_empty());
    // The readiness probe says the same.
    let d = dirs_arg(std::slice::from_ref(&vol));
    let out = run(pulp_init(&[
        "check",
        "--storage",
        "--user",
        "nobody",
        "--dirs",
        &d,
    ]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(&out.stderr, &format!("chown 65534:65534 {v}"));
}

#[test]
fn mode_bits_removed_exits_77_with_chmod() {
    let t = scratch();
    let vol = mkdir(&t.path().join("pulp"), NOBODY, 0o555);
    let out = run(worker(std::slice::from_ref(&vol), &[]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        &format!("{} is owned by 65534:65534 with mode 0555", vol.display()),
    );
    has(
        &out.stderr,
        &format!(
            "its mode does not let its owner write: chmod u+rwx {}",
            vol.display()
        ),
    );
}

#[test]
fn a_parent_the_user_cannot_enter_is_named() {
    let t = scratch();
    let parent = mkdir(&t.path().join("locked"), 0, 0o700);
    let vol = mkdir(&parent.join("pulp"), NOBODY, 0o755);
    let out = run(worker(&[vol], &[]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        &format!(
            "uid 65534 cannot enter {} (owned by 0:0 with mode 0700)",
            parent.display()
        ),
    );
}

#[test]
fn a_read_only_bind_mount_exits_77_saying_read_only() {
    let t = scratch();
    let vol = mkdir(&t.path().join("pulp"), NOBODY, 0o755);
    let v = vol.to_str().unwrap();
    let d = dirs_arg(std::slice::from_ref(&vol));
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "sh",
        "-c",
        r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@""#,
        "sh",
        v,
        BIN,
    ])
    .args([
        "--role",
        "worker",
        "--user",
        "nobody",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--dirs",
        &d,
        "--",
        "true",
    ])
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default());
    let out = run(cmd);
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(&out.stderr, &format!("{v} is not writable by the service user nobody (uid 65534, gid 65534): creating a file there failed: Read-only file system"));
    has(&out.stderr, "the file system is mounted read-only");
}

#[test]
fn an_acl_that_denies_although_mode_bits_allow_points_at_acls_and_security_modules() {
    let t = scratch();
    let vol = mkdir(&t.path().join("pulp"), 0, 0o777);
    let st = Command::new("setfacl")
        .args(["-m", "u:nobody:---"])
        .arg(&vol)
        .status()
        .unwrap();
    assert!(st.success(), "setfacl (Debian package acl)");
    let out = run(worker(std::slice::from_ref(&vol), &[]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    let v = vol.display();
    has(&out.stderr, "Permission denied");
    has(
        &out.stderr,
        "its mode bits and owner allow the write, but the kernel refused it: ",
    );
    has(&out.stderr, &format!("{v} has an ACL that may deny it (getfacl {v} shows it, setfacl -b {v} removes it); otherwise a security module (SELinux, AppArmor) did"));
    has(&out.stderr, &format!("-v SRC:{v}:z"));
    has(&out.stderr, "chcon -Rt container_file_t SRC");
}

#[test]
fn not_root_tests_as_itself_and_creates_nothing() {
    let t = scratch();
    let mine = mkdir(&t.path().join("mine"), NOBODY, 0o755);
    let roots = mkdir(&t.path().join("roots"), 0, 0o755);
    let missing = t.path().join("missing");
    let setpriv = |dirs: &[PathBuf]| {
        let d = dirs_arg(dirs);
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args([
                "--role",
                "worker",
                "--skip-config",
                "--skip-wait",
                "--skip-migrate-wait",
                "--dirs",
                &d,
                "--",
                "true",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PULP_INIT_SKIP_KEYS", "true");
        run(c)
    };
    let out = setpriv(std::slice::from_ref(&mine));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = setpriv(&[mine.clone(), roots.clone()]);
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        &format!(
            "{} is not writable by the service user nobody (uid 65534, gid 65534)",
            roots.display()
        ),
    );
    has(
        &out.stderr,
        &format!(
            "chown 65534:65534 {} (that directory only)",
            roots.display()
        ),
    );
    assert!(
        !out.stderr.contains("PULP_INIT_FIX_OWNERSHIP"),
        "{}",
        out.stderr
    );
    let out = setpriv(&[mine.clone(), missing.clone()]);
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        &format!("not root (uid 65534): cannot create {}", missing.display()),
    );
    assert!(!missing.exists());
    assert!(entries(&mine).is_empty());
}

/// Runs `script` in a private mount namespace where /var and /run are empty tmpfs (so
/// Pulp's default directories can be made there), `apache` (48:48) is in /etc/passwd and
/// /etc/group, and `$1` is pulp-init.
fn in_pulp_fs(script: &str) -> Finished {
    let full = format!(
        "mount -t tmpfs tmpfs /var; mount -t tmpfs tmpfs /run
cp /etc/passwd /run/passwd; echo 'apache:x:48:48:Apache:/usr/share/httpd:/sbin/nologin' >> /run/passwd
cp /etc/group /run/group; echo 'apache:x:48:' >> /run/group
mount --bind /run/passwd /etc/passwd; mount --bind /run/group /etc/group
{script}"
    );
    in_mount_namespace(&full, &[BIN], &[("PULP_INIT_SYSLOG", "off")])
}

const SKIP_PHASES: &str = "--skip-config --skip-wait --skip-migrate-wait --skip-migrate";

#[test]
fn beat_gets_its_workdir_created_and_write_tested_as_its_user() {
    // celery beat writes its pid and schedule files in --workdir /var/lib/pulp/celery.
    let out = in_pulp_fs(&format!(
        "mkdir -p /var/lib/pulp; chown 1234:1234 /var/lib/pulp
\"$1\" --role beat --user nobody {SKIP_PHASES} -- true
stat -c '%n %u:%g %a' /var/lib/pulp/celery /var/lib/pulp"
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stdout, "/var/lib/pulp/celery 65534:65534 755");
    // Not a directory beat writes: created when missing, not write-tested, not chowned.
    has(&out.stdout, "/var/lib/pulp 1234:1234 755");

    // A workdir of root's (as an apache role used to leave it): the real beat exits 1
    // there (LockFailed); pulp-init says so first.
    let out = in_pulp_fs(&format!(
        "mkdir -p /var/lib/pulp/celery
\"$1\" --role beat --user nobody {SKIP_PHASES} -- true"
    ));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        "/var/lib/pulp/celery is not writable by the service user nobody (uid 65534, gid 65534)",
    );
}

#[test]
fn the_apache_role_makes_pulps_directories_for_apache_not_root() {
    // httpd starts as root and writes uploads as apache: a root-owned uploads directory is
    // an HTTP 500 on every upload with the real Pulp, and workers on the volume exit 77.
    let out = in_pulp_fs(&format!(
        "\"$1\" --role apache {SKIP_PHASES} -- true
stat -c '%n %u:%g %a' /var/lib/pulp /var/lib/pulp/uploads /var/lib/pulp/celery /var/cache/pulp /var/www/pub
\"$1\" --role worker --user apache {SKIP_PHASES} -- true"
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for d in [
        "/var/lib/pulp",
        "/var/lib/pulp/uploads",
        "/var/lib/pulp/celery",
        "/var/cache/pulp",
        "/var/www/pub",
    ] {
        has(&out.stdout, &format!("{d} 48:48 755"));
    }
    has(
        &out.stderr,
        "created /var/lib/pulp/uploads (owner apache 48:48, mode 0755)",
    );

    // --storage-user still decides.
    let out = in_pulp_fs(&format!(
        "\"$1\" --role apache --storage-user nobody {SKIP_PHASES} -- true
stat -c '%n %u:%g' /var/lib/pulp/uploads"
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(&out.stdout, "/var/lib/pulp/uploads 65534:65534");
}

/// A process killed when dropped (a failed assertion must not leave it running).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A service user racing the start: deletes `dir` as soon as it exists and puts a link to
/// `victim` in its place, over and over, until killed.
fn racer(dir: &Path, victim: &Path) -> Killed {
    let script = "import os, sys
d, victim = sys.argv[1], sys.argv[2]
print('ready', flush=True)
while True:
    try:
        os.rmdir(d)
    except OSError:
        continue
    try:
        os.symlink(victim, d)
    except OSError:
        pass
";
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(dir)
        .arg(victim)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    Killed(child)
}

#[test]
fn a_link_raced_in_after_mkdir_never_turns_roots_chown_on_another_file() {
    let t = scratch();
    let vol = mkdir(&t.path().join("vol"), NOBODY, 0o755);
    let victim = t.path().join("victim");
    std::fs::write(&victim, "root's secret").unwrap();
    chmod(&victim, 0o600);
    let target = vol.join("published");
    let d = dirs_arg(&[vol.clone(), target.clone()]);
    let attacker = racer(&target, &victim);
    let (mut refused, mut made, mut failed) = (0, 0, 0);
    for _ in 0..40 {
        // Start each trial with the directory missing, as after the attacker deleted it.
        let _ = std::fs::remove_file(&target).or_else(|_| std::fs::remove_dir(&target));
        let out = run(worker_as_pid1(&d));
        assert_eq!(owner(&victim), (0, 0, 0o600), "{}", out.stderr);
        match out.code {
            Some(0) => made += 1,
            // Refused the link, or the directory vanished under the write test.
            Some(77) if out.stderr.contains("pulp-init does not follow it as root") => refused += 1,
            Some(77) => failed += 1,
            other => panic!("exit {other:?}: {}", out.stderr),
        }
    }
    drop(attacker);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's secret");
    eprintln!(
        "40 raced starts: {made} made the directory, {refused} refused the link, \
         {failed} found it gone"
    );
}

#[test]
fn fix_ownership_refuses_a_link_in_the_volume_and_never_chowns_its_target() {
    let t = scratch();
    let vol = mkdir(&t.path().join("vol"), NOBODY, 0o755);
    let etc = mkdir(&t.path().join("etc"), 0, 0o755);
    std::fs::write(etc.join("shadow"), "x").unwrap();
    let published = vol.join("published");
    std::os::unix::fs::symlink(&etc, &published).unwrap();
    chown_link(&published, NOBODY);
    let out = run(worker(
        &[vol.clone(), published.clone()],
        &["--fix-ownership"],
    ));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        &format!(
            "{} is a symbolic link in {} (owned by uid 65534, mode 0755)",
            published.display(),
            vol.display()
        ),
    );
    assert_eq!(owner(&etc), (0, 0, 0o755));
    assert_eq!(owner(&etc.join("shadow")).0, 0);

    // `..` in a listed directory: refused before anything is done.
    let sneaky = format!("{}/../etc", vol.display());
    let out = run(worker(&[PathBuf::from(&sneaky)], &["--fix-ownership"]));
    assert_eq!(out.code, Some(64), "{}", out.stderr);
    has(&out.stderr, "PULP_INIT_DIRS");
    has(&out.stderr, "`..` is not allowed");
    assert_eq!(owner(&etc), (0, 0, 0o755));
}

#[test]
fn a_link_root_made_in_its_own_directory_is_followed() {
    // The image may make /var/lib/pulp a link to the volume (root's, in root's /var/lib).
    let t = scratch();
    let data = mkdir(&t.path().join("data"), NOBODY, 0o755);
    let lib = mkdir(&t.path().join("lib"), 0, 0o755);
    std::os::unix::fs::symlink(&data, lib.join("pulp")).unwrap();
    let dirs = [lib.join("pulp"), lib.join("pulp/celery")];
    let out = run(worker(&dirs, &[]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(owner(&data.join("celery")), (NOBODY, NOBODY, 0o755));
}

fn chown_link(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

#[test]
fn write_tests_of_two_pid1s_on_one_volume_never_collide_and_leave_nothing() {
    let t = scratch();
    let dirs = layout(t.path());
    for d in &dirs {
        mkdir(d, NOBODY, 0o755);
    }
    // What an older pulp-init (its PID was always 1) or the service user left there.
    std::fs::write(dirs[0].join(".pulp-init-write-test.1"), "").unwrap();
    chown(&dirs[0].join(".pulp-init-write-test.1"), NOBODY);
    let d = dirs_arg(&dirs);
    let start = || {
        let mut c = worker_as_pid1(&d);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    for _ in 0..20 {
        let (a, b) = (start(), start());
        for c in [a, b] {
            let out = c.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    for d in &dirs {
        let left: Vec<String> = entries(d)
            .into_iter()
            .filter(|e| e.starts_with(".pulp-init"))
            .collect();
        let planted = if d == &dirs[0] {
            vec![".pulp-init-write-test.1".to_string()]
        } else {
            vec![]
        };
        assert_eq!(left, planted, "{}", d.display());
    }
}

#[test]
fn check_storage_creates_nothing() {
    let t = scratch();
    let missing = t.path().join("missing");
    let d = dirs_arg(std::slice::from_ref(&missing));
    let out = run(pulp_init(&[
        "check",
        "--storage",
        "--user",
        "nobody",
        "--dirs",
        &d,
    ]));
    assert_eq!(out.code, Some(77), "{}", out.stderr);
    has(
        &out.stderr,
        &format!("{}: No such file or directory", missing.display()),
    );
    assert!(!missing.exists());
    let good = mkdir(&t.path().join("good"), NOBODY, 0o755);
    let d = dirs_arg(&[good]);
    let out = run(pulp_init(&[
        "check",
        "--storage",
        "--user",
        "nobody",
        "--dirs",
        &d,
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    has(
        &out.stderr,
        "1 directories writable by nobody (uid 65534, gid 65534)",
    );
}
