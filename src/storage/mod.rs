//! Pulp's directories before the service starts: what is missing is created, owned by the
//! service user (never a recursive chown), and a real write test, as that user, of the
//! directories the role's process writes, with a diagnosis naming the likely fix.
//! As root every step goes through directory descriptors (tree.rs): the service user can
//! write the volumes, and must not be able to turn root's chown against another file.

mod tree;

use crate::error::{Error, Result};
use crate::privileges::{self, Account};
use crate::roles::Role;
use crate::sys;
use clap::builder::BoolishValueParser;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What Pulp 2 writes to as its service user: /var/lib/pulp and celery, /var/cache/pulp
/// and /run/pulp (seen with Pulp 2.21.5, DESIGN.md), the content trees, and /var/www/pub
/// for published content.
pub const DEFAULT_DIRS: &str = "/var/lib/pulp,/var/lib/pulp/celery,/var/lib/pulp/published,\
/var/lib/pulp/uploads,/var/lib/pulp/static,/var/cache/pulp,/run/pulp,/var/www/pub";

#[derive(Debug, Clone, clap::Args)]
pub struct StorageOptions {
    /// Directories Pulp writes to: created when missing (as root, owned by the service
    /// user), and write-tested as that user: every one given here; by default those the
    /// role's process writes (worker: all; apache: /var/lib/pulp/uploads; beat:
    /// /var/lib/pulp/celery; resource_manager: /var/cache/pulp) [default: /var/lib/pulp, /var/lib/pulp/celery,
    /// /var/lib/pulp/published, /var/lib/pulp/uploads, /var/lib/pulp/static,
    /// /var/cache/pulp, /run/pulp, /var/www/pub]
    #[arg(
        long = "dirs",
        global = true,
        env = "PULP_INIT_DIRS",
        value_delimiter = ',',
        value_name = "PATH,..."
    )]
    pub dirs: Option<Vec<PathBuf>>,

    /// chown those directories (each one alone, never what is in them) to the service
    /// user when another user owns them, and log each change.
    #[arg(long, global = true, env = "PULP_INIT_FIX_OWNERSHIP", value_parser = BoolishValueParser::new())]
    pub fix_ownership: bool,

    /// Owner of Pulp's directories and user of the write test [default: --user, else the
    /// role's user unless it is root: apache for the apache role (httpd drops to it) and
    /// for `check --storage`].
    #[arg(
        long,
        global = true,
        env = "PULP_INIT_STORAGE_USER",
        value_name = "NAME"
    )]
    pub storage_user: Option<String>,

    /// Neither create nor check Pulp's directories.
    #[arg(long, global = true, env = "PULP_INIT_SKIP_STORAGE", value_parser = BoolishValueParser::new())]
    pub skip_storage: bool,
}

/// Who the write test runs as, and how the messages name it.
#[derive(Debug, Clone)]
struct Who {
    name: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    /// None: the test runs as pulp-init itself (not root).
    drop_to: Option<Account>,
}

/// The storage phase of a role: create what is missing (as root), `--fix-ownership`,
/// then the write test of the directories the role's process writes.
pub fn prepare(opts: &StorageOptions, role: &Role, user: Option<&str>) -> Result<()> {
    if opts.skip_storage {
        return Ok(());
    }
    let dirs = validated(opts)?;
    let who = service_user(opts, Some(role), user)?;
    let dirs = if sys::geteuid() == 0 {
        let opened = open_all(&dirs, Some(&who))?;
        if opts.fix_ownership {
            fix_ownership(&opened, &who)?;
        }
        opened
    } else {
        let missing: Vec<String> = dirs
            .iter()
            .filter(|d| d.symlink_metadata().is_err())
            .map(|d| d.display().to_string())
            .collect();
        if !missing.is_empty() {
            log::warn!(
                "not root (uid {}): cannot create {}; create them in the image or mount volumes there",
                who.uid,
                missing.join(", ")
            );
        }
        if opts.fix_ownership {
            log::warn!("not root (uid {}): --fix-ownership cannot chown", who.uid);
        }
        by_path(dirs)
    };
    let written: Vec<Dir> = if opts.dirs.is_some() {
        dirs
    } else {
        dirs.into_iter().filter(|d| role.writes(&d.path)).collect()
    };
    check(&written, &who)
}

