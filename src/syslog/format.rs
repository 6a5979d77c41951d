//! One syslog datagram (RFC 3164 or RFC 5424) as one line on stderr:
//! `facility.severity tag[pid]: message`, every field escaped.

use std::io::Write;

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One datagram (`got` bytes of a `len`-byte message) as one line:
/// `facility.severity tag[pid]: message\n`. RFC 3164 (`<PRI>TIMESTAMP TAG[PID]: MSG`,
/// as glibc and `logger` send it, or `<PRI>MSG\0` as Python's SysLogHandler does) and
/// RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`). Line breaks and other
/// control characters are escaped so a message stays one line.
pub fn format_line(datagram: &[u8], len: usize, out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(datagram);
    let mut text: &str = &text;
    if len <= datagram.len() {
        text = text.trim_end_matches(['\0', '\n', '\r']);
    }
    let (pri, rest) = split_pri(text);
    let (facility, severity) = (pri / 8, pri % 8);
    let (tag, pid, msg) = match rest.strip_prefix("1 ") {
        Some(r5424) => split_5424(r5424),
        None => split_3164(rest),
    };
    let _ = write!(
        out,
        "{}.{}",
        FACILITIES.get(facility).copied().unwrap_or("unknown"),
        SEVERITIES[severity]
    );
    // The sender chooses the tag and pid as freely as the message: escaped alike, or a
    // line break in an RFC 5424 APP-NAME would forge a line of its own.
    if let Some(t) = tag {
        out.push(b' ');
        escape_into(t, out);
        if let Some(p) = pid {
            out.push(b'[');
            escape_into(p, out);
            out.push(b']');
        }
    }
    out.push(b':');
    if !msg.is_empty() {
        out.push(b' ');
        escape_into(msg, out);
    }
    if len > datagram.len() {
        let _ = write!(
            out,
            " [pulp-init: message cut at {} of {len} bytes]",
            datagram.len()
        );
    }
    out.push(b'\n');
}

/// `<PRI>` (0..=191); user.notice when absent or invalid (RFC 3164 4.3.3).
fn split_pri(text: &str) -> (usize, &str) {
    let parsed = text.strip_prefix('<').and_then(|r| {
        let end = r.find('>')?;
        let digits = &r[..end];
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let pri: usize = digits.parse().ok()?;
        (pri <= 191).then(|| (pri, &r[end + 1..]))
    });
    parsed.unwrap_or((13, text))
}

/// RFC 3164: an optional `Mmm dd hh:mm:ss ` timestamp, then `TAG[PID]: ` if present.
fn split_3164(rest: &str) -> (Option<&str>, Option<&str>, &str) {
    let b = rest.as_bytes();
    let stamped = b.len() >= 16
        && b[..3].iter().all(u8::is_ascii_alphabetic)
        && b[3] == b' '
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
        && b[15] == b' ';
    let rest = if stamped { &rest[16..] } else { rest };
    // A tag is one word of at most 48 characters, ending in ':' or '[pid]:'.
    let end = rest
        .find(|c: char| c == ':' || c == '[' || c.is_whitespace())
        .unwrap_or(rest.len());
    if end == 0 || end > 48 {
        return (None, None, rest);
    }
    let tag = &rest[..end];
    let after = &rest[end..];
    if let Some(r) = after.strip_prefix(':') {
        return (Some(tag), None, r.strip_prefix(' ').unwrap_or(r));
    }
    if let Some(r) = after.strip_prefix('[') {
        if let Some(close) = r.find("]:") {
            let pid = &r[..close];
            if !pid.is_empty() && !pid.contains(char::is_whitespace) {
                let m = &r[close + 2..];
                return (Some(tag), Some(pid), m.strip_prefix(' ').unwrap_or(m));
            }
        }
    }
    (None, None, rest)
}

/// RFC 5424 after `1 `: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
fn split_5424(rest: &str) -> (Option<&str>, Option<&str>, &str) {
    let mut fields = rest.splitn(6, ' ');
    let (_time, _host) = (fields.next(), fields.next());
    let app = fields.next().filter(|a| *a != "-");
    let pid = fields.next().filter(|p| *p != "-");
    let _msgid = fields.next();
    let tail = fields.next().unwrap_or("");
    let msg = skip_structured_data(tail);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    (app, pid, msg)
}

