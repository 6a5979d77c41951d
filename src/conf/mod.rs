//! The conf phase: apply the environment's edits to server.conf, or show them as a diff.

mod edit;
pub mod parse;
mod write;

pub use edit::{Change, Edit};
pub(crate) use write::create_temp;
pub use write::Method;

use crate::error::{Error, Result};
use crate::redact::{is_secret_key, mask_url_password};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The edited text next to the original, not yet written.
#[derive(Debug)]
pub struct Plan {
    pub path: PathBuf,
    /// The file as read and as it will be written, one `char` per byte ([`parse::from_bytes`]).
    old: String,
    new: String,
    /// What changed, in UTF-8 for the log.
    pub changes: Vec<Change>,
    secret_keys: Vec<(String, String)>,
    _lock: File,
}

/// Reads server.conf as Pulp would: missing, unreadable or not a regular file is an
/// error (exit 78). The text holds one `char` per byte of the file ([`parse::from_bytes`]):
/// Python 2 reads bytes, and so a file that is not UTF-8 (a Latin-1 comment) is fine.
pub fn load(path: &Path) -> Result<String> {
    let (_, text) = open_and_read(path, false)?;
    Ok(text)
}

/// Opens server.conf (refusing anything but a regular file, or a symlink to one, without
/// blocking on a FIFO) and reads it; with `lock`, under an exclusive advisory lock held
/// by the returned file, so that concurrent writers apply their edits one after another.
fn open_and_read(path: &Path, lock: bool) -> Result<(File, String)> {
    let err = |problem: String| Error::ConfRead {
        path: path.to_path_buf(),
        problem,
    };
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => err(
                    "not found; mount server.conf there or set --conf / PULP_SERVER_CONF".into(),
                ),
                _ => err(format!("cannot read: {e}")),
            })?;
        let meta = file
            .metadata()
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if !meta.file_type().is_file() {
            return Err(err(format!(
                "is {}, not a regular file; mount the server.conf file itself there or set --conf / PULP_SERVER_CONF",
                file_kind(&meta.file_type())
            )));
        }
        if lock {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(err(format!(
                    "still locked by another writer after {} s; is another pulp-init config stuck?",
                    LOCK_WAIT.as_secs()
                )))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(err(format!("cannot lock: {e}")))
                }
            }
            // A writer that held the lock may have renamed a new file into place: lock
            // the file the path names now, or its edits would be lost.
            let now = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
            if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
                continue;
            }
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&file)
            .read_to_end(&mut bytes)
            .map_err(|e| err(format!("cannot read: {e}")))?;
        return Ok((file, parse::from_bytes(&bytes)));
    }
}

/// How long a writer waits for another one to finish with server.conf.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Reads a small file pulp-init is given (a version file, a secret): a regular file, or a
/// link to one, of at most `max` bytes. A FIFO or a device is refused without blocking on
/// it (`O_NONBLOCK`, then `fstat`): `regular` is the advice after "it is a FIFO", `large`
/// the message when it holds more than `max`.
pub fn read_small_file(
    path: &Path,
    max: u64,
    regular: &str,
    large: &str,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "it is {}; {regular}",
            file_kind(&meta.file_type())
        )));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(large.to_string()));
    }
    Ok(bytes)
}

/// The kind of a file that is not a regular one, for an error line.
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads server.conf under its lock and applies the edits in memory; the lock is held
/// until the plan is dropped, so `commit` writes over exactly the text that was read.
pub fn plan(path: &Path, edits: &[Edit]) -> Result<Plan> {
    let (lock, old) = open_and_read(path, true)?;
    // The edits' UTF-8 in the file's one-char-per-byte form, and back for the log.
    let as_file = |e: &Edit| Edit {
        section: parse::from_utf8(&e.section),
        key: parse::from_utf8(&e.key),
        value: parse::from_utf8(&e.value),
        ..e.clone()
    };
    let file_edits: Vec<Edit> = edits.iter().map(as_file).collect();
    let (new, changes) = edit::apply(&old, &file_edits).map_err(|e| match e {
        edit::EditError::Parse(p) => Error::ConfRead {
            path: path.to_path_buf(),
            problem: format!(
                "line {}: {} (Pulp's parser would refuse it)",
                p.line, p.problem
            ),
        },
        edit::EditError::Unwritable { edit, reason } => {
            let var = edits.get(edit).map_or("", |e| e.source.as_str());
            Error::env(
                var,
                format!(
                    "cannot be written to {} so that Pulp reads it back: {reason}",
                    path.display()
                ),
            )
        }
        edit::EditError::Verify(msg) => {
            Error::Internal(format!("{}: {}", path.display(), parse::shown(&msg)))
        }
    })?;
    let changes = changes
        .into_iter()
        .map(|c| Change {
            section: parse::shown(&c.section),
            key: parse::shown(&c.key),
            old: c.old.as_deref().map(parse::shown),
            new: parse::shown(&c.new),
        })
        .collect();
    let secret_keys = edits
        .iter()
        .filter(|e| e.secret)
        .map(|e| (e.section.clone(), e.key.to_ascii_lowercase()))
        .collect();
    Ok(Plan {
        path: path.to_path_buf(),
        old,
        new,
        changes,
        secret_keys,
        _lock: lock,
    })
}

