//! `pulp-init keys` (issue 17): `--out` writes a set openssl accepts as Pulp's tools make
//! it; `--check` exits 0 on it and 78 with one line per problem on a broken one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const SERVER: &str = "pulp.example.com";

fn out(dir: &Path) -> Finished {
    run_with(
        &[
            "keys",
            "--out",
            dir.to_str().unwrap(),
            "--fqdn",
            "ca.example.com",
            "--server-name",
            SERVER,
        ],
        &[],
    )
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let mut c = Command::new("openssl");
    c.args(args).current_dir(dir);
    run(c).ok().stdout
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// server.conf naming the set in `dir` for Pulp's four files.
fn conf_for(dir: &Path, server_name: &str) -> Conf {
    let d = dir.display();
    Conf::new(&format!(
        "[server]\nserver_name: {server_name}\n[authentication]\nrsa_key: {d}/rsa.key\nrsa_pub: {d}/rsa_pub.key\n[security]\ncakey: {d}/ca.key\ncacert: {d}/ca.crt\n"
    ))
}

fn check(conf: &Conf, dir: &Path) -> Finished {
    check_as(conf, dir, "root")
}

fn check_as(conf: &Conf, dir: &Path, user: &str) -> Finished {
    run_with(
        &[
            "keys",
            "--check",
            "--conf",
            conf.arg(),
            "--user",
            user,
            "--tls-cert",
            dir.join("tls.crt").to_str().unwrap(),
            "--tls-key",
            dir.join("tls.key").to_str().unwrap(),
        ],
        &[],
    )
}

fn error_lines(f: &Finished) -> Vec<String> {
    f.stderr
        .lines()
        .filter(|l| l.starts_with("pulp-init: error: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn out_writes_a_set_openssl_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let f = out(&dir).ok();
    assert!(f.stderr.contains("wrote ca.crt"), "{}", f.stderr);
    assert!(!f.stderr.contains("PRIVATE KEY"), "{}", f.stderr);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ca.crt",
            "ca.key",
            "rsa.key",
            "rsa_pub.key",
            "tls.crt",
            "tls.key"
        ]
    );
    for (name, m) in [
        ("ca.key", 0o640),
        ("rsa.key", 0o640),
        ("tls.key", 0o600),
        ("ca.crt", 0o644),
        ("rsa_pub.key", 0o644),
        ("tls.crt", 0o644),
    ] {
        assert_eq!(mode(&dir.join(name)), m, "{name}");
    }
    assert_eq!(mode(&dir), 0o700);

    assert_eq!(
        openssl(&["verify", "-CAfile", "ca.crt", "tls.crt"], &dir).trim(),
        "tls.crt: OK"
    );
    let public = openssl(&["rsa", "-in", "rsa.key", "-pubout"], &dir);
    assert_eq!(public, fs::read_to_string(dir.join("rsa_pub.key")).unwrap());
    // As pulp-gen-key-pair and pulp-gen-ca-certificate make them.
    assert!(openssl(&["rsa", "-in", "rsa.key", "-noout", "-text"], &dir).contains("2048 bit"));
    let ca = openssl(&["x509", "-in", "ca.crt", "-noout", "-text"], &dir);
    assert!(ca.contains("4096 bit"), "{ca}");
    assert!(ca.contains("sha256WithRSAEncryption"), "{ca}");
    assert!(
        ca.contains("CN = ca.example.com, O = PULP") || ca.contains("CN=ca.example.com, O=PULP"),
        "{ca}"
    );
    // 7035 days: openssl's -checkend agrees it lasts 7034 days, not 7036.
    let end = |days: u64| {
        Command::new("openssl")
            .args(["x509", "-in", "ca.crt", "-noout", "-checkend"])
            .arg((days * 86400).to_string())
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(end(7034) && !end(7036));
    let tls = openssl(
        &["x509", "-in", "tls.crt", "-noout", "-ext", "subjectAltName"],
        &dir,
    );
    assert!(tls.contains("DNS:pulp.example.com, DNS:localhost"), "{tls}");
}

#[test]
fn out_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("ca.key"), "mine").unwrap();
    let f = out(tmp.path());
    assert_eq!(f.code, Some(73), "{}", f.stderr);
    has(&f.stderr, "is not empty");
    assert_eq!(
        fs::read_to_string(tmp.path().join("ca.key")).unwrap(),
        "mine"
    );
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn check_passes_on_a_generated_set_and_fails_with_one_line_per_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let other = tmp.path().join("other");
    out(&dir).ok();
    out(&other).ok();
    let conf = conf_for(&dir, SERVER);
    let f = check(&conf, &dir);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(error_lines(&f).is_empty());

    // Three problems: a world-readable key, another set's public key, half a TLS pair.
    fs::set_permissions(dir.join("ca.key"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::copy(other.join("rsa_pub.key"), dir.join("rsa_pub.key")).unwrap();
    fs::remove_file(dir.join("tls.key")).unwrap();
    let f = check(&conf, &dir);
    assert_eq!(f.code, Some(78), "{}", f.stderr);
    let lines = error_lines(&f);
    assert_eq!(lines.len(), 3, "{}", f.stderr);
    let d = dir.display();
    assert!(
        lines[0].contains(&format!("{d}/rsa_pub.key: is not the public key of")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(&format!("{d}/ca.key: private key readable by every user")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(&format!("{d}/tls.key: missing, while")),
        "{}",
        lines[2]
    );
    assert!(!f.stderr.contains("PRIVATE KEY"));
}

#[test]
fn check_names_the_server_name_the_certificate_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    out(&dir).ok();
    let f = check(&conf_for(&dir, "pulp.other.example"), &dir);
    assert_eq!(f.code, Some(78), "{}", f.stderr);
    let lines = error_lines(&f);
    assert_eq!(lines.len(), 1, "{}", f.stderr);
    assert!(
        lines[0].contains("tls.crt: does not name the server_name \"pulp.other.example\""),
        "{}",
        lines[0]
    );
}

#[test]
fn check_without_any_file_says_how_to_make_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("none");
    let f = check(&conf_for(&dir, SERVER), &dir);
    assert_eq!(f.code, Some(78), "{}", f.stderr);
    let lines = error_lines(&f);
    assert_eq!(lines.len(), 3, "{}", f.stderr);
    assert!(lines.iter().all(|l| l.contains("pulp-init keys --out DIR")));
}

#[test]
fn check_as_a_user_who_cannot_read_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    out(&dir).ok();
    // The set's directory is 0700 (as `keys --out` makes it): nobody reaches any of Pulp's
    // four files; httpd's two are read as root.
    let f = check_as(&conf_for(&dir, SERVER), &dir, "nobody");
    assert_eq!(f.code, Some(78), "{}", f.stderr);
    let lines = error_lines(&f);
    assert_eq!(lines.len(), 4, "{}", f.stderr);
    for l in &lines {
        assert!(l.contains("not readable by user nobody"), "{l}");
        assert!(l.contains("is not searchable"), "{l}");
    }
}

/// A worker role whose keys are those of `dir` (its TLS pair there too, where a set made
/// at start puts it), with the database of `mongo`; `generate`: PULP_INIT_GENERATE_KEYS.
fn role_with_keys(dir: &Path, mongo: &Mongo, generate: bool) -> (Command, Conf) {
    let d = dir.display();
    let conf = Conf::new(&format!(
        "[server]\nserver_name: {SERVER}\n[database]\nseeds: 127.0.0.1:{}\n[authentication]\nrsa_key: {d}/rsa.key\nrsa_pub: {d}/rsa_pub.key\n[security]\ncakey: {d}/ca.key\ncacert: {d}/ca.crt\n",
        mongo.port
    ));
    let mut c = pulp_init(&[
        "--role",
        "worker",
        "--conf",
        conf.arg(),
        "--user",
        "root",
        "--skip-config",
        "--skip-wait",
        "--skip-migrate-wait",
        "--",
        "true",
    ]);
    c.env("PULP_INIT_SKIP_KEYS", "false")
        .env("PULP_INIT_TLS_CERT", dir.join("tls.crt"))
        .env("PULP_INIT_TLS_KEY", dir.join("tls.key"));
    if generate {
        c.env("PULP_INIT_GENERATE_KEYS", "true");
    }
    (c, conf)
}

/// `openssl rsa -pubin -RSAPublicKey_out -outform DER | sha256sum` of `dir`'s rsa_pub.key:
/// the fingerprint the README tells operators to compare.
fn public_fingerprint(dir: &Path) -> String {
    let der = Command::new("openssl")
        .args([
            "rsa",
            "-pubin",
            "-in",
            "rsa_pub.key",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(der.status.success());
    let digest = ring::digest::digest(&ring::digest::SHA256, &der.stdout);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_role_without_keys_fails_at_start_with_78_and_one_line_per_pair() {
    let mongo = Mongo::start();
    let dir = tempfile::tempdir().unwrap();
    let (c, _conf) = role_with_keys(dir.path(), &mongo, false);
    let out = run(c);
    assert_eq!(out.code, Some(78), "{}", out.stderr);
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    has(&out.stderr, "rsa.key: missing");
    has(&out.stderr, "ca.key: missing");
    has(&out.stderr, "PULP_INIT_GENERATE_KEYS=true");
    assert!(!out.stderr.contains("running true"), "{}", out.stderr);
}

#[test]
fn concurrent_first_starts_make_one_set_for_the_deployment() {
    let mongo = Mongo::start();
    let dir = tempfile::tempdir().unwrap();
    let pods: Vec<(Running, Conf)> = (0..3)
        .map(|_| {
            let (c, conf) = role_with_keys(dir.path(), &mongo, true);
            (Running::spawn(c), conf)
        })
        .collect();
    let mut made = 0;
    for (pod, _conf) in pods {
        let (code, _, _, log) = pod.finish(std::time::Duration::from_secs(120));
        assert_eq!(code, Some(0), "{log}");
        made += log.matches("made the deployment's set").count();
        has(&log, "keys: valid and the deployment's");
    }
    assert_eq!(made, 1);
    for name in [
        "ca.crt",
        "ca.key",
        "rsa.key",
        "rsa_pub.key",
        "tls.crt",
        "tls.key",
    ] {
        assert!(dir.path().join(name).exists(), "{name}");
    }
    assert_eq!(mode(&dir.path().join("rsa.key")), 0o640);
    // No temp file left beside them.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 6);
    openssl(&["verify", "-CAfile", "ca.crt", "tls.crt"], dir.path());
}

#[test]
fn a_pod_with_another_set_refuses_naming_both_fingerprints() {
    let mongo = Mongo::start();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&a, &b] {
        let set = d.path().join("set");
        out(&set).ok();
        for f in fs::read_dir(&set).unwrap() {
            let f = f.unwrap();
            fs::rename(f.path(), d.path().join(f.file_name())).unwrap();
        }
        fs::remove_dir(&set).unwrap();
    }
    let (first, _c1) = role_with_keys(a.path(), &mongo, false);
    run(first).ok();
    let (second, _c2) = role_with_keys(b.path(), &mongo, false);
    let refused = run(second);
    assert_eq!(refused.code, Some(78), "{}", refused.stderr);
    let (fa, fb) = (public_fingerprint(a.path()), public_fingerprint(b.path()));
    assert_ne!(fa, fb);
    has(
        &refused.stderr,
        &format!("rsa_pub.key: its signing public key SHA-256 is {fb}, the deployment's is {fa}"),
    );
    has(&refused.stderr, "CA certificate SHA-256 is ");
    has(
        &refused.stderr,
        "every pod of a deployment needs the same set",
    );
    // The first set's pods keep starting.
    let (again, _c3) = role_with_keys(a.path(), &mongo, false);
    run(again).ok();
}

#[test]
fn a_keys_dir_is_laid_into_pulps_paths_with_pulps_modes() {
    let mongo = Mongo::start();
    let secret = tempfile::tempdir().unwrap();
    let given = secret.path().join("set");
    out(&given).ok();
    let target = tempfile::tempdir().unwrap();
    let (mut c, _conf) = role_with_keys(target.path(), &mongo, false);
    c.env("PULP_INIT_KEYS_DIR", &given);
    let started = run(c);
    assert_eq!(started.code, Some(0), "{}", started.stderr);
    has(&started.stderr, "keys: laid 6 file(s) of ");
    for (name, m) in [
        ("rsa.key", 0o640),
        ("ca.key", 0o640),
        ("rsa_pub.key", 0o644),
        ("ca.crt", 0o644),
        ("tls.key", 0o600),
        ("tls.crt", 0o644),
    ] {
        let laid = target.path().join(name);
        assert_eq!(mode(&laid), m, "{name}");
        assert_eq!(
            fs::read(&laid).unwrap(),
            fs::read(given.join(name)).unwrap()
        );
    }
    // No key text in the log.
    assert!(
        !started.stderr.contains("PRIVATE KEY"),
        "{}",
        started.stderr
    );
}