/// `-` or `[id k="v" ...]...`, then the message after one space.
fn skip_structured_data(tail: &str) -> &str {
    if let Some(r) = tail.strip_prefix('-') {
        return r.strip_prefix(' ').unwrap_or(r);
    }
    let mut in_quotes = false;
    let mut escaped = false;
    let mut depth = 0;
    for (i, c) in tail.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '[' if !in_quotes => depth += 1,
            ']' if !in_quotes => {
                depth -= 1;
                if depth == 0 && !tail[i + 1..].starts_with('[') {
                    let r = &tail[i + 1..];
                    return r.strip_prefix(' ').unwrap_or(r);
                }
            }
            _ => {}
        }
    }
    tail
}

fn escape_into(msg: &str, out: &mut Vec<u8>) {
    for c in msg.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.push(b'\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(d: &[u8]) -> String {
        let mut out = Vec::new();
        format_line(d, d.len(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_formats_senders_use() {
        // logger(1) to a local socket (util-linux 2.38).
        assert_eq!(
            line(b"<13>Nov 27 23:25:39 mytag[42]: hello world"),
            "user.notice mytag[42]: hello world\n"
        );
        assert_eq!(
            line(b"<13>Nov  7 23:25:39 root: plain"),
            "user.notice root: plain\n"
        );
        // Python's SysLogHandler: <PRI>MSG\0, Pulp's format "pulp: name:LEVEL: msg".
        assert_eq!(
            line(b"<11>pulp: pulp.server:ERROR: two\nlines\x00"),
            "user.err pulp: pulp.server:ERROR: two\\nlines\n"
        );
        assert_eq!(line(b"<12>py msg\x00"), "user.warning: py msg\n");
        assert_eq!(
            line(b"<30>celery[7]: started"),
            "daemon.info celery[7]: started\n"
        );
        // RFC 5424 (logger --rfc5424).
        assert_eq!(
            line(b"<13>1 2026-11-27T23:25:39.98+00:00 vm t5 - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] five"),
            "user.notice t5: five\n"
        );
        assert_eq!(
            line(b"<165>1 2003-10-11T22:14:15.003Z host app 99 ID47 - \xef\xbb\xbfmsg"),
            "local4.notice app[99]: msg\n"
        );
    }

    #[test]
    fn odd_input_stays_one_line() {
        assert_eq!(line(b"no pri at all"), "user.notice: no pri at all\n");
        assert_eq!(line(b"<999>x"), "user.notice: <999>x\n");
        assert_eq!(line(b"<0>"), "kern.emerg:\n");
        assert_eq!(line(b"<14>a\x1bb\r\n"), "user.info: a\\x1bb\n");
        assert_eq!(line(b"<14>\xff\xfe"), "user.info: \u{fffd}\u{fffd}\n");
    }

    #[test]
    fn tag_and_pid_are_escaped_like_the_message() {
        // RFC 5424 fields are split at spaces only: a line break forged a line.
        assert_eq!(
            line(b"<13>1 - - app\nforged 1\x1b[2J - - msg"),
            "user.notice app\\nforged[1\\x1b[2J]: msg\n"
        );
        assert_eq!(
            line(b"<13>1 - - a\x07pp p\rid - - body"),
            "user.notice a\\x07pp[p\\rid]: body\n"
        );
        // RFC 3164: a tag ends at whitespace, but ESC and BEL are not whitespace.
        assert_eq!(
            line(b"<13>t\x1b]0;x\x07g[1\x1b[m]: m"),
            "user.notice t\\x1b]0;x\\x07g[1\\x1b[m]: m\n"
        );
        assert_eq!(line(b"<13>ta\x1bg: m"), "user.notice ta\\x1bg: m\n");
    }

    #[test]
    fn a_cut_message_says_so() {
        let mut out = Vec::new();
        format_line(b"<14>tag: abc", 100_000, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "user.info tag: abc [pulp-init: message cut at 12 of 100000 bytes]\n"
        );
    }
}