impl Plan {
    fn is_secret(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        is_secret_key(&key) || self.secret_keys.iter().any(|(_, k)| *k == key)
    }

    /// A value as it may be shown in a log line or a diff.
    pub fn shown(&self, key: &str, value: &str) -> String {
        if self.is_secret(key) {
            "<redacted>".into()
        } else {
            mask_url_password(value)
        }
    }

    /// Writes the new text, unless nothing differs (then the file is not touched).
    pub fn commit(&self) -> Result<Option<Method>> {
        if self.new == self.old {
            return Ok(None);
        }
        write::write(&self.path, &parse::to_bytes(&self.new))
            .map(Some)
            .map_err(|source| Error::ConfWrite {
                path: self.path.clone(),
                source,
            })
    }

    /// A unified diff of the change, with secrets redacted.
    pub fn diff(&self) -> String {
        let name = self.path.display().to_string();
        let (old, new) = (parse::shown(&self.old), parse::shown(&self.new));
        let text = similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&name, &name)
            .to_string();
        let mut out = String::with_capacity(text.len());
        // The key whose value a continuation line (one that starts with white space)
        // extends, when its line is in the same hunk; unknown at a hunk's start.
        let mut owner: Option<String> = None;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let content = line.get(1..).unwrap_or("");
            if i < 2 || !matches!(line.as_bytes().first(), Some(b'+' | b'-' | b' ')) {
                if line.starts_with("@@") {
                    owner = None;
                }
                out.push_str(line);
                continue;
            }
            out.push_str(&line[..1]);
            if content.starts_with(parse::is_space) && !content.trim().is_empty() {
                out.push_str(&self.redact_continuation(content, owner.as_deref()));
                continue;
            }
            if !parse::is_comment(content) {
                owner = content
                    .find([':', '='])
                    .map(|sep| content[..sep].trim().to_string());
            }
            out.push_str(&self.redact_line(content));
        }
        out
    }

    /// A continuation line: hidden when it extends a secret key's value or one not known
    /// (its key line is outside the hunk); otherwise with any URL password masked.
    fn redact_continuation(&self, line: &str, owner: Option<&str>) -> String {
        match owner {
            Some(key) if !self.is_secret(key) => mask_url_password(line),
            _ => {
                let body = line.trim_start();
                let lead = &line[..line.len() - body.len()];
                let eol = &body[body.trim_end_matches(['\r', '\n']).len()..];
                format!("{lead}<redacted>{eol}")
            }
        }
    }

    fn redact_line(&self, line: &str) -> String {
        if parse::is_comment(line) {
            return line.to_string();
        }
        let Some(sep) = line.find([':', '=']) else {
            return line.to_string();
        };
        let (head, value) = line.split_at(sep + 1);
        let key = head[..sep].trim();
        let body = value.trim_start();
        let lead = &value[..value.len() - body.len()];
        let (body, eol) = match body.find(['\r', '\n']) {
            Some(i) => body.split_at(i),
            None => (body, ""),
        };
        format!("{head}{lead}{}{eol}", self.shown(key, body))
    }
}

/// server.conf as Pulp reads it: every value after `%` interpolation.
#[derive(Debug, Clone)]
pub struct Values {
    path: PathBuf,
    /// Names and raw values, one `char` per byte of the file ([`parse::from_bytes`]).
    raw: std::collections::BTreeMap<(String, String), String>,
}

pub fn read_values(path: &Path) -> Result<Values> {
    let text = load(path)?;
    let parsed = parse::parse(&text).map_err(|p| Error::ConfRead {
        path: path.to_path_buf(),
        problem: format!(
            "line {}: {} (Pulp's parser would refuse it)",
            p.line, p.problem
        ),
    })?;
    Ok(Values {
        path: path.to_path_buf(),
        raw: parsed.values(),
    })
}

