//! `[messaging] url`, `[tasks] broker_url` and `[messaging] transport` from the
//! `MSG_SERVICE_*` variables; credentials and vhost percent-encoded as kombu reads them.

use super::edit;
use super::env::Env;
use crate::addr;
use crate::conf::Edit;
use crate::error::{Error, Result};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// A vhost keeps its `/` (`amqp://…:5672//` is the default vhost).
const VHOST: &AsciiSet = &USERINFO.remove(b'/');

/// `[messaging] url`, `[tasks] broker_url` and `[messaging] transport` from `MSG_SERVICE_*`.
pub fn edits(env: &Env) -> Result<Vec<Edit>> {
    let host_var = if env.text("MSG_SERVICE_HOST")?.is_some() {
        "MSG_SERVICE_HOST"
    } else {
        "SERVICE_HOST"
    };
    let Some(host) = env.text(host_var)? else {
        let others = [
            "MSG_SERVICE_PORT",
            "MSG_SERVICE_USER",
            "MSG_SERVICE_PASSWORD",
            "MSG_SERVICE_TYPE",
            "MSG_SERVICE_VHOST",
        ];
        if let Some(set) = others.iter().find(|v| env.is_set(v)) {
            env.get(set)?;
            return Err(Error::env(
                env.shown_name(set),
                "is set but MSG_SERVICE_HOST (or SERVICE_HOST) is not; set the host too",
            ));
        }
        return Ok(Vec::new());
    };
    let shown_host = env.shown_name(host_var);
    if host.contains(',') {
        return Err(Error::env(
            &shown_host,
            "names more than one host; the broker URL takes one",
        ));
    }
    let (host, own_port) = super::host_port(&shown_host, host)?;
    let port = match (own_port, env.text("MSG_SERVICE_PORT")?) {
        (Some(p), _) => p,
        (None, Some(p)) => {
            addr::port(p).map_err(|e| Error::env(env.shown_name("MSG_SERVICE_PORT"), e))?
        }
        (None, None) => 5672,
    };
    let kind = match env.text("MSG_SERVICE_TYPE")? {
        None => "qpid",
        Some(t) if t.eq_ignore_ascii_case("qpid") => "qpid",
        Some(t) if t.eq_ignore_ascii_case("rabbitmq") => "rabbitmq",
        Some(t) => {
            return Err(Error::env(
                env.shown_name("MSG_SERVICE_TYPE"),
                format!("{t:?} is not a broker type; use qpid or rabbitmq"),
            ))
        }
    };
    let user = env.text("MSG_SERVICE_USER")?.unwrap_or("guest");
    let password = match env.text("MSG_SERVICE_PASSWORD")? {
        Some(p) => Some(p),
        // RabbitMQ's default account is guest/guest; qpid's default URL has no password.
        None if kind == "rabbitmq" && user == "guest" => Some("guest"),
        None => None,
    };
    let mut userinfo = utf8_percent_encode(user, USERINFO).to_string();
    if let Some(p) = password {
        userinfo.push(':');
        userinfo.push_str(&utf8_percent_encode(p, USERINFO).to_string());
    }
    let vhost = env.text("MSG_SERVICE_VHOST")?.unwrap_or("/");
    let (url, agent_url) = if kind == "qpid" {
        // [messaging] url is the consumer agent's broker, `tcp://host:port` as Pulp documents
        // it (and as configure_pulp_server.sh wrote it); credentials only when given.
        let agent_auth = if password.is_some() {
            format!("{userinfo}@")
        } else {
            String::new()
        };
        (
            format!("qpid://{userinfo}@{host}:{port}/"),
            format!("tcp://{agent_auth}{host}:{port}"),
        )
    } else {
        // "/" stays literal: amqp://…:5672// is the usual spelling of the default vhost.
        let path = utf8_percent_encode(vhost, VHOST).to_string();
        let agent_path = if vhost == "/" {
            String::new()
        } else {
            format!("/{path}")
        };
        (
            format!("amqp://{userinfo}@{host}:{port}/{path}"),
            format!("tcp://{userinfo}@{host}:{port}{agent_path}"),
        )
    };
    let sources: Vec<&str> = [host_var]
        .into_iter()
        .chain(
            [
                "MSG_SERVICE_PORT",
                "MSG_SERVICE_USER",
                "MSG_SERVICE_PASSWORD",
                "MSG_SERVICE_TYPE",
                "MSG_SERVICE_VHOST",
            ]
            .into_iter()
            .filter(|v| env.is_set(v)),
        )
        .collect();
    let url_edit = |key: &str, url: &str| Edit {
        // The password inside is masked when shown; a password from a file hides it all.
        secret: env.is_from_file("MSG_SERVICE_PASSWORD") || env.is_from_file("MSG_SERVICE_USER"),
        ..edit(env, "", key, url, &sources)
    };
    let mut transport = edit(env, "messaging", "transport", kind, &["MSG_SERVICE_TYPE"]);
    // qpid is Pulp's default transport: only a file that says otherwise needs the change.
    transport.only_if_present = kind == "qpid";
    if !env.is_set("MSG_SERVICE_TYPE") {
        transport.source = format!("default of MSG_SERVICE_TYPE for {}", sources.join(", "));
    }
    Ok(vec![
        Edit {
            section: "messaging".into(),
            ..url_edit("url", &agent_url)
        },
        Edit {
            section: "tasks".into(),
            ..url_edit("broker_url", &url)
        },
        transport,
    ])
}
