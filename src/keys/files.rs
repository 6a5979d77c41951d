//! Writing a set: every file beside its target under a temp name (`O_EXCL`, mode and owner
//! set before any content, fsynced), then all renamed; a failure before the renames removes
//! every temp, so no half set is left. Each target's directory is walked once and then
//! named through its descriptor (`/proc/self/fd/N/…`): as root, nothing is done by a path
//! another user could change, and a directory another user may write is refused.

use super::KeyError;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One file of a set.
pub struct Planned<'a> {
    pub target: PathBuf,
    pub contents: &'a [u8],
    pub mode: u32,
    /// The group to give it (apache), when pulp-init may.
    pub gid: Option<u32>,
}

struct Temp {
    path: PathBuf,
    /// The target, named through its directory's descriptor.
    target: PathBuf,
    /// The target as configured, for messages.
    shown: PathBuf,
}

/// The directory of `target`, opened by the walk; its files named through the descriptor.
struct Dir {
    path: PathBuf,
    fd: File,
}

impl Dir {
    fn open(target: &Path) -> io::Result<Dir> {
        let path = std::path::absolute(parent(target))?;
        let fd = crate::storage::open_walked_dir(&path)?;
        if crate::sys::geteuid() == 0 {
            use std::os::unix::fs::MetadataExt;
            let m = fd.metadata()?;
            let others = m.mode() & 0o002 != 0 || (m.mode() & 0o020 != 0 && m.gid() != 0);
            if m.uid() != 0 || others {
                return Err(io::Error::other(format!(
                    "{} (owner {}:{}, mode {:04o}) may be changed by a user other than root: pulp-init does not write keys there as root; give a directory of root's (group 0 may write it)",
                    path.display(),
                    m.uid(),
                    m.gid(),
                    m.mode() & 0o7777
                )));
            }
        }
        Ok(Dir { path, fd })
    }

    /// `name` in this directory, as the kernel finds it through the descriptor.
    fn name(&self, target: &Path) -> PathBuf {
        use std::os::fd::AsRawFd;
        Path::new(&format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
            .join(target.file_name().unwrap_or_default())
    }
}

/// Writes all of `files`, or none of them (up to the renames; see the module head).
pub fn write_all(files: &[Planned<'_>]) -> Result<(), KeyError> {
    let mut dirs: Vec<Dir> = Vec::new();
    let mut at: Vec<(usize, PathBuf)> = Vec::new();
    for f in files {
        let err = |source| KeyError::Write {
            path: f.target.clone(),
            source,
        };
        let abs = std::path::absolute(parent(&f.target)).map_err(err)?;
        let i = match dirs.iter().position(|d| d.path == abs) {
            Some(i) => i,
            None => {
                dirs.push(Dir::open(&f.target).map_err(err)?);
                dirs.len() - 1
            }
        };
        at.push((i, dirs[i].name(&f.target)));
    }
    let mut temps: Vec<Temp> = Vec::new();
    for (f, (_, target)) in files.iter().zip(&at) {
        match write_temp(f, target) {
            Ok(path) => temps.push(Temp {
                path,
                target: target.clone(),
                shown: f.target.clone(),
            }),
            Err(source) => {
                remove(&temps);
                return Err(KeyError::Write {
                    path: f.target.clone(),
                    source,
                });
            }
        }
    }
    for (i, t) in temps.iter().enumerate() {
        if let Err(source) = fs::rename(&t.path, &t.target) {
            remove(&temps[i..]);
            return Err(KeyError::Write {
                path: t.shown.clone(),
                source,
            });
        }
    }
    for dir in dirs {
        dir.fd.sync_all().map_err(|source| KeyError::Write {
            path: dir.path,
            source,
        })?;
    }
    Ok(())
}

fn remove(temps: &[Temp]) {
    for t in temps {
        let _ = fs::remove_file(&t.path);
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.NAME.pulp-init.RANDOM.tmp` beside the target (`O_EXCL`: a link planted under the temp
/// name is refused, never written through), complete and fsynced.
fn write_temp(f: &Planned<'_>, target: &Path) -> io::Result<PathBuf> {
    let (path, file) = crate::conf::create_temp(parent(target), target, "tmp", 0o600)?;
    if let Err(e) = fill(&file, f) {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// Group and mode before the first byte, so the key is never readable by more than its
/// final mode allows.
fn fill(file: &File, f: &Planned<'_>) -> io::Result<()> {
    if let Some(gid) = f.gid {
        std::os::unix::fs::fchown(file, None, Some(gid))?;
    }
    file.set_permissions(fs::Permissions::from_mode(f.mode & 0o7777))?;
    let mut w = file;
    w.write_all(f.contents)?;
    file.sync_all()
}

/// `--out DIR`: created (0700) when missing; an existing one must be an empty directory.
pub fn prepare_out_dir(dir: &Path) -> Result<(), KeyError> {
    let refuse = |problem: String| KeyError::OutDir {
        path: dir.to_path_buf(),
        problem,
    };
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|e| refuse(format!("cannot create it: {e}")))?;
            Ok(())
        }
        Err(e) => Err(refuse(format!("cannot inspect it: {e}"))),
        Ok(m) if !m.is_dir() => Err(refuse(
            "is not a directory; name a new or empty directory".into(),
        )),
        Ok(_) => {
            let mut entries =
                fs::read_dir(dir).map_err(|e| refuse(format!("cannot list it: {e}")))?;
            if entries.next().is_some() {
                return Err(refuse(
                    "is not empty; pulp-init writes a set only into a new or empty directory"
                        .into(),
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ok = Planned {
            target: dir.path().join("a.key"),
            contents: b"secret",
            mode: 0o640,
            gid: None,
        };
        let bad = Planned {
            target: dir.path().join("missing-dir/b.key"),
            contents: b"x",
            mode: 0o644,
            gid: None,
        };
        let err = write_all(&[ok, bad]).unwrap_err();
        assert!(err.to_string().contains("b.key"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

        let ok = Planned {
            target: dir.path().join("a.key"),
            contents: b"secret",
            mode: 0o640,
            gid: None,
        };
        write_all(&[ok]).unwrap();
        let m = fs::metadata(dir.path().join("a.key")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn as_root_a_directory_another_user_may_change_is_refused() {
        if crate::sys::geteuid() != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let owned = dir.path().join("owned");
        fs::create_dir(&owned).unwrap();
        std::os::unix::fs::chown(&owned, Some(65534), Some(65534)).unwrap();
        for d in [&shared, &owned] {
            let f = Planned {
                target: d.join("rsa.key"),
                contents: b"secret",
                mode: 0o640,
                gid: None,
            };
            let err = write_all(&[f]).unwrap_err().to_string();
            assert!(
                err.contains("may be changed by a user other than root"),
                "{err}"
            );
            assert_eq!(fs::read_dir(d).unwrap().count(), 0);
        }
        // Group 0 may write it (OpenShift's arbitrary uid): still root's.
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o775)).unwrap();
        let f = Planned {
            target: shared.join("rsa.key"),
            contents: b"secret",
            mode: 0o640,
            gid: None,
        };
        write_all(&[f]).unwrap();
    }

    #[test]
    fn out_dir_must_be_new_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        prepare_out_dir(dir.path()).unwrap();
        let sub = dir.path().join("new");
        prepare_out_dir(&sub).unwrap();
        assert_eq!(fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
        fs::write(sub.join("x"), "").unwrap();
        let err = prepare_out_dir(&sub).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
    }
}
