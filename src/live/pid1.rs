//! What `check --live` (a separate process, started by `docker exec` or the kubelet in the
//! same container) reads of PID 1 in `/proc`: whether pulp-init is still in its start-up
//! phases, its command line, and when the service started.
//!
//! pulp-init names itself (`prctl(PR_SET_NAME)`, `/proc/PID/comm`): `pulp-init:start`
//! while its start-up phases run (the gate, the migrations), `pulp-init` while it
//! supervises the service. Any other name of PID 1 is the service itself (exec mode) or
//! another init.

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::Duration;

/// PID 1's name while the start-up phases run (15 bytes: the kernel keeps 15).
pub const STARTING: &CStr = c"pulp-init:start";
/// PID 1's name while it supervises the service (the re-executed image would be `exe`).
pub const SUPERVISING: &CStr = c"pulp-init";

/// What PID 1 is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Pid1 {
    /// pulp-init in its start-up phases.
    StartingUp,
    /// pulp-init supervising: its argv, and the age of its oldest child (the service;
    /// None while it has none yet).
    Supervising {
        argv: Vec<OsString>,
        service_age: Option<Duration>,
    },
    /// Not pulp-init: the service itself (exec mode) or another init; its own age.
    Other { name: String, age: Option<Duration> },
}

pub fn read() -> Pid1 {
    read_at(Path::new("/proc"))
}

fn read_at(proc: &Path) -> Pid1 {
    let name = std::fs::read_to_string(proc.join("1/comm"))
        .map(|n| n.trim_end_matches('\n').to_string())
        .unwrap_or_default();
    let ticks = crate::sys::clock_ticks();
    let uptime = uptime(proc);
    let age_of = |start: u64| {
        uptime.map(|up| Duration::from_secs_f64((up - start as f64 / ticks as f64).max(0.0)))
    };
    if name.as_bytes() == STARTING.to_bytes() {
        return Pid1::StartingUp;
    }
    if name.as_bytes() == SUPERVISING.to_bytes() {
        let argv = std::fs::read(proc.join("1/cmdline"))
            .map(|b| split_cmdline(&b))
            .unwrap_or_default();
        return Pid1::Supervising {
            argv,
            service_age: oldest_child_start(proc).and_then(age_of),
        };
    }
    let age = stat(proc, "1").and_then(|s| age_of(s.start));
    Pid1::Other { name, age }
}

fn split_cmdline(bytes: &[u8]) -> Vec<OsString> {
    let args = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if args.is_empty() {
        return Vec::new();
    }
    args.split(|b| *b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect()
}

fn uptime(proc: &Path) -> Option<f64> {
    std::fs::read_to_string(proc.join("uptime"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

struct Stat {
    ppid: u32,
    /// Clock ticks after boot.
    start: u64,
}

/// Fields 4 (ppid) and 22 (starttime) of `/proc/PID/stat`; the name (field 2) may hold
/// spaces and parentheses, so the fields are counted from its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn stat(proc: &Path, pid: &str) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(proc.join(pid).join("stat")).ok()?)
}

/// The start of PID 1's oldest child: the service. pulp-init spawns it first; what it
/// starts later (a presence keeper) and orphans reparented to it are younger.
fn oldest_child_start(proc: &Path) -> Option<u64> {
    std::fs::read_dir(proc)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| stat(proc, e.file_name().to_str()?))
        .filter(|s| s.ppid == 1)
        .map(|s| s.start)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces_and_parentheses() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.ppid, s.start), (1, 12345));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn cmdline_is_split_on_nul() {
        assert_eq!(
            split_cmdline(b"/usr/bin/pulp-init\0--role\0worker\0"),
            ["/usr/bin/pulp-init", "--role", "worker"].map(OsString::from)
        );
        assert_eq!(
            split_cmdline(b"a\0\0b\0"),
            ["a", "", "b"].map(OsString::from)
        );
    }

    #[test]
    fn a_fake_proc_tells_the_phase_and_the_oldest_child() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let write = |rel: &str, text: &str| {
            let path = p.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let ticks = crate::sys::clock_ticks();
        write("uptime", "1000.00 1.00\n");
        write("1/comm", "pulp-init:start\n");
        assert_eq!(read_at(p), Pid1::StartingUp);
        write("1/comm", "pulp-init\n");
        write("1/cmdline", "pulp-init\0--role\0beat\0");
        write(
            "1/stat",
            "1 (pulp-init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0",
        );
        let stat = |ppid: u32, start: u64| {
            format!("9 (x) S {ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0")
        };
        // The service at 990 s after boot, a later child, and a process not ours.
        write("7/stat", &stat(1, 990 * ticks));
        write("8/stat", &stat(1, 995 * ticks));
        write("9/stat", &stat(7, 900 * ticks));
        match read_at(p) {
            Pid1::Supervising { argv, service_age } => {
                assert_eq!(argv, ["pulp-init", "--role", "beat"].map(OsString::from));
                let age = service_age.unwrap().as_secs_f64();
                assert!((age - 10.0).abs() < 0.01, "{age}");
            }
            other => panic!("{other:?}"),
        }
        write("1/comm", "celery\n");
        match read_at(p) {
            Pid1::Other { name, age } => {
                assert_eq!(name, "celery");
                assert!((age.unwrap().as_secs_f64() - 1000.0).abs() < 0.01);
            }
            other => panic!("{other:?}"),
        }
    }
}
