//! The contract's variables as given: plain values, and `<VAR>_FILE` ones read from their
//! files (Docker and Kubernetes secrets), bounded and never blocking.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

/// The variables of the contract, besides `PULP__<SECTION>__<KEY>`.
pub const VARS: &[&str] = &[
    "PULP_SERVER_NAME",
    "SERVICE_HOST",
    "DB_SERVICE_HOST",
    "DB_SERVICE_PORT",
    "MSG_SERVICE_HOST",
    "MSG_SERVICE_PORT",
    "MSG_SERVICE_USER",
    "MSG_SERVICE_PASSWORD",
    "MSG_SERVICE_TYPE",
    "MSG_SERVICE_VHOST",
];

pub const PREFIX: &str = "PULP__";

/// A variable's value and whether it came from a `_FILE` (then it is never shown).
#[derive(Debug, Clone)]
pub(super) struct Value {
    text: String,
    from_file: bool,
}

/// The contract's variables, `_FILE` ones already read.
#[derive(Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, Value>,
}

fn is_contract_var(name: &str) -> bool {
    VARS.contains(&name) || name.starts_with(PREFIX)
}

impl Env {
    /// Collects the contract's variables from `vars`, reading `<VAR>_FILE` through
    /// `read_file`. Other variables are ignored.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        read_file: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Env> {
        let mut plain = BTreeMap::new();
        let mut files = BTreeMap::new();
        for (name, value) in vars {
            let Some(name) = name.to_str().map(str::to_string) else {
                continue;
            };
            let base = name.strip_suffix("_FILE").filter(|b| is_contract_var(b));
            if !is_contract_var(&name) && base.is_none() {
                continue;
            }
            let value = value
                .into_string()
                .map_err(|_| Error::env(&name, "is not valid UTF-8"))?;
            match base {
                Some(base) => files.insert(base.to_string(), value),
                None => plain.insert(name, value),
            };
        }
        let mut env = Env::default();
        for (name, text) in plain {
            if files.contains_key(&name) {
                return Err(Error::env(
                    &name,
                    format!("both {name} and {name}_FILE are set; unset one of them"),
                ));
            }
            env.vars.insert(
                name,
                Value {
                    text,
                    from_file: false,
                },
            );
        }
        for (name, path) in files {
            let var = format!("{name}_FILE");
            if path.is_empty() {
                return Err(Error::env(
                    var,
                    "is set but empty; give the path of a file or unset it",
                ));
            }
            let text = read_file(Path::new(&path))
                .map_err(|e| Error::env(&var, format!("cannot read {path}: {e}")))?;
            // Windows editors start a UTF-8 file with a byte order mark: not part of the value.
            let text = match text.strip_prefix('\u{feff}') {
                Some(rest) => {
                    log::debug!("{var}: the byte order mark at the start of {path} is not part of the value");
                    rest.to_string()
                }
                None => text,
            };
            // Secret files usually end with one newline that is not part of the value.
            let text = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string();
            env.vars.insert(
                name,
                Value {
                    text,
                    from_file: true,
                },
            );
        }
        Ok(env)
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &String> {
        self.vars.keys()
    }

    pub(super) fn is_set(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// The value of `name`, or None when unset. Set but empty is an error.
    pub(super) fn get(&self, name: &str) -> Result<Option<&Value>> {
        match self.vars.get(name) {
            Some(v) if v.text.is_empty() => Err(Error::env(
                self.shown_name(name),
                "is set but empty; give a value or unset it",
            )),
            other => Ok(other),
        }
    }

    pub(super) fn text(&self, name: &str) -> Result<Option<&str>> {
        Ok(self.get(name)?.map(|v| v.text.as_str()))
    }

    pub(super) fn is_from_file(&self, name: &str) -> bool {
        self.vars.get(name).is_some_and(|v| v.from_file)
    }

    /// The variable the user actually set (`X_FILE` when the value came from a file).
    pub(super) fn shown_name(&self, name: &str) -> String {
        if self.is_from_file(name) {
            format!("{name}_FILE")
        } else {
            name.to_string()
        }
    }
}

/// The largest `_FILE` pulp-init reads: a secret, not a data file.
pub const FILE_VALUE_MAX: u64 = 64 * 1024;

/// Reads the file a `<VAR>_FILE` names: a regular file (or a symlink to one, as
/// Kubernetes mounts secrets) of at most [`FILE_VALUE_MAX`] bytes, in UTF-8. A FIFO or a
/// device is refused without blocking on it.
pub fn read_value_file(path: &Path) -> std::io::Result<String> {
    let bytes = crate::conf::read_small_file(
        path,
        FILE_VALUE_MAX,
        "give a regular file (a mounted secret)",
        &format!(
            "it is larger than {} KiB, too large for a server.conf value",
            FILE_VALUE_MAX / 1024
        ),
    )?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not valid UTF-8"))
}