/// `pulp-init check --storage`: the write test alone, creating and changing nothing.
/// The directory at `path` (absolute), walked as root walks Pulp's directories (a link
/// only in a directory no one but root may change), for acting on through its descriptor.
pub fn open_walked_dir(path: &Path) -> io::Result<File> {
    tree::open_dir(path, None)
        .map(|o| o.dir)
        .map_err(|e| match e {
            tree::WalkError::Io { source, .. } => source,
            other => io::Error::other(other.to_string()),
        })
}

/// Where consumers fetch Pulp's public key (`/pulp/static/rsa_pub.key` of httpd).
const STATIC_PUB: &str = "/var/lib/pulp/static";

/// `/var/lib/pulp/static/rsa_pub.key`, a link to `rsa_pub` as `pulp-gen-key-pair` makes it:
/// made through the directory's descriptor (the volume is the service user's), left alone
/// when something else is there (with a warning) and when the directory is missing.
pub fn link_public_key(rsa_pub: &Path) {
    let name = std::ffi::OsStr::new("rsa_pub.key");
    let dir = match tree::open_dir(Path::new(STATIC_PUB), None) {
        Ok(d) => d.dir,
        Err(e) => {
            log::debug!("keys: no link to the public key in {STATIC_PUB}: {e}");
            return;
        }
    };
    match crate::sys::lstat_at(&dir, name) {
        Ok((true, _)) => {
            let target = crate::sys::readlink_at(&dir, name).unwrap_or_default();
            if target != rsa_pub.as_os_str().as_encoded_bytes() {
                log::warn!(
                    "keys: {STATIC_PUB}/rsa_pub.key points to {}, not to {}: left as it is",
                    String::from_utf8_lossy(&target),
                    rsa_pub.display()
                );
            }
        }
        Ok((false, _)) => log::warn!(
            "keys: {STATIC_PUB}/rsa_pub.key is not a link to {}: left as it is",
            rsa_pub.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match crate::sys::symlink_at(&dir, name, rsa_pub) {
                Ok(()) => log::info!(
                    "keys: linked {STATIC_PUB}/rsa_pub.key to {}",
                    rsa_pub.display()
                ),
                Err(e) => log::warn!("keys: cannot link {STATIC_PUB}/rsa_pub.key: {e}"),
            }
        }
        Err(e) => log::warn!("keys: {STATIC_PUB}/rsa_pub.key: {e}"),
    }
}

pub fn check_only(opts: &StorageOptions, user: Option<&str>) -> Result<()> {
    let dirs = validated(opts)?;
    let who = service_user(opts, None, user)?;
    let dirs = if sys::geteuid() == 0 {
        open_all(&dirs, None)?
    } else {
        by_path(dirs)
    };
    check(&dirs, &who)?;
    log::info!(
        "{} directories writable by {} (uid {}, gid {})",
        dirs.len(),
        who.name,
        who.uid,
        who.gid
    );
    Ok(())
}

