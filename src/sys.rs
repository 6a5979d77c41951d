//! The only module with `unsafe`: signal masks, signal waits, dispositions.
//!
//! Signal numbers stay raw integers: the `nix` crate has no real-time signals
//! (nix-rust/nix#495), and PID 1 must handle every signal it can be sent.
#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

/// Signals the kernel must deliver synchronously to the faulting thread: never blocked.
const SYNCHRONOUS: [i32; 7] = [
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    pub fn empty() -> Self {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set it is given.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: initialised just above.
        SigSet(unsafe { set.assume_init() })
    }

    pub fn of(signals: &[i32]) -> Self {
        let mut s = Self::empty();
        for &sig in signals {
            // SAFETY: the set is initialised; an invalid number only returns EINVAL.
            unsafe { libc::sigaddset(&mut s.0, sig) };
        }
        s
    }

    /// Every signal but the synchronous ones.
    pub fn all_async() -> Self {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the set it is given.
        unsafe { libc::sigfillset(set.as_mut_ptr()) };
        // SAFETY: initialised just above.
        let mut s = SigSet(unsafe { set.assume_init() });
        for sig in SYNCHRONOUS {
            // SAFETY: the set is initialised.
            unsafe { libc::sigdelset(&mut s.0, sig) };
        }
        s
    }
}

impl SigSet {
    /// Signals 1..=64 as bits (bit N-1 for signal N), as /proc/PID/status shows masks.
    pub fn to_bits(self) -> u64 {
        let mut bits = 0u64;
        for sig in 1..=64 {
            // SAFETY: an initialised set; out-of-range numbers return -1.
            if unsafe { libc::sigismember(&self.0, sig) } == 1 {
                bits |= 1 << (sig - 1);
            }
        }
        bits
    }

    pub fn from_bits(bits: u64) -> Self {
        let signals: Vec<i32> = (1..=64).filter(|s| bits & (1 << (s - 1)) != 0).collect();
        Self::of(&signals)
    }
}

/// Blocks `set` in this thread (threads started later inherit it); returns the old mask.
pub fn block(set: &SigSet) -> io::Result<SigSet> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers are to initialised sigset_t values.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, &mut old.0) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(old)
}

/// Waits up to `timeout` for one of the (blocked) signals in `set`; None on timeout.
pub fn wait_signal(set: &SigSet, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        // At most a day: every caller waits far less (and time_t's width differs by libc).
        tv_sec: timeout.as_secs().min(86_400).try_into().unwrap_or(86_400),
        tv_nsec: libc::c_long::from(i32::try_from(timeout.subsec_nanos()).unwrap_or(0)),
    };
    loop {
        // SAFETY: valid set and timespec; the siginfo is not wanted.
        let sig = unsafe { libc::sigtimedwait(&set.0, std::ptr::null_mut(), &ts) };
        if sig >= 0 {
            return Some(sig);
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            _ => return None,
        }
    }
}

const NAMES: [(i32, &str); 23] = [
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGPWR, "SIGPWR"),
];

/// `SIGTERM`, `SIGRTMIN+3`, or the number.
pub fn signal_name(sig: i32) -> String {
    if let Some((_, n)) = NAMES.iter().find(|(s, _)| *s == sig) {
        return (*n).to_string();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - min);
    }
    format!("signal {sig}")
}

/// `TERM`, `SIGTERM`, `15`, `RTMIN+3`, `SIGRTMIN+3` -> the number.
pub fn signal_number(text: &str) -> Option<i32> {
    let upper = text.trim().to_uppercase();
    if let Ok(n) = upper.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(off) = name.strip_prefix("RTMIN") {
        let off: i32 = if off.is_empty() {
            0
        } else {
            off.strip_prefix('+')?.parse().ok()?
        };
        let n = libc::SIGRTMIN() + off;
        return (n <= libc::SIGRTMAX()).then_some(n);
    }
    NAMES
        .iter()
        .find(|(_, n)| n.strip_prefix("SIG") == Some(name))
        .map(|(s, _)| *s)
}

/// How a process ended, as a shell reports it: its exit code, or 128+N for signal N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub pid: i32,
    pub code: i32,
    /// The signal that killed it; None when it exited (an exit code above 128 is not one).
    pub signal: Option<i32>,
}

