//! MongoDB through the real driver, configured from `[database]` as Pulp configures
//! pymongo: seeds, name, SCRAM credentials, replica set, TLS.

use super::{net, Seen};
use crate::conf::Values;
use crate::error::{Error, Result};
use mongodb::bson::doc;
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, Credential, ServerAddress, Tls, TlsOptions};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct MongoTarget {
    pub seeds: Vec<(String, u16)>,
    pub name: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub replica_set: Option<String>,
    pub tls: Option<TlsSettings>,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub verify: bool,
    pub ca_path: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
}

/// Server error codes (mongo/base/error_codes.yml).
const UNAUTHORIZED: i32 = 13;
const AUTHENTICATION_FAILED: i32 = 18;
const NOT_WRITABLE_PRIMARY: i32 = 10107;
const NOT_PRIMARY_NO_SECONDARY_OK: i32 = 13435;

impl MongoTarget {
    pub fn from_conf(values: &Values) -> Result<Self> {
        let seeds_text = values
            .get_nonempty("database", "seeds")?
            .unwrap_or_else(|| "localhost:27017".into());
        let seeds = parse_seeds(&seeds_text).map_err(|problem| Error::ConfRead {
            path: values.path().to_path_buf(),
            problem: format!("[database] seeds: {problem}"),
        })?;
        let tls = if values.get_bool("database", "ssl", false)? {
            let verify = values.get_bool("database", "verify_ssl", true)?;
            Some(TlsSettings {
                verify,
                ca_path: values
                    .get_nonempty("database", "ca_path")?
                    .or_else(|| Some("/etc/pki/tls/certs/ca-bundle.crt".into()))
                    .filter(|_| verify)
                    .map(PathBuf::from),
                certfile: values
                    .get_nonempty("database", "ssl_certfile")?
                    .map(PathBuf::from),
                keyfile: values
                    .get_nonempty("database", "ssl_keyfile")?
                    .map(PathBuf::from),
            })
        } else {
            None
        };
        Ok(MongoTarget {
            seeds,
            name: values
                .get_nonempty("database", "name")?
                .unwrap_or_else(|| "pulp_database".into()),
            username: values.get_nonempty("database", "username")?,
            password: values.get_nonempty("database", "password")?,
            replica_set: values.get_nonempty("database", "replica_set")?,
            tls,
        })
    }

    pub fn describe(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        let mut s = seeds.join(",");
        if let Some(rs) = &self.replica_set {
            s.push_str(&format!(" replica set {rs}"));
        }
        if self.tls.is_some() {
            s.push_str(" tls");
        }
        s
    }

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

    /// A client with the settings Pulp uses, `timeout` for server selection and connect.
    pub fn client(&self, timeout: Duration) -> mongodb::error::Result<mongodb::Client> {
        mongodb::Client::with_options(self.options(timeout))
    }

    fn options(&self, timeout: Duration) -> ClientOptions {
        let mut o = ClientOptions::default();
        o.hosts = self
            .seeds
            .iter()
            .map(|(host, port)| ServerAddress::Tcp {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: Some(*port),
            })
            .collect();
        o.app_name = Some("pulp-init".into());
        o.server_selection_timeout = Some(timeout);
        o.connect_timeout = Some(timeout);
        o.repl_set_name = self.replica_set.clone();
        o.retry_reads = Some(false);
        if self.username.is_some() || self.password.is_some() {
            o.credential = Some(
                Credential::builder()
                    .username(self.username.clone())
                    .password(self.password.clone())
                    .source(Some(self.name.clone()))
                    .build(),
            );
        }
        if let Some(t) = &self.tls {
            let mut tls = TlsOptions::default();
            tls.allow_invalid_certificates = Some(!t.verify);
            tls.ca_file_path = t.ca_path.clone();
            // The driver takes one PEM with the certificate and its key; Pulp's
            // ssl_certfile holds both when ssl_keyfile is not given.
            tls.cert_key_file_path = t.certfile.clone().or_else(|| t.keyfile.clone());
            o.tls = Some(Tls::Enabled(tls));
        }
        o
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

/// `host:port,host:port` with `[v6]:port`; a seed without a port gets 27017.
fn parse_seeds(text: &str) -> std::result::Result<Vec<(String, u16)>, String> {
    text.split(',')
        .map(str::trim)
        .map(|seed| {
            let (host, port) = if let Some(rest) = seed.strip_prefix('[') {
                let (h, after) = rest
                    .split_once(']')
                    .ok_or_else(|| format!("{seed:?}: '[' without ']'"))?;
                (format!("[{h}]"), after.strip_prefix(':'))
            } else {
                match seed.rsplit_once(':') {
                    Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
                    _ => (seed.to_string(), None),
                }
            };
            if host.is_empty() || host == "[]" {
                return Err(format!("{seed:?} has no host"));
            }
            let port = match port {
                None => 27017,
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("{seed:?}: {p:?} is not a port"))?,
            };
            Ok((host, port))
        })
        .collect()
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

    #[test]
    fn seeds_as_pulp_writes_them() {
        assert_eq!(
            parse_seeds("db1:27017, db2,[::1]:1").unwrap(),
            vec![
                ("db1".into(), 27017),
                ("db2".into(), 27017),
                ("[::1]".into(), 1)
            ]
        );
        assert!(parse_seeds("db:x").is_err());
        assert!(parse_seeds(":1").is_err());
    }

    #[test]
    fn conf_defaults_are_pulps() {
        let t = MongoTarget::from_conf(&Values::from_text("[database]\n# seeds: x\n")).unwrap();
        assert_eq!(t.seeds, vec![("localhost".into(), 27017)]);
        assert_eq!(t.name, "pulp_database");
        assert!(t.tls.is_none() && t.username.is_none());
        let t = MongoTarget::from_conf(&Values::from_text(
            "[database]\nssl: true\nverify_ssl: false\nusername: u\npassword: p%%\n",
        ))
        .unwrap();
        assert_eq!(t.password.as_deref(), Some("p%"));
        let tls = t.tls.unwrap();
        assert!(!tls.verify && tls.ca_path.is_none());
    }
}
