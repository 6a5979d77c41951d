//! The broker from `[tasks] broker_url`, read as Celery (kombu) reads it: `amqp://` gets a
//! full AMQP 0-9-1 connection open and close through lapin; `qpid://` an AMQP protocol
//! header exchange.

use super::{net, Seen};
use crate::conf::Values;
use crate::error::{Error, Result};
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::tcp::OwnedTLSConfig;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Connection, ConnectionProperties, ErrorKind};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    Amqp,
    Qpid,
}

#[derive(Debug, Clone)]
pub struct BrokerTarget {
    pub protocol: Protocol,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
    /// PEM CA bundle for TLS (`[tasks] cacert` when `celery_require_ssl`).
    pub cacert: Option<String>,
    /// kombu's failover URLs (after a `;`), tried in order when this one does not answer.
    pub alternates: Vec<BrokerTarget>,
}

impl BrokerTarget {
    pub fn from_conf(values: &Values) -> Result<Self> {
        let url = values
            .get_nonempty("tasks", "broker_url")?
            .unwrap_or_else(|| "qpid://localhost/".into());
        let require_ssl = values.get_bool("tasks", "celery_require_ssl", false)?;
        let mut t = parse_failover(&url).map_err(|problem| Error::ConfRead {
            path: values.path().to_path_buf(),
            problem: format!("[tasks] broker_url: {problem}",),
        })?;
        if require_ssl {
            let cacert = match values.get_nonempty("tasks", "cacert")? {
                Some(ca) => std::fs::read_to_string(&ca).ok(),
                None => None,
            };
            t.tls = true;
            t.cacert.clone_from(&cacert);
            for alt in &mut t.alternates {
                alt.tls = true;
                alt.cacert.clone_from(&cacert);
            }
        }
        Ok(t)
    }

    /// Every host:port the broker may answer on (this URL's and its failover URLs').
    pub fn endpoints(&self) -> Vec<(String, u16)> {
        std::iter::once(self)
            .chain(&self.alternates)
            .map(|t| (t.host.clone(), t.port))
            .collect()
    }

    pub fn describe(&self) -> String {
        let scheme = match (&self.protocol, self.tls) {
            (Protocol::Amqp, false) => "amqp",
            (Protocol::Amqp, true) => "amqps",
            (Protocol::Qpid, false) => "qpid",
            (Protocol::Qpid, true) => "qpid+ssl",
        };
        let vhost = if self.protocol == Protocol::Amqp {
            format!(" vhost {}", self.vhost)
        } else {
            String::new()
        };
        let failover = match self.alternates.len() {
            0 => String::new(),
            1 => " (and 1 failover URL)".into(),
            n => format!(" (and {n} failover URLs)"),
        };
        format!(
            "{scheme}://{}@{}:{}{vhost}{failover}",
            self.user, self.host, self.port
        )
    }

    /// As kombu connects: this URL, then each failover URL in turn; ready when one is.
    /// Otherwise what this (the first) URL showed. Each URL gets an equal share of the
    /// attempt's time, so a first host that never answers cannot hide a live one.
    pub async fn attempt(&self, timeout: Duration) -> Seen {
        let count = u32::try_from(self.alternates.len() + 1).unwrap_or(u32::MAX);
        let share = (timeout / count).max(Duration::from_millis(1));
        let first = self.attempt_within(share).await;
        if matches!(first, Seen::Ready(_)) {
            return first;
        }
        for (i, alt) in self.alternates.iter().enumerate() {
            if let Seen::Ready(detail) = alt.attempt_within(share).await {
                let sep = if detail.is_empty() { "" } else { "; " };
                return Seen::Ready(format!(
                    "failover URL {} ({}:{}){sep}{detail}",
                    i + 1,
                    alt.host,
                    alt.port
                ));
            }
        }
        first
    }

    async fn attempt_within(&self, timeout: Duration) -> Seen {
        tokio::time::timeout(timeout, self.attempt_one())
            .await
            .unwrap_or_else(|_| {
                Seen::TimedOut(format!("no answer within {}", crate::time::human(timeout)))
            })
    }

    async fn attempt_one(&self) -> Seen {
        let stream = match net::connect(&self.host, self.port).await {
            Ok(s) => s,
            Err(seen) => return seen,
        };
        match self.protocol {
            Protocol::Qpid if self.tls => {
                Seen::Ready("TCP connect only: qpid over TLS is not probed further".into())
            }
            Protocol::Qpid => protocol_header(stream).await,
            Protocol::Amqp => {
                drop(stream);
                self.amqp().await
            }
        }
    }

