//! What the migration command printed, kept for its error message: repeated lines
//! collapsed (with `log_type: console` pulp-manage-db prints every message twice, once
//! as `pulp: <logger>:<LEVEL>: <message>` and once bare), the first error lines, the last
//! lines, and what failed: the migration and the exception. Also what a retry could help
//! with: a Pulp process that came online, or a lost database connection.

use std::collections::VecDeque;

/// Error lines kept from the first one on, and last lines kept.
const FIRST: usize = 10;
const LAST: usize = 20;
/// How far back a line counts as a repeat (a traceback printed twice is ~40 lines).
const WINDOW: usize = 256;

/// pymongo's and pulp-manage-db's words for a database it could not reach.
const LOST_DATABASE: &[&str] = &[
    "Cannot connect to the database",
    "ServerSelectionTimeoutError",
    "AutoReconnect",
    "NetworkTimeout",
    "ConnectionFailure",
];
/// pulp-manage-db's own check found live Pulp processes.
const LIVE_PROCESSES: &str = "The following processes are still running";

#[derive(Debug, Default, Clone)]
pub struct Kept {
    recent: VecDeque<String>,
    first_error: Vec<String>,
    /// Kept lines after the first error block is full (or all, without an error).
    last: VecDeque<String>,
    /// Lines between the first error block and `last` were left out.
    gap: bool,
    migration: Option<String>,
    exception: Option<String>,
    in_traceback: bool,
    pub collapsed: usize,
    pub lost_database: bool,
    pub live_processes: bool,
}

/// A line without Pulp's `pulp: <logger>:<LEVEL>: ` prefix.
fn bare(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("pulp: ") else {
        return line;
    };
    for level in [
        ":CRITICAL: ",
        ":ERROR: ",
        ":WARNING: ",
        ":INFO: ",
        ":DEBUG: ",
    ] {
        if let Some(i) = rest.find(level) {
            if !rest[..i].contains(' ') {
                return &rest[i + level.len()..];
            }
        }
    }
    line
}

fn is_error(line: &str, bare: &str) -> bool {
    line.contains(":CRITICAL: ")
        || line.contains(":ERROR: ")
        || bare.starts_with("Traceback (most recent call last):")
        || failed_migration(bare).is_some()
}

/// `Applying migration <name> failed.` (pulp-manage-db's line before its traceback).
fn failed_migration(bare: &str) -> Option<&str> {
    let rest = bare.trim().strip_prefix("Applying migration ")?;
    rest.strip_suffix(" failed.")
}

