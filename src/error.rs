//! The one error type: a variant per phase, each mapped to one sysexits code.

use std::io;
use std::path::PathBuf;

/// Exit codes, as documented in the README (sysexits.h).
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 64;
    pub const UNAVAILABLE: i32 = 69;
    pub const SOFTWARE: i32 = 70;
    pub const CANTCREAT: i32 = 73;
    pub const TEMPFAIL: i32 = 75;
    pub const NOPERM: i32 = 77;
    pub const CONFIG: i32 = 78;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable of the environment contract has a value pulp-init cannot use.
    #[error("{var}: {problem}")]
    Env { var: String, problem: String },

    /// The command line cannot be used (an option's value, a missing command).
    #[error("{option}: {problem}")]
    Usage { option: String, problem: String },

    /// Signals could not be blocked before start-up.
    #[error("cannot block signals: {0}")]
    Signals(io::Error),

    /// server.conf is missing, unreadable, or not what Pulp's parser accepts.
    #[error("{path}: {problem}")]
    ConfRead { path: PathBuf, problem: String },

    /// server.conf could not be written.
    #[error("cannot write {path}: {source}")]
    ConfWrite { path: PathBuf, source: io::Error },

    /// Dependencies not ready by the deadline (or refusing our credentials): one line each.
    #[error("{}", .0.join("\n"))]
    Unavailable(Vec<String>),

    /// The command could not be executed (126 not executable, 127 not found, as shells do).
    #[error("{message}")]
    Exec { code: i32, message: String },

    /// The migration lock (or a chance to migrate) was not had before the deadline.
    #[error("{0}")]
    Lock(String),

    /// The Pulp database failed a request the migrate phase needed.
    #[error("migrations: {what}: {source}")]
    Database {
        what: &'static str,
        source: Box<mongodb::error::Error>,
    },

    /// The migration command failed: its own exit status.
    #[error("{message}")]
    Migration { code: i32, message: String },

    /// The service's user cannot be had, or dropping to it failed.
    #[error("{0}")]
    Privilege(String),

    /// A directory Pulp needs is missing, cannot be created, or not writable by the
    /// service user: one message with the path, owners, mode and the likely fix.
    #[error("{0}")]
    Storage(String),

    /// Keys and certificates: provided files that cannot be used (one line each, 78), a set
    /// that could not be generated (70) or written (73).
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),

    /// A bug: an edit that did not read back as intended, or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn env(var: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Env {
            var: var.into(),
            problem: problem.into(),
        }
    }

    pub fn usage(option: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Usage {
            option: option.into(),
            problem: problem.into(),
        }
    }

    pub fn database(what: &'static str, source: mongodb::error::Error) -> Self {
        Error::Database {
            what,
            source: Box::new(source),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Env { .. } | Error::Usage { .. } => exit::USAGE,
            Error::Signals(_) => exit::SOFTWARE,
            Error::Database { .. } => exit::UNAVAILABLE,
            Error::ConfRead { .. } => exit::CONFIG,
            Error::ConfWrite { .. } => exit::CANTCREAT,
            Error::Internal(_) => exit::SOFTWARE,
            Error::Unavailable(_) => exit::UNAVAILABLE,
            Error::Exec { code, .. } => *code,
            Error::Privilege(_) | Error::Storage(_) => exit::NOPERM,
            Error::Lock(_) => exit::TEMPFAIL,
            Error::Migration { code, .. } => *code,
            Error::Keys(k) => match k {
                crate::keys::KeyError::Invalid(_) => exit::CONFIG,
                crate::keys::KeyError::Generate(_) => exit::SOFTWARE,
                crate::keys::KeyError::Write { .. } | crate::keys::KeyError::OutDir { .. } => {
                    exit::CANTCREAT
                }
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_table() {
        assert_eq!(Error::env("X", "bad").exit_code(), 64);
        let read = Error::ConfRead {
            path: "/x".into(),
            problem: "missing".into(),
        };
        assert_eq!(read.exit_code(), 78);
        let write = Error::ConfWrite {
            path: "/x".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(write.exit_code(), 73);
        assert_eq!(Error::Internal("x".into()).exit_code(), 70);
        assert_eq!(Error::Unavailable(vec![]).exit_code(), 69);
        let exec = Error::Exec {
            code: 127,
            message: "x: command not found".into(),
        };
        assert_eq!(exec.exit_code(), 127);
        assert_eq!(Error::Privilege("x".into()).exit_code(), 77);
        assert_eq!(Error::Storage("x".into()).exit_code(), 77);
        assert_eq!(Error::Lock("x".into()).exit_code(), 75);
        assert_eq!(Error::usage("--rewrite", "x").exit_code(), 64);
        assert_eq!(Error::Signals(io::Error::other("x")).exit_code(), 70);
        let db = mongodb::error::Error::custom("down");
        assert_eq!(Error::database("reading the lock", db).exit_code(), 69);
        let m = Error::Migration {
            code: 3,
            message: "x".into(),
        };
        assert_eq!(m.exit_code(), 3);
        use crate::keys::KeyError;
        assert_eq!(Error::from(KeyError::Invalid(vec![])).exit_code(), 78);
        assert_eq!(Error::from(KeyError::Generate("x".into())).exit_code(), 70);
        let out = KeyError::OutDir {
            path: "/x".into(),
            problem: "not empty".into(),
        };
        assert_eq!(Error::from(out).exit_code(), 73);
    }
}
