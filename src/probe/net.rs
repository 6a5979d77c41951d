//! Name resolution and TCP reachability, before a driver gets involved: quick, precise
//! answers for the common "not up yet" cases (DNS, refused, no route).

use super::Seen;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// Resolves `host` (brackets allowed around IPv6) to its addresses.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Seen> {
    let bare = crate::addr::unbracket(host);
    match tokio::net::lookup_host((bare, port)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            if addrs.is_empty() {
                Err(Seen::Dns(format!("{host}: no address")))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(Seen::Dns(format!("{host}: {e}"))),
    }
}

/// Connects to the first address of `host:port` that accepts.
pub async fn connect(host: &str, port: u16) -> Result<TcpStream, Seen> {
    let mut last = Seen::Refused(format!("{host}:{port}"));
    for addr in resolve(host, port).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Seen::Refused(format!("{addr}")),
                    std::io::ErrorKind::TimedOut => Seen::TimedOut(format!("connecting to {addr}")),
                    _ => Seen::Other(format!("connecting to {addr}: {e}")),
                }
            }
        }
    }
    Err(last)
}
