//! Writing server.conf without ever leaving it half-written.
//!
//! Normally: a temp file in the same directory with the original's mode and owner,
//! fsync, rename over the original, fsync the directory. A file that is itself a mount
//! point (`docker run -v ./server.conf:/etc/pulp/server.conf`, a Kubernetes `subPath`)
//! cannot be renamed over (EBUSY), and a file whose owner we cannot give to a new file
//! would change owner; both are rewritten in place, from a temp copy that is complete and
//! fsynced first, so a crash leaves the full new text next to the file.
//!
//! Temp files get a random name, created with `O_EXCL`: pulp-init is PID 1 in every
//! container, so a name made of the pid is the same at every start, and one left by a
//! killed write (or planted) would make every later write fail. A rename temp file left
//! over is removed by the next write (the caller holds server.conf's lock, so no other
//! pulp-init is writing one); a copy kept for an in-place write is left for the admin.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How the file was written, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Renamed,
    InPlace(InPlaceReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlaceReason {
    MountPoint,
    OwnerNotPreservable,
    DirectoryNotWritable,
}

impl std::fmt::Display for InPlaceReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InPlaceReason::MountPoint => "it is a mount point, rename cannot replace it",
            InPlaceReason::OwnerNotPreservable => "a new file could not keep its owner",
            InPlaceReason::DirectoryNotWritable => "its directory is not writable, the file is",
        })
    }
}

pub fn write(path: &Path, contents: &[u8]) -> io::Result<Method> {
    write_with(path, contents, || Ok(()))
}

/// `before_rename` runs after the temp file is complete and fsynced, just before it
/// replaces the original: the window a crash or error must not harm.
pub fn write_with(
    path: &Path,
    contents: &[u8],
    before_rename: impl FnOnce() -> io::Result<()>,
) -> io::Result<Method> {
    let target = fs::canonicalize(path)?;
    let meta = fs::metadata(&target)?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    // Fail early, before any temp file, when the file itself is not writable.
    OpenOptions::new().write(true).open(&target)?;
    if is_mount_point(&target) {
        return in_place(&target, contents, InPlaceReason::MountPoint);
    }
    let dir = target.parent().unwrap_or(Path::new("/"));
    remove_stale_temps(dir, &target);
    let mut tmp = None;
    let result = (|| {
        let mut f = match create_temp(dir, &target, TEMP, meta.mode()) {
            Ok((path, f)) => {
                tmp = Some(path);
                f
            }
            // A writable file in a directory we may not write (an image's /etc/pulp under
            // OpenShift's arbitrary uid): it can only be rewritten in place.
            Err(e)
                if e.kind() == io::ErrorKind::PermissionDenied
                    || e.raw_os_error() == Some(libc::EROFS) =>
            {
                return Ok(Some(InPlaceReason::DirectoryNotWritable));
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = fchown(&f, meta.uid(), meta.gid()) {
            if e.raw_os_error() == Some(libc::EPERM) {
                return Ok(Some(InPlaceReason::OwnerNotPreservable));
            }
            return Err(e);
        }
        f.write_all(contents)?;
        f.sync_all()?;
        before_rename()?;
        if let Some(path) = &tmp {
            fs::rename(path, &target)?;
        }
        Ok(None)
    })();
    let remove_tmp = || {
        if let Some(path) = &tmp {
            let _ = fs::remove_file(path);
        }
    };
    match result {
        Ok(None) => {
            File::open(dir)?.sync_all()?;
            Ok(Method::Renamed)
        }
        Ok(Some(reason)) => {
            remove_tmp();
            in_place(&target, contents, reason)
        }
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            remove_tmp();
            in_place(&target, contents, InPlaceReason::MountPoint)
        }
        Err(e) => {
            remove_tmp();
            Err(e)
        }
    }
}

/// The suffix of a temp file renamed over server.conf, and of the copy an in-place write
/// keeps until it is done.
const TEMP: &str = "tmp";
const COPY: &str = "new";

/// `.NAME.pulp-init.` for server.conf's NAME: what every temp file's name starts with.
fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.pulp-init.")
}

/// Creates `.NAME.pulp-init.RANDOM.SUFFIX` in `dir`, with `O_EXCL`; a name already taken
/// is passed over.
pub(crate) fn create_temp(
    dir: &Path,
    target: &Path,
    suffix: &str,
    mode: u32,
) -> io::Result<(PathBuf, File)> {
    use ring::rand::SecureRandom;
    let random = ring::rand::SystemRandom::new();
    for _ in 0..16 {
        let mut bytes = [0u8; 8];
        random
            .fill(&mut bytes)
            .map_err(|_| io::Error::other("no random bytes for a temp file name"))?;
        let path = dir.join(format!(
            "{}{:016x}.{suffix}",
            temp_prefix(target),
            u64::from_ne_bytes(bytes)
        ));
        let f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        // Set after creation: the mode given to open() is masked by the umask.
        if let Err(e) = f.set_permissions(fs::Permissions::from_mode(mode & 0o7777)) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        return Ok((path, f));
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "16 random temp file names were all taken",
    ))
}

