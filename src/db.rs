//! The Pulp database as Pulp's pymongo reaches it, from `[database]` in server.conf:
//! seeds, name, SCRAM credentials, replica set, TLS. Shared by the probe and the
//! migrate phase.

use crate::addr;
use crate::conf::Values;
use crate::error::{Error, Result};
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
                host: addr::unbracket(host).to_string(),
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
}

/// `host:port,host:port` with `[v6]:port`; a seed without a port gets 27017.
fn parse_seeds(text: &str) -> std::result::Result<Vec<(String, u16)>, String> {
    text.split(',')
        .map(str::trim)
        .map(|seed| {
            let (host, port) = addr::split(seed).map_err(|e| format!("{seed:?}: {e}"))?;
            Ok((host, port.unwrap_or(27017)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