/// The listed directories (or the default list): absolute, without `..`, each once.
fn validated(opts: &StorageOptions) -> Result<Vec<PathBuf>> {
    let given = opts
        .dirs
        .clone()
        .unwrap_or_else(|| DEFAULT_DIRS.split(',').map(PathBuf::from).collect());
    let mut out: Vec<PathBuf> = Vec::new();
    for d in given {
        if d.as_os_str().is_empty() {
            continue;
        }
        if !d.is_absolute() {
            return Err(Error::env(
                "PULP_INIT_DIRS",
                format!(
                    "{}: not an absolute path; give absolute paths (--dirs)",
                    d.display()
                ),
            ));
        }
        if tree::plain(&d).is_none() {
            return Err(Error::env(
                "PULP_INIT_DIRS",
                format!(
                    "{}: `..` is not allowed in a directory of --dirs; give the path without it",
                    d.display()
                ),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

fn service_user(opts: &StorageOptions, role: Option<&Role>, user: Option<&str>) -> Result<Who> {
    let euid = sys::geteuid();
    if euid != 0 {
        let name = privileges::lookup(&euid.to_string()).map_or(euid.to_string(), |a| a.name);
        return Ok(Who {
            name,
            uid: euid,
            gid: sys::getegid(),
            groups: own_groups(),
            drop_to: None,
        });
    }
    // `user` is --user as given. A role's own root user never owns Pulp's directories:
    // httpd (the apache role, run as root) writes them as the user it drops to, apache.
    let name = opts
        .storage_user
        .as_deref()
        .or(user)
        .or(role.map(|r| r.user).filter(|u| !is_root(u)))
        .unwrap_or("apache");
    let a = privileges::lookup(name).ok_or_else(|| {
        Error::Privilege(format!(
            "storage user {name:?} is not in /etc/passwd; create it in the image or choose \
             another with --storage-user / PULP_INIT_STORAGE_USER"
        ))
    })?;
    Ok(Who {
        name: a.name.clone(),
        uid: a.uid,
        gid: a.gid,
        groups: a.groups.clone(),
        drop_to: Some(a),
    })
}

fn is_root(user: &str) -> bool {
    user == "root" || user == "0"
}

/// This process's supplementary groups and its gid.
fn own_groups() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut groups: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    groups.push(sys::getegid());
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// A listed directory, and as root its descriptor from the one walk that refused
/// untrusted links: everything root does there afterwards goes through it.
struct Dir {
    path: PathBuf,
    /// As root: the descriptor, and the path with every (trusted) link resolved.
    fd: Option<(File, PathBuf)>,
}

/// Not root: the directories by path (nothing is done there as a privileged user).
fn by_path(dirs: Vec<PathBuf>) -> Vec<Dir> {
    dirs.into_iter()
        .map(|path| Dir { path, fd: None })
        .collect()
}

/// As root, opens every listed directory by a walk from `/` (tree.rs), in the order given.
/// With `create`, what is missing is made (parents first) owned by that user, mode 0755;
/// parents that are not in the list are made as `mkdir -p` would, owned by root. Without,
/// a missing directory is the error.
fn open_all(dirs: &[PathBuf], create: Option<&Who>) -> Result<Vec<Dir>> {
    let mut by_depth: Vec<usize> = (0..dirs.len()).collect();
    by_depth.sort_by_key(|&i| dirs[i].components().count());
    let mut fds: Vec<Option<(File, PathBuf)>> = dirs.iter().map(|_| None).collect();
    for i in by_depth {
        let dir = &dirs[i];
        let opened = tree::open_dir(dir, create.map(|w| (w.uid, w.gid))).map_err(|e| match e {
            tree::WalkError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                Error::Storage(format!("{}: {source}", dir.display()))
            }
            tree::WalkError::Io { source, .. } if create.is_some() => {
                Error::Storage(cannot_create(dir, &source))
            }
            e => Error::Storage(e.to_string()),
        })?;
        if let (true, Some(who)) = (opened.created, create) {
            log::info!(
                "created {} (owner {} {}:{}, mode 0755)",
                dir.display(),
                who.name,
                who.uid,
                who.gid
            );
        }
        fds[i] = Some((opened.dir, opened.path));
    }
    Ok(dirs
        .iter()
        .cloned()
        .zip(fds)
        .map(|(path, fd)| Dir { path, fd })
        .collect())
}

fn cannot_create(dir: &Path, e: &io::Error) -> String {
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let why = if e.raw_os_error() == Some(libc::EROFS) {
        format!(
            "{} is on a file system mounted read-only: mount a writable volume at {}",
            existing.display(),
            dir.display()
        )
    } else {
        format!("{} is {}", existing.display(), owner_and_mode(existing))
    };
    format!("cannot create {}: {e}; {why}", dir.display())
}

/// `--fix-ownership`: each listed directory alone, never its contents, through the
/// descriptor its walk opened (a link in its place was refused, never followed).
fn fix_ownership(dirs: &[Dir], who: &Who) -> Result<()> {
    let mut changed = 0;
    for Dir { fd, .. } in dirs {
        let Some((fd, path)) = fd else { continue };
        let m = fd.metadata().map_err(|e| {
            Error::Storage(format!(
                "--fix-ownership: cannot inspect {}: {e}",
                path.display()
            ))
        })?;
        if (m.uid(), m.gid()) == (who.uid, who.gid) {
            continue;
        }
        std::os::unix::fs::fchown(fd, Some(who.uid), Some(who.gid)).map_err(|e| {
            Error::Storage(format!(
                "--fix-ownership: cannot chown {}: {e}; it is owned by {}:{} with mode {:04o}",
                path.display(),
                m.uid(),
                m.gid(),
                m.mode() & 0o7777
            ))
        })?;
        changed += 1;
        log::info!(
            "--fix-ownership: {} owner {}:{} -> {}:{} ({}; its contents unchanged)",
            path.display(),
            m.uid(),
            m.gid(),
            who.uid,
            who.gid,
            who.name
        );
    }
    if changed == 0 {
        log::info!(
            "--fix-ownership: all {} directories already owned by {} ({}:{})",
            dirs.len(),
            who.name,
            who.uid,
            who.gid
        );
    }
    Ok(())
}

/// Names for the write test's file where `O_TMPFILE` is missing: random, so that no
/// other start on the same volume, and nothing the service user left there, holds one.
fn fallback_names() -> Result<Vec<CString>> {
    (0..4)
        .map(|_| {
            let mut bytes = [0u8; 12];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| Error::Internal("cannot read random bytes".into()))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            CString::new(format!(".pulp-init-write-test.{hex}"))
                .map_err(|_| Error::Internal("a write-test name with a NUL byte".into()))
        })
        .collect()
}

/// The write test in every directory, in the order given, in one child as `who`; the
/// first failure is the error. A test as root itself works on the walk's descriptors;
/// any other user's child opens the paths, so that their search permissions count.
fn check(dirs: &[Dir], who: &Who) -> Result<()> {
    if dirs.is_empty() {
        return Ok(());
    }
    let mut paths = Vec::new();
    for Dir { path, fd } in dirs {
        if fd.is_none() {
            if let Err(e) = std::fs::metadata(path) {
                return Err(Error::Storage(format!(
                    "{}: {e} (not root: pulp-init cannot create it; create it in the image owned by uid {}, or mount a volume there)",
                    path.display(),
                    who.uid
                )));
            }
        }
        paths.push(CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            Error::env(
                "PULP_INIT_DIRS",
                format!("{}: contains NUL", path.display()),
            )
        })?);
    }
    let tests: Vec<sys::TestDir<'_>> = paths
        .iter()
        .zip(dirs)
        .map(|(path, d)| sys::TestDir {
            fd: d
                .fd
                .as_ref()
                .filter(|_| who.uid == 0)
                .map(|(f, _)| f.as_fd()),
            path,
        })
        .collect();
    let account = who
        .drop_to
        .as_ref()
        .map(|a| (a.uid, a.gid, a.groups.as_slice()));
    match sys::write_test(&tests, account, &fallback_names()?) {
        Ok(Ok(())) => {
            log::debug!("{} directories writable by {}", dirs.len(), who.name);
            Ok(())
        }
        Ok(Err((_, sys::WriteStep::DropPrivileges, e))) => Err(Error::Privilege(format!(
            "cannot drop privileges to {} (uid {}, gid {}) for the write test: {e}",
            who.name, who.uid, who.gid
        ))),
        Ok(Err((i, step, e))) => {
            let dir = dirs.get(i).map_or(Path::new("/"), |d| d.path.as_path());
            Err(Error::Storage(diagnose(dir, who, step, &e)))
        }
        Err(e) => Err(Error::Internal(format!("cannot run the write test: {e}"))),
    }
}

fn owner_and_mode(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!(
            "owned by {}:{} with mode {:04o}",
            m.uid(),
            m.gid(),
            m.mode() & 0o7777
        ),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// Do the mode bits and owner alone let `who` do `want` (bits of rwx) in `meta`?
fn mode_allows(meta: &std::fs::Metadata, who: &Who, want: u32) -> bool {
    if who.uid == 0 {
        return true;
    }
    let mode = meta.mode();
    let bits = if meta.uid() == who.uid {
        mode >> 6
    } else if who.groups.contains(&meta.gid()) || meta.gid() == who.gid {
        mode >> 3
    } else {
        mode
    } & 0o7;
    bits & want == want
}

/// One message: the path, its owner and mode, the service user, and the likely fix.
fn diagnose(dir: &Path, who: &Who, step: sys::WriteStep, e: &io::Error) -> String {
    let d = dir.display();
    let action = match step {
        sys::WriteStep::Enter => "opening the directory",
        sys::WriteStep::Create | sys::WriteStep::DropPrivileges => "creating a file",
        sys::WriteStep::Write => "writing a file",
        sys::WriteStep::Fsync => "syncing a file",
        sys::WriteStep::Unlink => "removing a file",
    };
    let head = format!(
        "{d} is not writable by the service user {} (uid {}, gid {}): {action} there failed: {e}; {d} is {}",
        who.name,
        who.uid,
        who.gid,
        owner_and_mode(dir)
    );
    let errno = e.raw_os_error().unwrap_or(0);
    let fix = match errno {
        libc::EROFS => format!(
            "the file system is mounted read-only: mount the volume at {d} read-write (no :ro, no readOnly: true)"
        ),
        libc::ENOSPC | libc::EDQUOT => "the volume is full or over its quota".to_string(),
        libc::EACCES | libc::EPERM => permission_fix(dir, who),
        _ => "check the volume".to_string(),
    };
    format!("{head}; {fix}")
}

fn permission_fix(dir: &Path, who: &Who) -> String {
    let d = dir.display();
    // A parent the user cannot enter hides a directory that would be writable.
    for anc in dir.ancestors().skip(1) {
        if let Ok(m) = std::fs::metadata(anc) {
            if !mode_allows(&m, who, 0o1) {
                return format!(
                    "uid {} cannot enter {} ({}): chmod o+x {} (or g+x for group {})",
                    who.uid,
                    anc.display(),
                    owner_and_mode(anc),
                    anc.display(),
                    m.gid()
                );
            }
        }
    }
    let Ok(m) = std::fs::metadata(dir) else {
        return "check the volume".into();
    };
    if mode_allows(&m, who, 0o3) {
        let culprit = if sys::has_access_acl(dir) {
            format!(
                "{d} has an ACL that may deny it (getfacl {d} shows it, setfacl -b {d} removes \
                 it); otherwise a security module (SELinux, AppArmor) did"
            )
        } else {
            "a security module (SELinux, AppArmor) or an ACL did".to_string()
        };
        return format!(
            "its mode bits and owner allow the write, but the kernel refused it: {culprit}; \
             with SELinux, relabel the volume: -v SRC:{d}:z (docker/podman), or chcon -Rt \
             container_file_t SRC on the host"
        );
    }
    if m.uid() == who.uid {
        return format!("its mode does not let its owner write: chmod u+rwx {d}");
    }
    let fix_flag = if sys::geteuid() == 0 {
        "; PULP_INIT_FIX_OWNERSHIP=1 does that at start"
    } else {
        ""
    };
    format!(
        "it belongs to another user: chown {}:{} {d} (that directory only{fix_flag}), or in \
         Kubernetes set the pod's securityContext.fsGroup: {}",
        who.uid, who.gid, who.gid
    )
}