    async fn amqp(&self) -> Seen {
        let uri = AMQPUri {
            scheme: if self.tls {
                AMQPScheme::AMQPS
            } else {
                AMQPScheme::AMQP
            },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: self.user.clone(),
                    password: self.password.clone(),
                },
                host: crate::addr::unbracket(&self.host).to_string(),
                port: self.port,
            },
            vhost: self.vhost.clone(),
            query: AMQPQueryString::default(),
        };
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: self.cacert.clone(),
        };
        let runtime = match lapin::runtime::default_runtime() {
            Ok(rt) => rt,
            Err(e) => return Seen::Other(format!("no runtime for lapin: {e}")),
        };
        // lapin has no handshake timeout of its own: the caller's timeout bounds this.
        let props = ConnectionProperties::default();
        match Connection::connect_uri_with_config(uri, props, tls, runtime).await {
            Ok(conn) => {
                let _ = conn.close(200, "pulp-init probe".into()).await;
                Seen::Ready(String::new())
            }
            Err(e) => self.classify(&e),
        }
    }

    fn classify(&self, e: &lapin::Error) -> Seen {
        let text = e.to_string();
        match e.kind() {
            ErrorKind::ProtocolError(p) => match p.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => Seen::Auth(format!(
                    "the broker refused user {:?} (ACCESS_REFUSED: wrong user or password)",
                    self.user
                )),
                AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => Seen::Auth(format!(
                    "user {:?} may not use vhost {:?} (NOT_ALLOWED: no such vhost or no permission)",
                    self.user, self.vhost
                )),
                _ => Seen::Other(text),
            },
            ErrorKind::IOError(io) => {
                let lower = text.to_lowercase();
                if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
                    Seen::Tls(text)
                } else if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    Seen::Refused(text)
                } else {
                    Seen::Other(text)
                }
            }
            _ if text.contains("ACCESS_REFUSED") || text.contains("ACCESSREFUSED") => {
                Seen::Auth(text)
            }
            _ => Seen::Other(text),
        }
    }
}

/// Sends the AMQP 0-10 protocol header (what qpidd and Pulp's python-qpid speak); any
/// broker that answers with an `AMQP` header is up. 0-9-1 brokers answer with theirs.
async fn protocol_header(mut stream: tokio::net::TcpStream) -> Seen {
    if let Err(e) = stream.write_all(b"AMQP\x01\x01\x00\x0a").await {
        return Seen::Other(format!("sending the AMQP header: {e}"));
    }
    let mut reply = [0u8; 8];
    let mut got = 0;
    while got < reply.len() {
        match stream.read(&mut reply[got..]).await {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Seen::Other(format!("reading the AMQP header: {e}")),
        }
    }
    if got >= 4 && &reply[..4] == b"AMQP" {
        Seen::Ready(format!(
            "AMQP protocol header {}.{}.{}.{}",
            reply[4], reply[5], reply[6], reply[7]
        ))
    } else if got == 0 {
        Seen::Other("closed without an AMQP protocol header".into())
    } else {
        Seen::Other("answered, but not with an AMQP protocol header".into())
    }
}

/// kombu's `unquote`: `%XX` decoded, a `%` not followed by two hex digits kept as is.
fn decode(s: &str) -> std::result::Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "percent-encoding that is not UTF-8".to_string())
}

/// kombu's `Connection(url)`: a `;` separates failover URLs (kombu 4.0's only separator;
/// one without a scheme takes the first one's). Messages never quote a URL: the text may
/// be a password.
pub fn parse_failover(url: &str) -> std::result::Result<BrokerTarget, String> {
    let mut parts = url.split(';');
    let first_text = parts.next().unwrap_or("");
    let mut first = parse_url(first_text)?;
    let scheme = first_text.split("://").next().unwrap_or("");
    for (i, alt) in parts.enumerate() {
        let parsed = if alt.contains("://") {
            parse_url(alt)
        } else {
            parse_url(&format!("{scheme}://{alt}"))
        };
        first
            .alternates
            .push(parsed.map_err(|e| format!("failover URL {}: {e}", i + 1))?);
    }
    Ok(first)
}

