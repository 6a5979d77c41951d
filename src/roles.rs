//! The role table: who runs what, and what it needs before it starts.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub name: &'static str,
    pub user: &'static str,
    pub needs_db: bool,
    pub needs_broker: bool,
    pub needs_storage: bool,
    pub migrates: bool,
    /// Of Pulp's default directories, those the role's process writes (and so the write
    /// test covers): `None`, every one.
    pub writes: Option<&'static [&'static str]>,
    /// argv; `$PULP_WORKER_ID` is replaced by that variable (default 1).
    pub command: &'static [&'static str],
    /// Stop signals as Pulp's units and the httpd image send them.
    pub rewrites: &'static [(i32, i32)],
}

pub const ROLES: [Role; 4] = [
    Role {
        name: "beat",
        user: "apache",
        needs_db: true,
        needs_broker: true,
        needs_storage: false,
        migrates: true,
        // celery beat's --workdir: its pid and schedule files.
        writes: Some(&["/var/lib/pulp/celery"]),
        command: &[
            "celery",
            "beat",
            "-A",
            "pulp.server.async.app",
            "--workdir",
            "/var/lib/pulp/celery",
            "-l",
            "INFO",
        ],
        rewrites: &[],
    },
    Role {
        name: "resource_manager",
        user: "apache",
        needs_db: true,
        needs_broker: true,
        needs_storage: false,
        migrates: false,
        // Every Pulp Celery worker makes /var/cache/pulp/<its name> at start.
        writes: Some(&["/var/cache/pulp"]),
        command: &[
            "celery",
            "worker",
            "-A",
            "pulp.server.async.app",
            "-n",
            "resource_manager@%h",
            "-Q",
            "resource_manager",
            "-c",
            "1",
            "--events",
            "--umask",
            "18",
        ],
        rewrites: &[],
    },
    Role {
        name: "worker",
        user: "apache",
        needs_db: true,
        needs_broker: true,
        needs_storage: true,
        migrates: false,
        writes: None,
        command: &[
            "celery",
            "worker",
            "-A",
            "pulp.server.async.app",
            "-n",
            "reserved_resource_worker-$PULP_WORKER_ID@%h",
            "-c",
            "1",
            "--events",
            "--umask",
            "18",
            "--heartbeat-interval",
            "30",
        ],
        // Pulp 2's manage_workers stops workers with SIGQUIT.
        rewrites: &[(libc::SIGTERM, libc::SIGQUIT)],
    },
    Role {
        name: "apache",
        user: "root",
        needs_db: true,
        needs_broker: true,
        needs_storage: true,
        migrates: false,
        // Uploads, as the user httpd drops to; it only serves the published trees, which
        // the workers write.
        writes: Some(&["/var/lib/pulp/uploads"]),
        command: &["httpd", "-DFOREGROUND"],
        // SIGWINCH is httpd's graceful stop (the httpd image's STOPSIGNAL).
        rewrites: &[(libc::SIGTERM, libc::SIGWINCH)],
    },
];

impl Role {
    /// Whether the role's process writes `dir` (one of Pulp's default directories).
    pub fn writes(&self, dir: &std::path::Path) -> bool {
        self.writes
            .is_none_or(|list| list.iter().any(|w| dir.starts_with(w)))
    }
}

pub fn find(name: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.name == name)
}

pub fn names() -> Vec<&'static str> {
    ROLES.iter().map(|r| r.name).collect()
}

impl Role {
    /// The default argv, with `$PULP_WORKER_ID` filled in.
    pub fn argv(&self, worker_id: &str) -> Vec<String> {
        self.command
            .iter()
            .map(|a| a.replace("$PULP_WORKER_ID", worker_id))
            .collect()
    }

    fn needs(&self) -> String {
        let mut n = Vec::new();
        for (yes, what) in [
            (self.needs_db, "db"),
            (self.needs_broker, "broker"),
            (self.needs_storage, "storage"),
        ] {
            if yes {
                n.push(what);
            }
        }
        n.join(", ")
    }
}

/// The table `pulp-init roles` prints.
pub fn table() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<17} {:<7} {:<21} {:<8} {:<13} command",
        "role", "user", "needs", "migrates", "stop signal"
    );
    for r in &ROLES {
        let _ = writeln!(
            out,
            "{:<17} {:<7} {:<21} {:<8} {:<13} {}",
            r.name,
            r.user,
            r.needs(),
            if r.migrates { "yes" } else { "no" },
            r.rewrites
                .iter()
                .map(|(f, t)| format!(
                    "{}->{}",
                    crate::sys::signal_name(*f).trim_start_matches("SIG"),
                    crate::sys::signal_name(*t).trim_start_matches("SIG")
                ))
                .next()
                .unwrap_or_else(|| "TERM".into()),
            r.command.join(" ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_name_gets_its_id() {
        let argv = find("worker").unwrap().argv("3");
        assert!(argv.contains(&"reserved_resource_worker-3@%h".to_string()));
        assert_eq!(find("apache").unwrap().argv("1"), ["httpd", "-DFOREGROUND"]);
        assert!(find("nope").is_none());
    }

    #[test]
    fn table_lists_every_role() {
        let t = table();
        assert!(
            t.starts_with(
                "role              user    needs                 migrates stop signal   command\n"
            ),
            "{t}"
        );
        assert!(t.contains("\nworker            apache  db, broker, storage   no       TERM->QUIT    celery worker"), "{t}");
        for r in &ROLES {
            assert!(t.contains(r.name));
        }
    }

    #[test]
    fn each_role_write_tests_what_its_process_writes() {
        let beat = find("beat").unwrap();
        assert!(beat.writes(std::path::Path::new("/var/lib/pulp/celery")));
        assert!(!beat.writes(std::path::Path::new("/var/www/pub")));
        let rm = find("resource_manager").unwrap();
        assert!(rm.writes(std::path::Path::new("/var/cache/pulp")));
        assert!(!rm.writes(std::path::Path::new("/var/lib/pulp")));
        assert!(find("apache")
            .unwrap()
            .writes(std::path::Path::new("/var/lib/pulp/uploads")));
    }
}