impl Values {
    #[cfg(test)]
    pub fn from_text(text: &str) -> Values {
        Values {
            path: PathBuf::from("server.conf"),
            raw: parse::parse(&parse::from_utf8(text))
                .map(|p| p.values())
                .unwrap_or_default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn bad(&self, section: &str, key: &str, problem: impl std::fmt::Display) -> Error {
        Error::ConfRead {
            path: self.path.clone(),
            problem: format!("[{section}] {key}: {problem}"),
        }
    }

    /// A value as Pulp gets it (`%%` and `%(name)s` interpolated); None when unset. A value
    /// whose bytes are not UTF-8 is an error here, where it is used (the file itself may
    /// hold such bytes).
    pub fn get(&self, section: &str, key: &str) -> Result<Option<String>> {
        let Some(raw) = self.lookup(&parse::from_utf8(section), &parse::from_utf8(key)) else {
            return Ok(None);
        };
        let value = self.interpolate(section, key, raw, 0)?;
        String::from_utf8(parse::to_bytes(&value))
            .map(Some)
            .map_err(|_| self.bad(section, key, "the value is not valid UTF-8"))
    }

    /// Unset or empty both mean "not given" to Pulp's `config.get(...)` users.
    pub fn get_nonempty(&self, section: &str, key: &str) -> Result<Option<String>> {
        Ok(self.get(section, key)?.filter(|v| !v.is_empty()))
    }

    /// `[tasks] worker_timeout` (whole seconds, Pulp's default 30): a heartbeat younger
    /// than this is an online Pulp process.
    pub fn worker_timeout(&self) -> Result<std::time::Duration> {
        match self.get_nonempty("tasks", "worker_timeout")? {
            None => Ok(std::time::Duration::from_secs(30)),
            Some(v) => v
                .parse::<u64>()
                .map(std::time::Duration::from_secs)
                .map_err(|_| {
                    self.bad(
                        "tasks",
                        "worker_timeout",
                        format!("{v:?} is not a number of seconds"),
                    )
                }),
        }
    }

    /// configparser's `getboolean`.
    pub fn get_bool(&self, section: &str, key: &str, default: bool) -> Result<bool> {
        match self.get(section, key)? {
            None => Ok(default),
            Some(v) => match v.to_lowercase().as_str() {
                "1" | "yes" | "true" | "on" => Ok(true),
                "0" | "no" | "false" | "off" => Ok(false),
                _ => Err(self.bad(section, key, format!("{v:?} is not a boolean"))),
            },
        }
    }

    /// `section` and `key` in the file's form; keys are matched as Python 2 does, with
    /// ASCII letters case-folded.
    fn lookup(&self, section: &str, key: &str) -> Option<&String> {
        let key = key.to_ascii_lowercase();
        self.raw
            .get(&(section.to_string(), key.clone()))
            .or_else(|| self.raw.get(&("DEFAULT".to_string(), key)))
    }

    fn interpolate(&self, section: &str, key: &str, raw: &str, depth: u8) -> Result<String> {
        if depth > 10 {
            return Err(self.bad(section, key, "interpolation nested too deeply"));
        }
        let mut out = String::new();
        let mut rest = raw;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("%%") {
                out.push('%');
                rest = r;
            } else if let Some((name, r)) = rest.strip_prefix("%(").and_then(|r| r.split_once(")s"))
            {
                let value = self.lookup(section, name).ok_or_else(|| {
                    self.bad(
                        section,
                        key,
                        format!("refers to unknown %({})s", parse::shown(name)),
                    )
                })?;
                out.push_str(&self.interpolate(section, name, value, depth + 1)?);
                rest = r;
            } else {
                return Err(self.bad(section, key, "a '%' must be written '%%'"));
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The real Pulp server.conf files, by name.
    pub fn fixtures() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/server-conf");
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        out.sort();
        assert_eq!(out.len(), 4);
        out
    }

    #[test]
    fn values_are_interpolated_as_pulp_reads_them() {
        let v = Values::from_text(
            "[DEFAULT]\nroot: /r\n[a]\np: 50%%\nq: %(root)s/x\nb: Yes\nbad: 5%\n",
        );
        assert_eq!(v.get("a", "p").unwrap().unwrap(), "50%");
        assert_eq!(v.get("a", "q").unwrap().unwrap(), "/r/x");
        assert!(v.get_bool("a", "b", false).unwrap());
        assert!(v.get_bool("a", "missing", true).unwrap());
        assert_eq!(v.get("a", "bad").unwrap_err().exit_code(), 78);
    }

    #[test]
    fn a_file_that_is_not_utf8_is_read_and_only_such_a_value_is_refused_when_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, b"[a]\n# caf\xe9\nk: v\xc3\xa9\nbad: caf\xe9\n").unwrap();
        let v = read_values(&path).unwrap();
        assert_eq!(v.get("a", "k").unwrap().unwrap(), "v\u{e9}");
        let err = v.get("a", "bad").unwrap_err();
        assert_eq!(err.exit_code(), 78);
        assert!(err.to_string().contains("[a] bad: "), "{err}");
    }
}