impl Kept {
    pub fn push(&mut self, line: &str) {
        let line = line.trim_end();
        let b = bare(line);
        if LOST_DATABASE.iter().any(|w| b.contains(w)) {
            self.lost_database = true;
        }
        if b.contains(LIVE_PROCESSES) {
            self.live_processes = true;
        }
        if let Some(m) = failed_migration(b) {
            self.migration = Some(m.to_string());
        }
        if b.trim().is_empty() {
            return;
        }
        if b.starts_with("Traceback (most recent call last):") {
            self.in_traceback = true;
        } else if self.in_traceback && !b.starts_with([' ', '\t']) {
            self.exception = Some(b.to_string());
            self.in_traceback = false;
        }
        if self.recent.iter().any(|r| r == b) {
            self.collapsed += 1;
            return;
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(b.to_string());
        if (!self.first_error.is_empty() || is_error(line, b)) && self.first_error.len() < FIRST {
            if self.first_error.is_empty() {
                // What came before the first error is not shown with it.
                self.last.clear();
                self.gap = false;
            }
            self.first_error.push(b.to_string());
            return;
        }
        if self.last.len() == LAST {
            self.last.pop_front();
            self.gap = true;
        }
        self.last.push_back(b.to_string());
    }

    /// `migration <name> failed: <exception>`, or what is known of it.
    pub fn summary(&self) -> Option<String> {
        match (&self.migration, &self.exception) {
            (Some(m), Some(e)) => Some(format!("migration {m} failed: {e}")),
            (Some(m), None) => Some(format!("migration {m} failed")),
            (None, Some(e)) => Some(e.clone()),
            (None, None) => None,
        }
    }

    /// The first error lines, then the last lines after them (all when no error was seen).
    pub fn lines(&self) -> Vec<String> {
        let mut out = self.first_error.clone();
        if !out.is_empty() && self.gap {
            out.push("…".into());
        }
        out.extend(self.last.iter().cloned());
        out
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty() && self.first_error.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pulp-manage-db's output for a failing migration under `log_type: console`: Pulp's
    /// handler and the command's own console handler print each record.
    fn console_failure() -> Vec<String> {
        let mut out = vec![];
        for _ in 0..2 {
            out.push(
                "pulp: pulp.server.db.manage:INFO: Applying pulp.server.db.migrations version 29"
                    .to_string(),
            );
            out.push("Applying pulp.server.db.migrations version 29".into());
        }
        let records = [
            "Applying migration pulp.server.db.migrations.0030_x failed.\n\nHalting migrations due to a migration failure.",
            "boom",
            "Traceback (most recent call last):\n  File \"/usr/lib/python2.7/site-packages/pulp/server/db/manage.py\", line 178, in migrate_database\n    migration_package.apply_migration(migration,\n  File \"x.py\", line 3, in migrate\n    raise ValueError('boom')\nValueError: boom\n",
        ];
        for r in records {
            for (i, l) in r.lines().enumerate() {
                out.push(if i == 0 {
                    format!("pulp: pulp.server.db.manage:CRITICAL: {l}")
                } else {
                    l.to_string()
                });
            }
            out.extend(r.lines().map(String::from));
        }
        out
    }

    #[test]
    fn a_failure_printed_twice_is_named_once_with_its_migration_and_exception() {
        let mut k = Kept::default();
        for l in console_failure() {
            k.push(&l);
        }
        assert_eq!(
            k.summary().as_deref(),
            Some("migration pulp.server.db.migrations.0030_x failed: ValueError: boom")
        );
        let lines = k.lines();
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("Applying migration"))
                .count(),
            1,
            "{lines:#?}"
        );
        assert_eq!(
            lines.iter().filter(|l| *l == "ValueError: boom").count(),
            1,
            "{lines:#?}"
        );
        assert_eq!(
            lines[0],
            "Applying migration pulp.server.db.migrations.0030_x failed."
        );
        assert!(k.collapsed > 5);
        assert!(!k.lost_database && !k.live_processes);
    }

    #[test]
    fn the_first_error_lines_survive_a_long_tail() {
        let mut k = Kept::default();
        k.push("pulp: pulp.server.db.manage:CRITICAL: Applying migration m1 failed.");
        for i in 0..100 {
            k.push(&format!("noise {i}"));
        }
        let lines = k.lines();
        assert_eq!(lines[0], "Applying migration m1 failed.");
        assert!(lines.contains(&"…".to_string()), "{lines:#?}");
        assert_eq!(lines.last().map(String::as_str), Some("noise 99"));
        assert!(lines.len() <= FIRST + LAST + 1);
    }

    #[test]
    fn a_lost_database_and_live_processes_are_noticed() {
        let mut k = Kept::default();
        k.push("pulp: pulp.server.db.manage:INFO: Cannot connect to the database, please validate that the database is online and accessible.");
        assert!(k.lost_database);
        let mut k = Kept::default();
        k.push("The following processes are still running, please stop the running workers before retrying the pulp-manage-db command.");
        assert!(k.live_processes);
    }

    #[test]
    fn a_prefix_look_alike_is_kept_as_is() {
        assert_eq!(
            bare("pulp: not a logger:INFO: x"),
            "pulp: not a logger:INFO: x"
        );
        assert_eq!(bare("pulp: a.b:INFO: x"), "x");
    }
}
