//! pulp-init's own log lines, written to stderr without ever waiting for its reader.
//!
//! PID 1 logs from the loop that forwards signals: a full pipe that nobody reads (a
//! stalled log driver, or a service that filled it) must not keep SIGTERM from the
//! service. A line that does not fit now is dropped and counted, and the count is said
//! with the next line that fits. Nothing here is shared with the syslog relay, which
//! writes through a descriptor of its own.

use crate::sys;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

/// At most this much is written to a pipe that only `poll` can vouch for: a write of up
/// to PIPE_BUF bytes either fits whole or waits (pipe(7)).
const PIPE_BUF: usize = 4096;

pub struct Stderr {
    out: Out,
    /// Lines dropped since the last one written.
    dropped: u64,
    /// The last line written was cut: the next one starts on a line of its own.
    cut: bool,
}

enum Out {
    /// A description of the pipe or terminal of our own, with O_NONBLOCK: setting that on
    /// fd 2 itself would set it for the service too, which shares the description, and a
    /// Python service would fail with BlockingIOError.
    NonBlocking(File),
    /// A socket: each send is told not to wait.
    Socket(OwnedFd),
    /// A pipe or terminal that cannot be opened again (pulp-init not root on a pipe that
    /// root made; no /proc): written to when `poll` finds room. A service writing at the
    /// same moment can still fill it first: the one case that can wait.
    Polled(File),
    /// A file, or /dev/null: writing does not wait for a reader.
    Plain(File),
}

impl Stderr {
    pub fn new() -> io::Result<Stderr> {
        let file = File::from(io::stderr().as_fd().try_clone_to_owned()?);
        let meta = file.metadata()?;
        let kind = meta.file_type();
        let out = if kind.is_socket() {
            Out::Socket(file.into())
        } else if kind.is_fifo() || kind.is_char_device() {
            // The same pipe or terminal as fd 2, but a description of our own.
            let own = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                .open("/proc/self/fd/2")
                .and_then(|f| {
                    let m = f.metadata()?;
                    let same =
                        (m.dev(), m.ino(), m.rdev()) == (meta.dev(), meta.ino(), meta.rdev());
                    same.then_some(f)
                        .ok_or_else(|| io::Error::other("another file"))
                });
            match own {
                Ok(f) => Out::NonBlocking(f),
                Err(_) => Out::Polled(file),
            }
        } else {
            Out::Plain(file)
        };
        Ok(Stderr {
            out,
            dropped: 0,
            cut: false,
        })
    }

    /// One write, which never waits.
    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Out::NonBlocking(f) | Out::Plain(f) => f.write(buf),
            Out::Socket(s) => sys::send_dontwait(s.as_fd(), buf),
            Out::Polled(f) => {
                if sys::writable_now(f.as_fd()) {
                    f.write(&buf[..buf.len().min(PIPE_BUF)])
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            }
        }
    }

    /// Writes what fits of `line` now; true when all of it did. A line cut short is
    /// remembered, so the next one starts on a fresh line.
    fn write_line(&mut self, line: &[u8]) -> bool {
        let mut done = 0;
        while done < line.len() {
            match self.write_now(&line[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if done > 0 && done < line.len() {
            self.cut = true;
        } else if done == line.len() {
            self.cut = false;
        }
        done == line.len()
    }
}

impl Write for Stderr {
    /// `line` is one whole log record (env_logger writes each with one call).
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if self.dropped > 0 || self.cut {
            let note = dropped_note(self.cut, self.dropped);
            if !self.write_line(note.as_bytes()) {
                self.dropped += 1;
                return Ok(line.len());
            }
            self.dropped = 0;
        }
        if !self.write_line(line) {
            self.dropped += 1;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn dropped_note(cut: bool, dropped: u64) -> String {
    let start = if cut { "\n" } else { "" };
    match dropped {
        0 => start.into(),
        1 => format!("{start}pulp-init: warn: 1 log line of pulp-init dropped: stderr was full\n"),
        n => {
            format!("{start}pulp-init: warn: {n} log lines of pulp-init dropped: stderr was full\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_for_what_was_dropped() {
        assert_eq!(
            dropped_note(false, 3),
            "pulp-init: warn: 3 log lines of pulp-init dropped: stderr was full\n"
        );
        assert_eq!(
            dropped_note(true, 1),
            "\npulp-init: warn: 1 log line of pulp-init dropped: stderr was full\n"
        );
        assert_eq!(dropped_note(true, 0), "\n");
    }
}