/// Reaps one child that has ended, without blocking. None when none is left to reap now.
pub fn reap_one() -> Option<Ended> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: status is a valid out pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            let (code, signal) = if libc::WIFEXITED(status) {
                (libc::WEXITSTATUS(status), None)
            } else if libc::WIFSIGNALED(status) {
                (128 + libc::WTERMSIG(status), Some(libc::WTERMSIG(status)))
            } else {
                continue;
            };
            return Some(Ended { pid, code, signal });
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// kill(2); a process that is already gone is not an error.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    if unsafe { libc::kill(pid, sig) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
}

/// Whether any process of the process group `pgid` still exists (a zombie counts: it
/// has not been reaped yet).
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: plain syscall with integer arguments; signal 0 only checks.
    let found = unsafe { libc::kill(-pgid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reaps, without blocking, the ended children of the process group `pgid` (a command's
/// orphans are ours to reap when we are PID 1 or a subreaper).
pub fn reap_group(pgid: i32) {
    let mut status: libc::c_int = 0;
    // SAFETY: status is a valid out pointer; WNOHANG never blocks.
    while unsafe { libc::waitpid(-pgid, &mut status, libc::WNOHANG) } > 0 {}
}

/// Reserves disk blocks for the first `len` bytes of `file` without changing its size
/// (`fallocate(2)` with `FALLOC_FL_KEEP_SIZE`), so that rewriting it in place cannot
/// run out of space half-way. `Ok(false)`: the filesystem cannot reserve (EOPNOTSUPP).
pub fn reserve(file: &std::fs::File, len: u64) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if len == 0 {
        return Ok(true);
    }
    // SAFETY: a valid open descriptor and integer arguments.
    if unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::ENOSYS) => Ok(false),
        _ => Err(e),
    }
}

