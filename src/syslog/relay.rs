//! The relay: a thread that reads the /dev/log socket and prints every message to stderr
//! as one line, and the guard that stops it and removes the socket.

use super::format::format_line;
use crate::startup::Signals;
use crate::sys;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest datagram printed whole. A larger one is cut here and marked as cut: AF_UNIX
/// datagrams are bounded by the sender's SO_SNDBUF (208 KiB by default), and a buffer
/// that large would stay resident after one such message. Pulp's own handler sends
/// lines of at most a few KiB.
const RECV_BUFFER: usize = 64 * 1024;

/// The relay thread only parses and writes; its buffer is on the heap.
const RELAY_STACK: usize = 64 * 1024;

/// The running relay: a thread reading the socket. Dropping it removes the socket, prints
/// what is still queued, and stops the thread.
pub struct Relay {
    path: PathBuf,
    signals: Option<Signals>,
    socket: Arc<UnixDatagram>,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Binds `path`; with start-up's `signals`, a stop signal that ends pulp-init before
    /// the relay is dropped removes it too.
    pub fn bind(path: &Path, signals: Option<&Signals>) -> io::Result<Relay> {
        match signals {
            Some(s) => s.make_removable(path, || Relay::bind_alone(path, Some(s.clone()))),
            None => Relay::bind_alone(path, None),
        }
    }

    fn bind_alone(path: &Path, signals: Option<Signals>) -> io::Result<Relay> {
        let socket = UnixDatagram::bind(path)?;
        // Every user may log (the services run unprivileged); the umask must not decide.
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        // No SO_RCVBUF: AF_UNIX datagram sockets do not use the receiver's buffer. A
        // blocking sender waits while the queue holds net.unix.max_dgram_qlen (10 by
        // default) datagrams, so nothing is lost (measured: 4 writers x 2500 messages to
        // a socket nobody read for 0.5 s, 10000 received); only a non-blocking sender
        // gets EAGAIN, and no raising of a buffer here would change that.
        let socket = Arc::new(socket);
        // A descriptor of its own, not std's stderr, whose lock PID 1's log lines would
        // wait for while this thread waits for a reader (it may: the senders wait too,
        // and nothing is lost). PID 1's lines never wait (src/stderr.rs).
        let out = match io::stderr().as_fd().try_clone_to_owned() {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let (s, stop) = (socket.clone(), stopping.clone());
        // Signals stay blocked in this thread (it inherits the mask): the supervisor's
        // sigtimedwait alone receives them, and the relay never delays forwarding.
        let thread = std::thread::Builder::new()
            .name("syslog-relay".into())
            .stack_size(RELAY_STACK)
            .spawn(move || relay_loop(&s, &stop, out));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        Ok(Relay {
            path: path.to_path_buf(),
            signals,
            socket,
            stopping,
            thread: Some(thread),
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // No new sender finds the socket; what is queued is still read.
        let _ = match &self.signals {
            Some(s) => s.remove(&self.path),
            None => std::fs::remove_file(&self.path),
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the thread: recv returns what is queued, then 0.
        let _ = self.socket.shutdown(std::net::Shutdown::Read);
        if let Some(t) = self.thread.take() {
            // A stderr nobody reads must not keep PID 1 from exiting.
            let until = Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// After a burst, once the socket has been quiet this long, the code pages the burst
/// touched are given back (measured: 10,000 messages left PID 1 at 2.2x tini-static's
/// RSS, all of it pages of the binary).
const IDLE: Duration = Duration::from_millis(250);

/// Capacity of the line buffer kept between bursts; a longer message's is freed after it.
const LINE_KEEP: usize = 1024;

fn relay_loop(socket: &UnixDatagram, stopping: &AtomicBool, mut out: std::fs::File) {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut line = Vec::with_capacity(LINE_KEEP);
    // Between bursts the thread waits in recv without a timeout: none of its code runs
    // while the socket is quiet, so none of it comes back into memory (a wake-up every
    // 250 ms kept ~220 kB of code and constants resident). Start-up counts as a burst:
    // what the thread touched after PID 1 released its start-up pages (it may run late
    // on a busy host) is given back too.
    let mut burst = true;
    let _ = socket.set_read_timeout(Some(IDLE));
    let mut largest = 0;
    loop {
        let len = match sys::recv_datagram(socket, &mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if burst {
                    burst = false;
                    let _ = socket.set_read_timeout(None);
                    // Buffers a long message grew, or wrote far into, are given back: both
                    // are mappings of their own (musl's malloc), unmapped when freed, and a
                    // fresh zeroed one is not touched until a message is received into it.
                    if largest > LINE_KEEP {
                        line = Vec::with_capacity(LINE_KEEP);
                        buf = vec![0u8; RECV_BUFFER];
                    }
                    largest = 0;
                    sys::release_startup_pages();
                }
                continue;
            }
            Err(e) => {
                log::warn!("syslog relay stopped: {e}");
                return;
            }
        };
        if !burst {
            burst = true;
            let _ = socket.set_read_timeout(Some(IDLE));
        }
        if len == 0 {
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        let got = len.min(buf.len());
        largest = largest.max(got);
        line.clear();
        format_line(&buf[..got], len, &mut line);
        // One write per line, so lines of different writers never mix mid-line.
        let _ = out.write_all(&line);
    }
}
