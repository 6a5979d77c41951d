//! httpd's liveness: the local server answers Pulp's status URL. One request, HTTP/1.1
//! with `Connection: close`; only the status line is read. Over HTTPS the certificate is
//! not verified: this is our own local process, and the question is whether it answers,
//! not who it is.

use super::{Verdict, Within};
use crate::time::human;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const STATUS_PATH: &str = "/pulp/api/v2/status/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
    }
}

impl Url {
    /// `http(s)://host[:port][/path]`, host a name, IPv4 or `[IPv6]`.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{text:?}: give an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(format!(
                "{text:?}: credentials in the URL are not supported"
            ));
        }
        let (host, port) = crate::addr::split(authority).map_err(|e| format!("{text:?}: {e}"))?;
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!(
                "{text:?}: the path holds spaces or control characters"
            ));
        }
        Ok(Url {
            tls,
            host,
            port: port.unwrap_or(if tls { 443 } else { 80 }),
            path: path.to_string(),
        })
    }

    pub fn default_https() -> Url {
        Url {
            tls: true,
            host: "localhost".into(),
            port: 443,
            path: STATUS_PATH.into(),
        }
    }

    fn default_http() -> Url {
        Url {
            tls: false,
            port: 80,
            ..Url::default_https()
        }
    }
}

/// What one request saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Status(u16, String),
    Refused,
    Failed(String),
}

/// The status code and reason of an HTTP/1.x status line.
fn status_line(line: &str) -> Option<(u16, String)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, parts.next().unwrap_or("").to_string()))
}

fn left(deadline: Instant) -> Result<Duration, String> {
    let l = deadline.saturating_duration_since(Instant::now());
    if l.is_zero() {
        Err("no answer in time".into())
    } else {
        Ok(l)
    }
}

/// Nothing listens at that address: refused, or an address family this network
/// namespace lacks (`localhost` is `::1` first, and Docker's containers often have no
/// IPv6: EADDRNOTAVAIL), which is no reason to skip the other addresses' answer.
fn nothing_there(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ConnectionRefused
        || matches!(
            e.raw_os_error(),
            Some(libc::EADDRNOTAVAIL | libc::ENETUNREACH | libc::EAFNOSUPPORT)
        )
}

fn connect(url: &Url, deadline: Instant) -> Result<TcpStream, Seen> {
    let host = crate::addr::unbracket(&url.host).to_string();
    let addrs: Vec<SocketAddr> = (host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| Seen::Failed(format!("{}: {e}", url.host)))?
        .collect();
    let mut refused = true;
    let mut last = String::from("no address");
    for addr in addrs {
        let l = left(deadline).map_err(Seen::Failed)?;
        match TcpStream::connect_timeout(&addr, l) {
            Ok(s) => return Ok(s),
            Err(e) if nothing_there(&e) => {}
            Err(e) => {
                refused = false;
                last = format!("connecting to {addr}: {e}");
            }
        }
    }
    Err(if refused {
        Seen::Refused
    } else {
        Seen::Failed(last)
    })
}

/// One GET of `url` within `attempt`.
fn request(url: &Url, attempt: Duration) -> Seen {
    let deadline = Instant::now() + attempt;
    let tcp = match connect(url, deadline) {
        Ok(s) => s,
        Err(seen) => return seen,
    };
    let exchange = || -> Result<String, String> {
        let l = left(deadline)?;
        tcp.set_read_timeout(Some(l)).map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(l)).map_err(|e| e.to_string())?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pulp-init\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            url.path, url.host
        );
        if url.tls {
            let conn = rustls::ClientConnection::new(tls_config()?, server_name(&url.host)?)
                .map_err(|e| format!("TLS: {e}"))?;
            let mut stream = rustls::StreamOwned::new(conn, &tcp);
            first_line(&mut stream, request.as_bytes(), deadline)
        } else {
            first_line(&mut &tcp, request.as_bytes(), deadline)
        }
    };
    match exchange() {
        Ok(line) => match status_line(&line) {
            Some((code, reason)) => Seen::Status(code, reason),
            None => Seen::Failed(format!("not an HTTP status line: {:?}", line.trim_end())),
        },
        Err(e) => Seen::Failed(e),
    }
}