/// execve(2), keeping the signal mask and pending signals as they are. Returns only on
/// failure.
pub fn execve(
    path: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// Become a child subreaper: orphans of our descendants are reparented to us.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// SIGTERM when the parent (the supervising pulp-init) ends.
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGTERM as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Names this process (its main thread: `/proc/self/comm`, at most 15 bytes), so that
/// `check --live` can tell pulp-init's start-up from its run phase by PID 1's name.
pub fn set_process_name(name: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: prctl reads a NUL-terminated string that outlives the call (it copies up to
    // 16 bytes).
    if unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Clock ticks per second, the unit of a process's start time in `/proc/PID/stat`.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf with a valid name has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(100)
}

pub fn geteuid() -> u32 {
    // SAFETY: always succeeds.
    unsafe { libc::geteuid() }
}

pub fn getegid() -> u32 {
    // SAFETY: always succeeds.
    unsafe { libc::getegid() }
}

/// What the child does between fork and exec, async-signal-safe only (no allocation):
/// default dispositions (Rust ignores SIGPIPE, and an ignored disposition survives exec:
/// rust-lang/rust#101077), the mask pulp-init started with (a child inherits the blocked
/// mask, and celery or httpd would ignore every forwarded signal), and a new session.
pub fn prepare_child(original_mask: &SigSet, new_session: bool) -> io::Result<()> {
    // The raw syscall, not libc's signal(): libc refuses the signals it reserves for
    // itself (32, 33), and an ignored one of those would be inherited too. An all-zero
    // kernel sigaction is SIG_DFL with no flags and an empty mask, on every architecture.
    let default_action = [0u64; 4];
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: a zeroed, large enough kernel sigaction; invalid numbers only fail.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default_action.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                )
            };
        }
    }
    // SAFETY: a valid, initialised set.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &original_mask.0, std::ptr::null_mut()) } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: setsid has no arguments; it fails only for a group leader.
    if new_session && unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setgroups`, `setgid`, `setuid` in that order, then checks that every id is the
/// target's and that root cannot be regained. Async-signal-safe: `scratch` is
/// pre-allocated with room for the group list.
pub fn drop_privileges(uid: u32, gid: u32, groups: &[u32], scratch: &mut [u32]) -> io::Result<()> {
    let check = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: groups points to groups.len() valid gid_t values.
    check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } == 0)?;
    // SAFETY: plain syscalls with integer arguments.
    check(unsafe { libc::setgid(gid) } == 0)?;
    // SAFETY: as above.
    check(unsafe { libc::setuid(uid) } == 0)?;
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: valid out pointers.
    check(unsafe { libc::getresuid(&mut r, &mut e, &mut s) } == 0)?;
    let uids_ok = r == uid && e == uid && s == uid;
    // SAFETY: valid out pointers.
    check(unsafe { libc::getresgid(&mut r, &mut e, &mut s) } == 0)?;
    let gids_ok = r == gid && e == gid && s == gid;
    let cap = libc::c_int::try_from(scratch.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: scratch has room for cap entries.
    let n = unsafe { libc::getgroups(cap, scratch.as_mut_ptr()) };
    let got = usize::try_from(n)
        .map(|n| &mut scratch[..n])
        .unwrap_or(&mut []);
    got.sort_unstable();
    let mut want_ok = got.len() == groups.len();
    for g in groups {
        want_ok &= got.binary_search(g).is_ok();
    }
    // SAFETY: must fail for an unprivileged uid; if it succeeds, root was kept.
    let regained = uid != 0 && unsafe { libc::setuid(0) } == 0;
    if !(uids_ok && gids_ok && want_ok) || regained {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(())
}

/// Unmaps this program's read-only, unmodified pages (code and constants) so that PID 1
/// keeps only what its loop touches from now on. Start-up (argument parsing, logging
/// set-up, user lookup) faulted in pages all over a 4.7 MB binary, each with the kernel's
/// 64 KiB fault-around: measured 2.1 MB RSS supervising `sleep`, against 0.7 MB for
/// tini-static. Such pages come back from the page cache when touched again. Pages that
/// were written (relocations of a PIE's RELRO segment) are anonymous copies and are kept.
pub fn release_startup_pages() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    // Everything is parsed before the first page is released: code that runs after the
    // release faults its pages back in, 64 KiB at a time, and would stay resident
    // (measured: releasing while still parsing left PID 1 at 740 kB RSS with the relay
    // off; parsing first, 288 kB).
    let mut ranges = [(0usize, 0usize); 8];
    let mut found = 0;
    {
        let exe = exe.to_string_lossy();
        let mut candidate: Option<(usize, usize)> = None;
        for line in smaps.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let Some(range) = f.first().and_then(|r| r.split_once('-')) {
                // A mapping header: "start-end perms offset dev inode path".
                candidate = None;
                if f.len() >= 6 && f[5] == exe && !f[1].contains('w') {
                    if let (Ok(a), Ok(b)) = (
                        usize::from_str_radix(range.0, 16),
                        usize::from_str_radix(range.1, 16),
                    ) {
                        candidate = Some((a, b));
                    }
                }
            } else if f.first() == Some(&"Anonymous:") {
                if let (Some(r), Some(&"0")) = (candidate.take(), f.get(1)) {
                    if let Some(slot) = ranges.get_mut(found) {
                        *slot = r;
                        found += 1;
                    }
                }
            }
        }
    }
    drop(smaps);
    drop(exe);
    for &(start, end) in &ranges[..found] {
        // SAFETY: a read-only private file mapping of our own executable with no
        // modified page: its contents are the file's, and MADV_DONTNEED only drops
        // them until the next access.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// Registers `f` to run in the child between fork and exec (or before exec in this
/// process, for `Command::exec`).
pub fn before_exec(
    cmd: &mut std::process::Command,
    f: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: every caller's closure only makes async-signal-safe calls on memory
    // allocated before the fork (prepare_child, drop_privileges).
    unsafe { cmd.pre_exec(f) };
}

/// `recv(2)` of one datagram into `buf`; returns the datagram's full length, which is
/// larger than `buf` when the kernel cut it (`MSG_TRUNC`).
pub fn recv_datagram(
    socket: &std::os::unix::net::UnixDatagram,
    buf: &mut [u8],
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: a valid open socket, and a buffer of buf.len() writable bytes.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether `path` carries a POSIX access ACL (the `system.posix_acl_access` attribute).
pub fn has_access_acl(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: NUL-terminated strings; a null buffer of size 0 only asks for the size.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    n > 0
}

/// The write-test child's end: the directory's index, its step and errno to the parent,
/// then `_exit`.
fn report(fd: libc::c_int, index: usize, step: i32, errno: i32) -> ! {
    let msg = [i32::try_from(index).unwrap_or(i32::MAX), step, errno];
    // SAFETY: a write of 12 initialised bytes to our pipe, then _exit: nothing of the
    // parent's (atexit handlers, stdio buffers) runs in the child.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), std::mem::size_of_val(&msg));
        libc::_exit(0)
    }
}

/// A step of the write test, for the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    DropPrivileges,
    Enter,
    Create,
    Write,
    Fsync,
    Unlink,
}

impl WriteStep {
    fn from_code(code: i32) -> Self {
        match code {
            1 => WriteStep::DropPrivileges,
            2 => WriteStep::Create,
            3 => WriteStep::Write,
            4 => WriteStep::Fsync,
            6 => WriteStep::Enter,
            _ => WriteStep::Unlink,
        }
    }
}

/// One directory of the write test: a descriptor pulp-init opened without following an
/// untrusted link (used when the test runs as root), or its path (opened by the child
/// after it dropped to the service user, so that the path's search permissions count as
/// they will for the service).
pub struct TestDir<'a> {
    pub fd: Option<std::os::fd::BorrowedFd<'a>>,
    pub path: &'a std::ffi::CStr,
}

/// Creates, writes, fsyncs and drops a file in each directory, in a forked child that
/// first dropped to `account` (uid, gid, groups) when given: a real write test with the
/// service user's credentials, which no reading of mode bits can replace (ACLs, SELinux,
/// read-only mounts, root-squashing NFS). The file is an `O_TMPFILE`: it has no name, so
/// nothing can collide with it and nothing is left behind, whatever kills the child. On a
/// file system without `O_TMPFILE` one of `names` (random, made before the fork) is
/// created with `O_EXCL` and unlinked. The child only makes async-signal-safe calls on
/// memory allocated before the fork, so this is safe in a process with other threads.
/// On failure: the index of the directory, the step and the error.
pub fn write_test(
    dirs: &[TestDir<'_>],
    account: Option<(u32, u32, &[u32])>,
    names: &[std::ffi::CString],
) -> io::Result<Result<(), (usize, WriteStep, io::Error)>> {
    let mut scratch = vec![0u32; account.map_or(0, |a| a.2.len()) + 64];
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: the child only calls async-signal-safe functions (see above) and _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if let Some((uid, gid, groups)) = account {
            if let Err(e) = drop_privileges(uid, gid, groups, &mut scratch) {
                report(write_end, 0, 1, e.raw_os_error().unwrap_or(libc::EPERM));
            }
        }
        for (i, dir) in dirs.iter().enumerate() {
            if let Err((step, errno)) = write_test_in(dir, names) {
                report(write_end, i, step, errno);
            }
        }
        report(write_end, 0, 0, 0);
    }
    // SAFETY: our end of the pipe, not used again by this process.
    unsafe { libc::close(write_end) };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: our own descriptor.
        unsafe { libc::close(read_end) };
        return Err(e);
    }
    let mut msg = [0i32; 3];
    let mut got = 0usize;
    let want = std::mem::size_of_val(&msg);
    while got < want {
        // SAFETY: reads into the remaining bytes of msg.
        let n = unsafe {
            libc::read(
                read_end,
                msg.as_mut_ptr().cast::<u8>().add(got).cast(),
                want - got,
            )
        };
        match usize::try_from(n) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            Err(_) => break,
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(read_end) };
    let mut status = 0;
    // SAFETY: waits for the child forked above; status is a valid out pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    if got < want {
        return Err(io::Error::other(
            "the write-test child ended without a report",
        ));
    }
    Ok(match msg {
        [_, 0, _] => Ok(()),
        [index, step, errno] => Err((
            usize::try_from(index).unwrap_or(0),
            WriteStep::from_code(step),
            io::Error::from_raw_os_error(errno),
        )),
    })
}

/// The write test in one directory (in the forked child): step code and errno on failure.
fn write_test_in(dir: &TestDir<'_>, names: &[std::ffi::CString]) -> Result<(), (i32, i32)> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    let (dfd, opened) = match dir.fd {
        Some(fd) => (std::os::fd::AsRawFd::as_raw_fd(&fd), false),
        None => {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
            // SAFETY: a NUL-terminated path.
            let fd = unsafe { libc::open(dir.path.as_ptr(), flags) };
            if fd < 0 {
                return Err((6, errno()));
            }
            (fd, true)
        }
    };
    let close = |fd: libc::c_int| {
        // SAFETY: a descriptor this function opened.
        unsafe { libc::close(fd) };
    };
    let tmp = libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let mut fd = unsafe { libc::openat(dfd, c".".as_ptr(), tmp, 0o600 as libc::c_uint) };
    let mut named: Option<&std::ffi::CStr> = None;
    // Without O_TMPFILE support: EOPNOTSUPP, or EISDIR from kernels before 3.11.
    if fd < 0 && matches!(errno(), libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL) {
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        for name in names {
            // SAFETY: a valid directory descriptor and a NUL-terminated name.
            fd = unsafe { libc::openat(dfd, name.as_ptr(), flags, 0o600 as libc::c_uint) };
            if fd >= 0 {
                named = Some(name);
                break;
            }
            if errno() != libc::EEXIST {
                break;
            }
        }
    }
    if fd < 0 {
        let e = errno();
        if opened {
            close(dfd);
        }
        return Err((2, e));
    }
    let data = b"pulp-init write test\n";
    // SAFETY: a valid descriptor and a buffer of data.len() bytes.
    let written = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let mut failed = if usize::try_from(written) != Ok(data.len()) {
        Some((3, errno()))
    } else {
        // SAFETY: a valid descriptor.
        let synced = unsafe { libc::fsync(fd) } == 0;
        (!synced).then(|| (4, errno()))
    };
    close(fd);
    if let Some(name) = named {
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        let unlinked = unsafe { libc::unlinkat(dfd, name.as_ptr(), 0) } == 0;
        if !unlinked && errno() != libc::ENOENT && failed.is_none() {
            failed = Some((5, errno()));
        }
    }
    if opened {
        close(dfd);
    }
    failed.map_or(Ok(()), Err)
}

// --- storage: directory descriptors, for root acting on volumes others can write ---

fn nul_name(name: &std::ffi::OsStr) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name with a NUL byte"))
}

fn owned(fd: libc::c_int) -> io::Result<std::fs::File> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned by the kernel, owned by no one else.
    Ok(std::fs::File::from(unsafe {
        <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
    }))
}

/// `openat(dir, name, O_DIRECTORY | O_NOFOLLOW)`: the directory `name` in `dir`, never
/// through a symbolic link (ELOOP) and never a file (ENOTDIR).
pub fn open_dir_at(dir: &std::fs::File, name: &std::ffi::OsStr) -> io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let c = nul_name(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    owned(unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) })
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdir_at(dir: &std::fs::File, name: &std::ffi::OsStr, mode: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let c = nul_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)` says of an entry: whether it is a
/// symbolic link, and its owner.
pub fn lstat_at(dir: &std::fs::File, name: &std::ffi::OsStr) -> io::Result<(bool, u32)> {
    use std::os::fd::AsRawFd;
    let c = nul_name(name)?;
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a valid directory descriptor, a NUL-terminated name, a stat buffer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded and filled the buffer.
    let st = unsafe { st.assume_init() };
    Ok((st.st_mode & libc::S_IFMT == libc::S_IFLNK, st.st_uid))
}

