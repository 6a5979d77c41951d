//! The image and the Kubernetes manifests, checked statically (no container engine
//! here): they must use pulp-init as it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{has, repo, BIN};
use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_containerfile_runs_the_static_binary_as_its_exec_form_entrypoint() {
    let file = std::fs::read_to_string(repo().join("images/Containerfile")).unwrap();
    has(&file, "\nENTRYPOINT [\"/usr/bin/pulp-init\"]\n");
    has(&file, "\nSTOPSIGNAL SIGTERM\n");
    // The binary scripts/build-static.sh produces, at the path the entrypoint names.
    let build = std::fs::read_to_string(repo().join("scripts/build-static.sh")).unwrap();
    has(&build, "target=x86_64-unknown-linux-musl");
    has(
        &file,
        "\nCOPY target/x86_64-unknown-linux-musl/release/pulp-init /usr/bin/pulp-init\n",
    );
    // The default role exists, and the version file is where the fingerprint looks.
    let roles = help(&["roles"]);
    let cmd = file.lines().find(|l| l.starts_with("CMD ")).unwrap();
    let role = cmd.split('"').nth(3).unwrap();
    assert!(
        roles.lines().any(|l| l.starts_with(&format!("{role} "))),
        "{cmd}"
    );
    has(&file, "> /etc/pulp-init/version");
    has(&help(&["--help"]), "/etc/pulp-init/version");
}

#[test]
fn the_kubernetes_manifests_use_real_roles_variables_and_the_check_command() {
    let yaml = std::fs::read_to_string(repo().join("deploy/kubernetes.yaml")).unwrap();
    let roles = help(&["roles"]);
    let top_help = help(&["--help"]);
    let mut seen_roles = Vec::new();
    for line in yaml.lines().map(str::trim) {
        if let Some(args) = line.strip_prefix("args: [\"--role\", \"") {
            let role = args.trim_end_matches("\"]");
            assert!(
                roles.lines().any(|l| l.starts_with(&format!("{role} "))),
                "{line}"
            );
            seen_roles.push(role.to_string());
        }
        if let Some(rest) = line
            .strip_prefix("- {name: ")
            .filter(|r| r.contains(", value"))
        {
            let var = rest.split(',').next().unwrap();
            let base = var.strip_suffix("_FILE").unwrap_or(var);
            assert!(
                base.starts_with("PULP__") || top_help.contains(base),
                "{var} is not part of pulp-init's environment contract"
            );
        }
    }
    seen_roles.sort();
    assert_eq!(seen_roles, ["apache", "beat", "resource_manager", "worker"]);
    has(&yaml, "command: [\"/usr/bin/pulp-init\", \"check\"]");
    // Exactly one beat: migrations are locked anyway, but beat schedules must not double.
    let beat = yaml.split("name: pulp-beat\nspec:\n").nth(1).unwrap();
    has(beat.lines().next().unwrap(), "replicas: 1");
}
