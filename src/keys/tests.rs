//! Each validation failure, on sets made here with the crates (no key files committed).

use super::generate::{certificate, rsa_key, set_from_keys};
use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;
use std::time::SystemTime;
use time::OffsetDateTime;

const SERVER: &str = "pulp.example.com";

/// ca, rsa, tls, and a stranger's key: RSA 2048 each (the CA too, for speed).
fn keys() -> &'static [rsa::PrivateKey; 4] {
    static KEYS: OnceLock<[rsa::PrivateKey; 4]> = OnceLock::new();
    KEYS.get_or_init(|| std::array::from_fn(|_| rsa_key(2048).unwrap()))
}

struct Fixture {
    dir: tempfile::TempDir,
    paths: Paths,
}

impl Fixture {
    fn new() -> Fixture {
        let [ca, rsa, tls, _] = keys();
        let names = Names {
            fqdn: "ca.example.com".into(),
            server_name: SERVER.into(),
        };
        let set = set_from_keys(&names, ca, rsa, tls, OffsetDateTime::now_utc()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_set(&set, &Layout::in_dir(dir.path(), None)).unwrap();
        let paths = Paths {
            rsa_key: dir.path().join("rsa.key"),
            rsa_pub: dir.path().join("rsa_pub.key"),
            ca_key: dir.path().join("ca.key"),
            ca_crt: dir.path().join("ca.crt"),
            tls: Some(TlsPaths {
                cert: dir.path().join("tls.crt"),
                key: dir.path().join("tls.key"),
            }),
        };
        Fixture { dir, paths }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn replace(&self, name: &str, text: &str) {
        let path = self.path(name);
        let mode = fs::metadata(&path).unwrap().permissions();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, mode).unwrap();
    }

    fn report(&self, server_name: &str, reader: Option<&Account>) -> Report {
        validate(
            &self.paths,
            &Context {
                server_name,
                reader,
                now: SystemTime::now(),
            },
        )
    }

    /// The only problem, which must name `file`.
    fn one_problem(&self, file: &str) -> String {
        let r = self.report(SERVER, None);
        assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
        let line = r.problems[0].clone();
        assert!(
            line.starts_with(&self.path(file).display().to_string()),
            "{line}"
        );
        assert!(!line.contains('\n'));
        line
    }
}

fn pem_of_key(key: &rsa::PrivateKey) -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

fn days(n: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(n)
}

#[test]
fn a_generated_set_is_valid() {
    let f = Fixture::new();
    let r = f.report(SERVER, None);
    assert!(r.is_ok(), "{:#?}", r.problems);
    assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
    // localhost is in every generated TLS certificate.
    assert!(f.report("LOCALHOST", None).is_ok());
}

#[test]
fn public_key_of_another_key() {
    use rsa::pkcs8::EncodePublicKey;
    let f = Fixture::new();
    let other = keys()[3]
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    f.replace("rsa_pub.key", &other);
    let line = f.one_problem("rsa_pub.key");
    assert!(line.contains("is not the public key of"), "{line}");
    assert!(line.contains("-pubout"), "{line}");
}

#[test]
fn certificate_of_another_key() {
    let f = Fixture::new();
    f.replace("tls.key", &pem_of_key(&keys()[3]));
    let line = f.one_problem("tls.crt");
    assert!(line.contains("is not the certificate of"), "{line}");
    let f = Fixture::new();
    f.replace("ca.key", &pem_of_key(&keys()[3]));
    assert!(f.one_problem("ca.crt").contains("ca.key"));
}

#[test]
fn expired_and_expiring() {
    let [ca, _, tls, _] = keys();
    let f = Fixture::new();
    f.replace("tls.crt", &certificate(tls, &[SERVER], days(-1), Some(ca)));
    assert!(f.one_problem("tls.crt").contains("expired on"));

    let f = Fixture::new();
    f.replace("tls.crt", &certificate(tls, &[SERVER], days(10), Some(ca)));
    let r = f.report(SERVER, None);
    assert!(r.is_ok(), "{:#?}", r.problems);
    assert_eq!(r.warnings.len(), 1, "{:#?}", r.warnings);
    assert!(r.warnings[0].contains("expires on"), "{}", r.warnings[0]);
}

#[test]
fn wrong_name() {
    let f = Fixture::new();
    let r = f.report("pulp.other.example", None);
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    assert!(
        r.problems[0].contains("does not name the server_name \"pulp.other.example\""),
        "{}",
        r.problems[0]
    );
    assert!(r.problems[0].contains(SERVER), "{}", r.problems[0]);
}

#[test]
fn not_signed_by_the_ca() {
    let [_, _, tls, other] = keys();
    let f = Fixture::new();
    f.replace(
        "tls.crt",
        &certificate(tls, &[SERVER], days(100), Some(other)),
    );
    assert!(f.one_problem("tls.crt").contains("not signed by the CA"));
    let f = Fixture::new();
    f.replace("tls.crt", &certificate(tls, &[SERVER], days(100), None));
    assert!(f.one_problem("tls.crt").contains("not signed by the CA"));
}

#[test]
fn world_readable_key() {
    let f = Fixture::new();
    fs::set_permissions(f.path("rsa.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let line = f.one_problem("rsa.key");
    assert!(
        line.contains("readable by every user (mode 0644)"),
        "{line}"
    );
    assert!(line.contains("chmod o-rwx"), "{line}");
}

#[test]
fn unreadable_by_the_service_user() {
    let f = Fixture::new();
    let meta = fs::metadata(f.path("ca.key")).unwrap();
    use std::os::unix::fs::MetadataExt;
    let stranger = Account {
        name: "apache".into(),
        uid: meta.uid() + 4242,
        gid: meta.gid() + 4242,
        groups: vec![meta.gid() + 4242],
        home: "/".into(),
    };
    let r = f.report(SERVER, Some(&stranger));
    // Both 0640 keys; the 0644 public files are readable; TLS is read as root (not checked).
    assert_eq!(r.problems.len(), 2, "{:#?}", r.problems);
    for (line, file) in r.problems.iter().zip(["rsa.key", "ca.key"]) {
        assert!(
            line.starts_with(&f.path(file).display().to_string()),
            "{line}"
        );
        assert!(line.contains("not readable by user apache"), "{line}");
        assert!(line.contains("mode 0640"), "{line}");
    }
    let member = Account {
        groups: vec![meta.gid(), meta.gid() + 4242],
        ..stranger
    };
    assert!(f.report(SERVER, Some(&member)).is_ok());
}

#[test]
fn unsearchable_directory() {
    let f = Fixture::new();
    fs::set_permissions(f.dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let stranger = Account {
        name: "apache".into(),
        uid: 4242,
        gid: 4242,
        groups: vec![4242],
        home: "/".into(),
    };
    let r = f.report(SERVER, Some(&stranger));
    assert!(
        r.problems.iter().all(|l| l.contains("is not searchable")),
        "{:#?}",
        r.problems
    );
}

#[test]
fn missing_one_file_of_a_pair() {
    let f = Fixture::new();
    fs::remove_file(f.path("rsa_pub.key")).unwrap();
    let line = f.one_problem("rsa_pub.key");
    assert!(line.contains("missing, while"), "{line}");
    assert!(line.contains(&f.path("rsa.key").display().to_string()));

    let f = Fixture::new();
    fs::remove_file(f.path("tls.key")).unwrap();
    assert!(f.one_problem("tls.key").contains("missing, while"));
}

#[test]
fn a_pair_missing_altogether_is_reported_as_such() {
    let f = Fixture::new();
    fs::remove_file(f.path("ca.key")).unwrap();
    fs::remove_file(f.path("ca.crt")).unwrap();
    let r = f.report(SERVER, None);
    assert_eq!(r.missing, vec![Pair::Ca]);
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    assert!(r.problems[0].contains("pulp-init keys --out"));
}

#[test]
fn not_pem_and_encrypted() {
    let f = Fixture::new();
    f.replace("rsa.key", "not a key\n");
    assert!(f.one_problem("rsa.key").contains("no PEM block"));
    let f = Fixture::new();
    f.replace(
        "rsa.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    assert!(f.one_problem("rsa.key").contains("is encrypted"));
}

#[test]
fn pkcs8_keys_are_read_too() {
    use rsa::pkcs8::EncodePrivateKey;
    let f = Fixture::new();
    let pkcs8 = keys()[1]
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    f.replace("rsa.key", &pkcs8);
    assert!(f.report(SERVER, None).is_ok());
}

#[test]
fn names_as_clients_match_them() {
    use super::validate::name_matches;
    assert!(name_matches("Pulp.Example.com", "pulp.example.COM"));
    assert!(name_matches("*.example.com", "pulp.example.com"));
    assert!(!name_matches("*.example.com", "a.pulp.example.com"));
    assert!(!name_matches("*.example.com", "example.com"));
    assert!(!name_matches("pulp.example.com", "pulp"));
}

#[test]
fn fqdn_from_the_hosts_file() {
    let hosts = "127.0.0.1 localhost\n10.0.0.5 pulp1 pulp1.example.com # pod\n";
    assert_eq!(fqdn_in("pulp1", hosts), "pulp1.example.com");
    assert_eq!(fqdn_in("other", hosts), "other");
    assert_eq!(fqdn_in("a.b", hosts), "a.b");
    assert_eq!(fqdn_in("", hosts), "localhost");
}

#[test]
fn secrets_do_not_show_in_debug() {
    let s = Secret::new("-----BEGIN RSA PRIVATE KEY-----".into());
    assert_eq!(format!("{s:?}"), "<private key>");
}

#[test]
fn apache_group_from_the_group_file() {
    let group = "root:x:0:\napache-x:x:7:\napache:x:48:\n";
    assert_eq!(gid_in("apache", group), Some(48));
    assert_eq!(gid_in("pulp", group), None);
}

#[test]
fn secret_volume_links_are_followed() {
    // Kubernetes mounts a Secret's files as links into a `..data` directory.
    let f = Fixture::new();
    let data = f.path("..data");
    fs::create_dir(&data).unwrap();
    for name in ["rsa.key", "rsa_pub.key"] {
        fs::rename(f.path(name), data.join(name)).unwrap();
        std::os::unix::fs::symlink(format!("..data/{name}"), f.path(name)).unwrap();
    }
    assert!(f.report(SERVER, None).is_ok());
    fs::set_permissions(data.join("rsa.key"), fs::Permissions::from_mode(0o644)).unwrap();
    assert!(f.one_problem("rsa.key").contains("mode 0644"));
}

#[test]
fn keys_get_the_group_before_their_content() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let gid = fs::metadata(dir.path()).unwrap().gid();
    let set = set_from_keys(
        &Names {
            fqdn: "ca.example.com".into(),
            server_name: SERVER.into(),
        },
        &keys()[0],
        &keys()[1],
        &keys()[2],
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    write_set(&set, &Layout::in_dir(dir.path(), Some(gid))).unwrap();
    let m = fs::metadata(dir.path().join("ca.key")).unwrap();
    assert_eq!((m.gid(), m.mode() & 0o7777), (gid, 0o640));
    // Nothing but the six files: no temp left.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 6);
}