/// kombu's `url_to_parts`: scheme://[user[:password]@]host[:port][/vhost][?query].
/// An empty vhost is "/"; user and password are percent-decoded.
pub fn parse_url(url: &str) -> std::result::Result<BrokerTarget, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "not a URL (scheme://host)".to_string())?;
    // Python's urlparse ends the host part at the first '/', '?' or '#': a password that
    // holds one raw would be read as host and port, and quoting that would show it.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if !rest[..authority_end].contains('@') && rest[authority_end..].contains('@') {
        return Err(
            "an '@' after a '/', '?' or '#': a user or password that holds one of \
             these must be percent-encoded (%2F, %3F, %23), and so must an '@' in the \
             vhost (%40)"
                .into(),
        );
    }
    let (protocol, tls, default_port) = match scheme.to_lowercase().as_str() {
        "amqp" | "pyamqp" | "librabbitmq" => (Protocol::Amqp, false, 5672),
        "amqps" => (Protocol::Amqp, true, 5671),
        "qpid" => (Protocol::Qpid, false, 5672),
        other => {
            return Err(format!(
                "scheme {other:?} is not a broker pulp-init can check (amqp, amqps, qpid)"
            ))
        }
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (decode(user)?, decode(pass)?),
            None => (decode(u)?, String::new()),
        },
        None => (String::new(), String::new()),
    };
    // kombu: no host is localhost, an empty port the scheme's default.
    let hostport = hostport.strip_suffix(':').unwrap_or(hostport);
    let (host, port) = match hostport.strip_prefix(':') {
        Some(p) => crate::addr::port(p).map(|p| (String::new(), Some(p))),
        None if hostport.is_empty() => Ok((String::new(), None)),
        None => crate::addr::split(hostport),
    }
    .map_err(|e| match userinfo {
        Some(_) => e,
        // Without an '@' the text may be `user:part-of-a-password`; a ';' in a password
        // ends the URL there, as kombu splits it.
        None => "the host and port cannot be read (a port is a number from 1 to 65535; a \
                 ';' in a password must be percent-encoded, %3B)"
            .to_string(),
    })?;
    let port = port.unwrap_or(default_port);
    let vhost = decode(path)?;
    Ok(BrokerTarget {
        protocol,
        tls,
        host: if host.is_empty() {
            "localhost".into()
        } else {
            host
        },
        port,
        // kombu's defaults for the amqp transport.
        user: if user.is_empty() {
            "guest".into()
        } else {
            user
        },
        password: if password.is_empty() && userinfo.is_none() {
            "guest".into()
        } else {
            password
        },
        vhost: if vhost.is_empty() { "/".into() } else { vhost },
        cacert: None,
        alternates: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_kombu_reads_them() {
        let t = parse_url("amqp://guest:guest@mq:5672//").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.vhost.as_str()),
            ("mq", 5672, "/")
        );
        let t = parse_url("amqp://pulp%40x:p%25%3A%40@[::1]/pulp%20vh").unwrap();
        assert_eq!(t.user, "pulp@x");
        assert_eq!(t.password, "p%:@");
        assert_eq!(
            (t.host.as_str(), t.port, t.vhost.as_str()),
            ("[::1]", 5672, "pulp vh")
        );
        let t = parse_url("qpid://guest@localhost/").unwrap();
        assert_eq!((t.protocol, t.port), (Protocol::Qpid, 5672));
        let t = parse_url("amqps://u:p@h").unwrap();
        assert!(t.tls && t.port == 5671 && t.vhost == "/");
        assert!(parse_url("redis://h").is_err());
        assert!(parse_url("amqp://h:x/").is_err());
        // kombu's unquote keeps a '%' that starts no escape.
        let t = parse_url("amqp://u:50%zz%@h:1/v%2").unwrap();
        assert_eq!((t.password.as_str(), t.vhost.as_str()), ("50%zz%", "v%2"));
        let t = parse_url("amqp://:7/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("localhost", 7));
    }

    #[test]
    fn failover_urls_as_kombu_splits_them() {
        let t = parse_failover("amqp://u:P1@h1:1;amqp://v:P2@h2//;w:P3@h3:3/x").unwrap();
        let all: Vec<_> = std::iter::once(&t)
            .chain(&t.alternates)
            .map(|t| {
                (
                    t.user.as_str(),
                    t.password.as_str(),
                    t.host.as_str(),
                    t.port,
                )
            })
            .collect();
        assert_eq!(
            all,
            [
                ("u", "P1", "h1", 1),
                ("v", "P2", "h2", 5672),
                ("w", "P3", "h3", 3)
            ]
        );
        assert!(t.describe().ends_with("(and 2 failover URLs)"));
        assert!(!t.describe().contains("P1"));
    }

    #[test]
    fn a_raw_slash_hash_or_question_mark_in_a_password_is_refused_unquoted() {
        for url in [
            "amqp://u:a/Psecret@h//",
            "amqp://u:a#Psecret@h//",
            "amqp://u:a?Psecret@h//",
            "amqp://u:P1@h1;amqp://u:a/Psecret@h//",
            "amqp://u:a;Psecret@h//",
        ] {
            let e = parse_failover(url).unwrap_err();
            assert!(e.contains("percent-encoded"), "{e}");
            assert!(!e.contains("Psecret") && !e.contains("\"a\""), "{e}");
        }
    }
}
