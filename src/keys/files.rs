//! Writing a set: every file beside its target under a temp name (`O_EXCL|O_NOFOLLOW`, mode
//! and owner set before any content, fsynced), then all renamed; a failure before the
//! renames removes every temp, so no half set is left.

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
    target: PathBuf,
}

/// Writes all of `files`, or none of them (up to the renames; see the module head).
pub fn write_all(files: &[Planned<'_>]) -> Result<(), KeyError> {
    let mut temps: Vec<Temp> = Vec::new();
    for f in files {
        match write_temp(f) {
            Ok(path) => temps.push(Temp {
                path,
                target: f.target.clone(),
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
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (i, t) in temps.iter().enumerate() {
        if let Err(source) = fs::rename(&t.path, &t.target) {
            remove(&temps[i..]);
            return Err(KeyError::Write {
                path: t.target.clone(),
                source,
            });
        }
        let dir = parent(&t.target).to_path_buf();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| KeyError::Write { path: dir, source })?;
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
fn write_temp(f: &Planned<'_>) -> io::Result<PathBuf> {
    let (path, file) = crate::conf::create_temp(parent(&f.target), &f.target, "tmp", 0o600)?;
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