/// symlinkat(2): `name` in `dir`, pointing at `target` (a link is made, never followed).
pub fn symlink_at(
    dir: &std::fs::File,
    name: &std::ffi::OsStr,
    target: &std::path::Path,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let c = nul_name(name)?;
    let t = nul_name(target.as_os_str())?;
    // SAFETY: a valid directory descriptor and two NUL-terminated strings.
    if unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `readlinkat(dir, name)`: the target of a symbolic link, as bytes.
pub fn readlink_at(dir: &std::fs::File, name: &std::ffi::OsStr) -> io::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let c = nul_name(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: a valid directory descriptor, a NUL-terminated name, a buffer of buf.len().
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(buf)
}

// Stderr without waiting for its reader (pulp-init's own log lines, src/stderr.rs).

/// `send(2)` with `MSG_DONTWAIT`: EAGAIN instead of waiting when the socket is full,
/// without setting O_NONBLOCK on a description the service shares.
pub fn send_dontwait(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor, and a buffer of buf.len() readable bytes.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Whether a write to `fd` would not wait now (`poll(2)` for POLLOUT, no timeout).
pub fn writable_now(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and a zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLOUT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        assert_eq!(signal_number("TERM"), Some(15));
        assert_eq!(signal_number("sigwinch"), Some(libc::SIGWINCH));
        assert_eq!(signal_number("3"), Some(3));
        assert_eq!(signal_number("RTMIN+3"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(signal_number("SIGRTMIN"), Some(libc::SIGRTMIN()));
        assert_eq!(signal_number("NOPE"), None);
        assert_eq!(signal_number("0"), None);
    }
}
