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
}

impl BrokerTarget {
    pub fn from_conf(values: &Values) -> Result<Self> {
        let url = values
            .get_nonempty("tasks", "broker_url")?
            .unwrap_or_else(|| "qpid://localhost/".into());
        let require_ssl = values.get_bool("tasks", "celery_require_ssl", false)?;
        let mut t = parse_url(&url).map_err(|problem| Error::ConfRead {
            path: values.path().to_path_buf(),
            problem: format!("[tasks] broker_url: {problem}",),
        })?;
        if require_ssl {
            t.tls = true;
            if let Some(ca) = values.get_nonempty("tasks", "cacert")? {
                t.cacert = std::fs::read_to_string(&ca).ok();
            }
        }
        Ok(t)
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
        format!(
            "{scheme}://{}@{}:{}{vhost}",
            self.user, self.host, self.port
        )
    }

    pub async fn attempt(&self, _timeout: Duration) -> Seen {
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

/// kombu's `url_to_parts`: scheme://[user[:password]@]host[:port][/vhost][?query].
/// An empty vhost is "/"; user and password are percent-decoded.
pub fn parse_url(url: &str) -> std::result::Result<BrokerTarget, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "not a URL (scheme://host)".to_string())?;
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
        Some(p) => (String::new(), Some(crate::addr::port(p)?)),
        None if hostport.is_empty() => (String::new(), None),
        None => crate::addr::split(hostport)?,
    };
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
}
