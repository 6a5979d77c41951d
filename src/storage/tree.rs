//! Walking to Pulp's directories as root without being turned by a link: every step is
//! taken from a directory descriptor (`*_at`, `O_NOFOLLOW`), never by path name, because
//! the service user (and so a compromised Pulp process) can change the volume under us.

use crate::sys;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Links followed on one walk, as the kernel's own limit (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;
/// Times a component may vanish or appear between our `mkdirat` and `openat`.
const MAX_RETRIES: usize = 8;

/// Why a walk stopped.
#[derive(Debug)]
pub enum WalkError {
    /// A symbolic link in a directory that someone other than root can change.
    UntrustedLink {
        link: PathBuf,
        dir: PathBuf,
        owner: u32,
        mode: u32,
    },
    NotADirectory(PathBuf),
    TooManyLinks(PathBuf),
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::UntrustedLink {
                link,
                dir,
                owner,
                mode,
            } => write!(
                f,
                "{} is a symbolic link in {} (owned by uid {owner}, mode {mode:04o}), which a \
                 user other than root can change: pulp-init does not follow it as root; make it \
                 a directory, or list the directory it points to instead",
                link.display(),
                dir.display()
            ),
            WalkError::NotADirectory(p) => write!(
                f,
                "{} exists and is not a directory; Pulp needs a directory there",
                p.display()
            ),
            WalkError::TooManyLinks(p) => {
                write!(f, "{}: too many levels of symbolic links", p.display())
            }
            WalkError::Io { path, op, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
        }
    }
}

/// A directory reached by [`open_dir`]: its descriptor, its path with every link resolved,
/// and whether this walk created it.
pub struct Opened {
    pub dir: File,
    pub path: PathBuf,
    pub created: bool,
}

/// The components of an absolute path with no `..`: the only kind pulp-init takes.
pub fn plain(path: &Path) -> Option<Vec<OsString>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    path.is_absolute().then_some(out)
}

/// Root's own directories: a link there was put by root, and following it is as safe as
/// the image itself. In a directory another user owns, or one group or others may write
/// (a volume, /tmp), a link may be an attack.
fn trusted(dir: &File) -> io::Result<Option<(u32, u32)>> {
    let m = dir.metadata()?;
    let mode = m.mode() & 0o7777;
    Ok((m.uid() != 0 || mode & 0o022 != 0).then_some((m.uid(), mode)))
}

/// Opens the directory at `path` (absolute, no `..`) one component at a time from `/`.
/// A symbolic link is followed only in a directory of root's that no one else may write;
/// anywhere else the walk stops with [`WalkError::UntrustedLink`] naming it.
/// With `create`, missing components are made with `mkdirat` (mode 0755, root's, as
/// `mkdir -p` makes them); the directory itself, when this walk made it, gets
/// `create`'s owner with `fchown` and mode 0755 with `fchmod` on its descriptor.
pub fn open_dir(path: &Path, create: Option<(u32, u32)>) -> Result<Opened, WalkError> {
    let io_err = |p: &Path, op, source| WalkError::Io {
        path: p.to_path_buf(),
        op,
        source,
    };
    let Some(parts) = plain(path) else {
        return Err(io_err(
            path,
            "open",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an absolute path without `..`",
            ),
        ));
    };
    let root = || File::open("/").map_err(|e| io_err(Path::new("/"), "open", e));
    let mut dir = root()?;
    let mut at = PathBuf::from("/");
    let mut todo: VecDeque<OsString> = parts.into();
    let (mut links, mut retries) = (0, 0);
    let mut created = false;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            // Only from a trusted link's target: the parent of where we are.
            dir = sys::open_dir_at(&dir, OsStr::new("..")).map_err(|e| io_err(&at, "open", e))?;
            at.pop();
            created = false;
            continue;
        }
        let here = at.join(&name);
        match sys::open_dir_at(&dir, &name) {
            Ok(next) => {
                dir = next;
                at = here;
                created = false;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create.is_some() => {
                retries += 1;
                if retries > MAX_RETRIES {
                    return Err(io_err(&here, "create", e));
                }
                match sys::mkdir_at(&dir, &name, 0o755) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(io_err(&here, "create", e)),
                }
                // Open what is there now: ours, or whatever replaced it (the open refuses a
                // link, and a directory someone else made instead is theirs already).
                let next = match sys::open_dir_at(&dir, &name) {
                    Ok(next) => next,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        todo.push_front(name);
                        continue;
                    }
                    Err(e) => {
                        todo.push_front(name);
                        if e.raw_os_error() == Some(libc::ELOOP) {
                            continue;
                        }
                        return Err(io_err(&here, "open", e));
                    }
                };
                let owner = if todo.is_empty() {
                    create
                } else {
                    Some((0, 0))
                };
                set_new_dir(&next, owner).map_err(|e| io_err(&here, "set owner and mode of", e))?;
                dir = next;
                at = here;
                created = true;
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                let (is_link, _) =
                    sys::lstat_at(&dir, &name).map_err(|e| io_err(&here, "inspect", e))?;
                if !is_link {
                    return Err(WalkError::NotADirectory(here));
                }
                if let Some((owner, mode)) = trusted(&dir).map_err(|e| io_err(&at, "inspect", e))? {
                    return Err(WalkError::UntrustedLink {
                        link: here,
                        dir: at,
                        owner,
                        mode,
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(WalkError::TooManyLinks(path.to_path_buf()));
                }
                let target = PathBuf::from(OsString::from_vec(
                    sys::readlink_at(&dir, &name).map_err(|e| io_err(&here, "read link", e))?,
                ));
                if target.is_absolute() {
                    dir = root()?;
                    at = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => todo.push_front(n.to_os_string()),
                        Component::ParentDir => todo.push_front(OsString::from("..")),
                        _ => {}
                    }
                }
            }
            Err(e) => return Err(io_err(&here, "open", e)),
        }
    }
    Ok(Opened {
        dir,
        path: at,
        created,
    })
}

/// A directory this walk made: mode 0755 whatever the umask, and its owner.
fn set_new_dir(dir: &File, owner: Option<(u32, u32)>) -> io::Result<()> {
    dir.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(dir, Some(uid), Some(gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_only() {
        assert_eq!(
            plain(Path::new("/var/lib/./pulp/")),
            Some(vec!["var".into(), "lib".into(), "pulp".into()])
        );
        assert_eq!(plain(Path::new("/x/vol/../victim")), None);
        assert_eq!(plain(Path::new("var/lib/pulp")), None);
    }
}
