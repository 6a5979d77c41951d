//! `[database] seeds` from `DB_SERVICE_HOST` (or `SERVICE_HOST`) and `DB_SERVICE_PORT`.

use super::env::Env;
use crate::addr;
use crate::error::{Error, Result};

/// `[database] seeds` from `DB_SERVICE_HOST` (or `SERVICE_HOST`) and `DB_SERVICE_PORT`,
/// with the variables it came from.
pub fn seeds(env: &Env) -> Result<Option<(String, Vec<&'static str>)>> {
    let port_var = "DB_SERVICE_PORT";
    let (host_var, hosts) = match (env.text("DB_SERVICE_HOST")?, env.text("SERVICE_HOST")?) {
        (Some(h), _) => ("DB_SERVICE_HOST", h),
        (None, Some(h)) => ("SERVICE_HOST", h),
        (None, None) => {
            if env.get(port_var)?.is_some() {
                return Err(Error::env(
                    env.shown_name(port_var),
                    "is set but DB_SERVICE_HOST (or SERVICE_HOST) is not; set the host too",
                ));
            }
            return Ok(None);
        }
    };
    let default_port = match env.text(port_var)? {
        Some(p) => addr::port(p).map_err(|e| Error::env(env.shown_name(port_var), e))?,
        None => 27017,
    };
    let shown = env.shown_name(host_var);
    let mut seeds = Vec::new();
    for item in hosts.split(',') {
        let (host, port) = super::host_port(&shown, item)?;
        seeds.push(format!("{host}:{}", port.unwrap_or(default_port)));
    }
    let mut sources = vec![host_var];
    if env.is_set(port_var) {
        sources.push(port_var);
    }
    Ok(Some((seeds.join(","), sources)))
}