/// Removes the rename temp files an interrupted write left in `dir` (also those named
/// after the pid by earlier versions): regular files of ours, never followed if links.
fn remove_stale_temps(dir: &Path, target: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = temp_prefix(target);
    let euid = crate::sys::geteuid();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Some(middle) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(&format!(".{TEMP}")))
        else {
            continue;
        };
        if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = entry.path();
        // symlink_metadata: a link is not followed (and not a file of ours).
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.uid() == euid)
            && fs::remove_file(&path).is_ok()
        {
            log::info!("removed {}, left by an interrupted write", path.display());
        }
    }
}

fn fchown(f: &File, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::fchown(f, Some(uid), Some(gid))
}

fn in_place(target: &Path, contents: &[u8], reason: InPlaceReason) -> io::Result<Method> {
    let file = OpenOptions::new().read(true).write(true).open(target)?;
    let mut original = Vec::new();
    (&file).read_to_end(&mut original)?;
    // Space for the new text is reserved first (ENOSPC here leaves the file as it was),
    // and a failed write puts the original back.
    crate::sys::reserve(&file, contents.len() as u64)?;
    // A complete, fsynced copy of the new text, so a crash mid-write leaves it next to
    // the file; best effort (on a full filesystem there may be no room for it).
    let copy = keep_copy(target, contents);
    let written = overwrite(&file, contents).inspect_err(|_| {
        if let Err(restore) = overwrite(&file, &original) {
            log::error!(
                "{}: restoring the original after a failed write failed too: {restore}",
                target.display()
            );
        }
    });
    if let Some(copy) = copy {
        let _ = fs::remove_file(copy);
    }
    written.map(|()| Method::InPlace(reason))
}

fn overwrite(file: &File, contents: &[u8]) -> io::Result<()> {
    file.write_all_at(contents, 0)?;
    file.set_len(contents.len() as u64)?;
    file.sync_all()
}

fn keep_copy(target: &Path, contents: &[u8]) -> Option<PathBuf> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    for dir in [dir, &std::env::temp_dir()] {
        let Ok((path, mut f)) = create_temp(dir, target, COPY, 0o600) else {
            continue;
        };
        if f.write_all(contents).and_then(|()| f.sync_all()).is_ok() {
            return Some(path);
        }
        let _ = fs::remove_file(&path);
    }
    None
}

/// True when `path` is listed as a mount point in /proc/self/mountinfo.
fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == wanted)
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_before_rename_leaves_the_original_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        fs::write(&path, "[a]\nk: old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = write_with(&path, b"[a]\nk: new\n", || {
            Err(io::Error::other("injected failure"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "injected failure");
        assert_eq!(fs::read_to_string(&path).unwrap(), "[a]\nk: old\n");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temp file left behind");
    }

    #[test]
    fn rename_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        fs::write(&path, "x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(write(&path, b"y").unwrap(), Method::Renamed);
        assert_eq!(fs::read_to_string(&path).unwrap(), "y");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
    }

    #[test]
    fn only_rename_temp_files_of_ours_left_by_an_interrupted_write_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let path = d.join("server.conf");
        fs::write(&path, "x").unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let stale = [
            ".server.conf.pulp-init.1.tmp",
            ".server.conf.pulp-init.0123abcd.tmp",
        ];
        let kept = [
            ".server.conf.pulp-init.0123abcd.new", // an in-place write's copy: for the admin
            ".server.conf.pulp-init.x.tmp",
            ".other.conf.pulp-init.1.tmp",
            ".server.conf.pulp-init.2.tmp", // a symlink, below
        ];
        for name in stale.iter().chain(&kept[..3]) {
            fs::write(d.join(name), "old").unwrap();
        }
        std::os::unix::fs::symlink(&victim, d.join(kept[3])).unwrap();
        assert_eq!(write(&path, b"y").unwrap(), Method::Renamed);
        assert_eq!(fs::read_to_string(&path).unwrap(), "y");
        for name in stale {
            assert!(!d.join(name).exists(), "{name}");
        }
        for name in kept {
            assert!(d.join(name).symlink_metadata().is_ok(), "{name}");
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_dir(d).unwrap().count(), 1 + kept.len());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), r"/a b\c");
    }
}