/// Sends the request and reads up to the end of the first line (at most 1 KiB).
fn first_line(
    stream: &mut impl ReadWrite,
    request: &[u8],
    deadline: Instant,
) -> Result<String, String> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            "no answer in time".to_string()
        }
        _ => e.to_string(),
    };
    stream.write_all(request).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.contains(&b'\n') && got.len() < 1024 {
        left(deadline)?;
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            if got.is_empty() {
                return Err("the connection was closed without an answer".into());
            }
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let end = got
        .iter()
        .position(|b| *b == b'\n')
        .map_or(got.len(), |i| i + 1);
    Ok(String::from_utf8_lossy(&got[..end]).into_owned())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, String> {
    rustls::pki_types::ServerName::try_from(crate::addr::unbracket(host).to_string())
        .map_err(|e| format!("{host}: {e}"))
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts whatever certificate the local httpd shows; the handshake's signatures are still
/// checked (the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The verdict on httpd: `url`, or HTTPS on 443 and, when nothing listens there, HTTP on 80.
pub fn judge(url: Option<&Url>, attempt: Duration, within: &Within) -> Verdict {
    let started = Instant::now();
    // What was asked, for the line: both default URLs when 443 refused.
    let (url, seen) = match url {
        Some(u) => (u.to_string(), request(u, attempt)),
        None => {
            let https = Url::default_https();
            match request(&https, attempt) {
                Seen::Refused => {
                    let http = Url::default_http();
                    let rest = attempt.saturating_sub(started.elapsed());
                    match request(&http, rest) {
                        Seen::Refused => (format!("{https} and {http}"), Seen::Refused),
                        seen => (http.to_string(), seen),
                    }
                }
                seen => (https.to_string(), seen),
            }
        }
    };
    let took = human(started.elapsed());
    match seen {
        Seen::Status(code, reason) if (200..500).contains(&code) => {
            Verdict::Live(format!("{url} answered {code} {reason} in {took}"))
        }
        Seen::Status(code, reason) => within.verdict(format!("{url} answered {code} {reason}")),
        Seen::Refused => within.verdict(format!("{url}: connection refused (nothing listens)")),
        Seen::Failed(why) => {
            within.verdict(format!("{url}: {why} (attempt timeout {})", human(attempt)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_family_the_namespace_lacks_is_nothing_there_not_a_failure() {
        use std::io::{Error, ErrorKind};
        assert!(nothing_there(&Error::from(ErrorKind::ConnectionRefused)));
        assert!(nothing_there(&Error::from_raw_os_error(
            libc::EADDRNOTAVAIL
        )));
        assert!(nothing_there(&Error::from_raw_os_error(libc::ENETUNREACH)));
        assert!(!nothing_there(&Error::from(ErrorKind::TimedOut)));
        assert!(!nothing_there(&Error::from_raw_os_error(libc::ECONNRESET)));
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line("HTTP/1.1 200 OK\r\n"), Some((200, "OK".into())));
        assert_eq!(
            status_line("HTTP/1.0 503 Service Unavailable\r\n"),
            Some((503, "Service Unavailable".into()))
        );
        assert_eq!(status_line("HTTP/1.1 403\r\n"), Some((403, String::new())));
        assert_eq!(status_line("HTTP/2 200\r\n"), None);
        assert_eq!(status_line("SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_line("HTTP/1.1 20 OK\r\n"), None);
        assert_eq!(status_line("HTTP/1.1 2x0 OK\r\n"), None);
        assert_eq!(status_line(""), None);
    }

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/pulp/api/v2/status/").unwrap();
        assert_eq!(
            u,
            Url {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/pulp/api/v2/status/".into()
            }
        );
        let u = Url::parse("https://[::1]").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 443, "/"));
        assert_eq!(u.to_string(), "https://[::1]:443/");
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("http://u:p@x/").is_err());
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://x/a b").is_err());
        assert_eq!(
            Url::default_https().to_string(),
            "https://localhost:443/pulp/api/v2/status/"
        );
    }
}
