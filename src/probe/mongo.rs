//! The MongoDB probe: one attempt through the real driver (ping, then a real read, as
//! Pulp's first query), and what its errors mean.

use super::{net, Seen};
use crate::db::MongoTarget;
use mongodb::bson::doc;
use mongodb::error::ErrorKind;
use std::time::Duration;

/// Server error codes (mongo/base/error_codes.yml).
const UNAUTHORIZED: i32 = 13;
const AUTHENTICATION_FAILED: i32 = 18;
const NOT_WRITABLE_PRIMARY: i32 = 10107;
const NOT_PRIMARY_NO_SECONDARY_OK: i32 = 13435;

impl MongoTarget {
    pub async fn attempt(&self, timeout: Duration) -> Seen {
        let started = std::time::Instant::now();
        // The driver answers "nothing listening" only after its whole server selection
        // timeout; a plain connect tells at once, and tells DNS from refused.
        let mut reachable = false;
        let mut first_failure = None;
        for (host, port) in &self.seeds {
            match net::connect(host, *port).await {
                Ok(_) => {
                    reachable = true;
                    break;
                }
                Err(seen) => {
                    first_failure.get_or_insert(seen);
                }
            }
        }
        if !reachable {
            return first_failure.unwrap_or_else(|| Seen::Other("no seeds".into()));
        }
        // The driver must give up before the attempt's own timeout does, or its reason
        // (a TLS handshake error, "no primary") is lost behind a plain "timed out".
        let left = timeout.saturating_sub(started.elapsed());
        let client = match self.client(left.mul_f64(0.8)) {
            Ok(c) => c,
            Err(e) => return self.classify(&e),
        };
        let seen = self.ask(&client).await;
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            client.shutdown().immediate(true),
        )
        .await;
        seen
    }

    async fn ask(&self, client: &mongodb::Client) -> Seen {
        let db = client.database(&self.name);
        if let Err(e) = db.run_command(doc! { "ping": 1 }).await {
            return self.classify(&e);
        }
        // ping needs no authentication; Pulp's first real read does. Listing the
        // collections of the Pulp database shows missing credentials or rights.
        match db.list_collection_names().await {
            Ok(names) => Seen::Ready(format!(
                "database {} has {} collections",
                self.name,
                names.len()
            )),
            Err(e) => self.classify(&e),
        }
    }

    fn classify(&self, e: &mongodb::error::Error) -> Seen {
        let text = server_error(&e.to_string());
        let lower = text.to_lowercase();
        match e.kind.as_ref() {
            ErrorKind::Authentication { .. } => Seen::Auth(first_line(&text)),
            ErrorKind::Command(c) if c.code == AUTHENTICATION_FAILED => {
                Seen::Auth(c.message.clone())
            }
            ErrorKind::Command(c) if c.code == UNAUTHORIZED => Seen::Auth(format!(
                "not authorized on database {}: {} (check [database] username and password)",
                self.name, c.message
            )),
            ErrorKind::Command(c)
                if c.code == NOT_WRITABLE_PRIMARY || c.code == NOT_PRIMARY_NO_SECONDARY_OK =>
            {
                Seen::NotPrimary(c.message.clone())
            }
            _ if lower.contains("certificate")
                || lower.contains("tls")
                || lower.contains("handshake")
                || lower.contains("invalid peer") =>
            {
                Seen::Tls(first_line(&text))
            }
            _ if lower.contains("authentication") || lower.contains("auth failed") => {
                Seen::Auth(first_line(&text))
            }
            _ if lower.contains("connection refused") => Seen::Refused(first_line(&text)),
            ErrorKind::ServerSelection { .. } => {
                if self.replica_set.is_some()
                    || lower.contains("rssecondary")
                    || lower.contains("replicasetnoprimary")
                {
                    Seen::NotPrimary(format!(
                        "no primary selectable{}",
                        self.replica_set
                            .as_ref()
                            .map(|rs| format!(" in replica set {rs}"))
                            .unwrap_or_default()
                    ))
                } else {
                    Seen::TimedOut(first_line(&text))
                }
            }
            ErrorKind::DnsResolve { message, .. } => Seen::Dns(message.clone()),
            ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                Seen::TimedOut(first_line(&text))
            }
            _ => Seen::Other(first_line(&text)),
        }
    }
}

/// A driver error in one line, the server's own error inside a server-selection one.
pub fn describe(e: &mongodb::error::Error) -> String {
    first_line(&server_error(&e.to_string()))
}

/// A server-selection error names the topology; the server's own error inside it is the
/// part worth reading ("invalid peer certificate: UnknownIssuer").
fn server_error(text: &str) -> String {
    let Some(start) = text
        .find(", Error: Kind: ")
        .map(|i| i + ", Error: Kind: ".len())
    else {
        return text.to_string();
    };
    let rest = &text[start..];
    let end = rest
        .find(", labels:")
        .or_else(|| rest.find(" }"))
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| line.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", &line[..cut])
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_own_error_is_kept() {
        let text = "Kind: Server selection timeout: No available servers. Topology: { Type: Unknown, Servers: [ { Address: 127.0.0.1:1, Type: Unknown, Error: Kind: I/O error: invalid peer certificate: UnknownIssuer, labels: {}, source: None } ] }";
        assert_eq!(
            server_error(text),
            "I/O error: invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(server_error("plain"), "plain");
    }
}
