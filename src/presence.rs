//! Presence: a record per pod in the Pulp database (collection `pulp_init`, `_id:
//! pod:<host name>`, its role and its image's fingerprint), so that a beat of a later image
//! waits for every pod of the previous deployment before it migrates, httpd too, which has
//! no record in Pulp's `workers`. PID 1 holds no database client: it starts a keeper,
//! `pulp-init presence`, beside the service; the keeper refreshes the record every
//! `worker_timeout / 5` (as Pulp's processes beat) and removes it when PID 1 stops it
//! after the service has ended. A record not refreshed for `worker_timeout` (a killed pod)
//! is not counted.

use crate::child::Service;
use crate::conf::Values;
use crate::db::MongoTarget;
use crate::error::Result;
use crate::migrate::{self, Presence, Store};
use crate::privileges::{self, Account};
use crate::sys::{self, SigSet};
use crate::time::human;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// A withdrawal gets this long after the stop signal; PID 1 waits a little longer.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(1);
/// How long PID 1 waits for the keeper to withdraw, after the service has ended.
pub const STOP_WAIT: Duration = Duration::from_secs(2);

/// This UTS namespace's host name (a container's: its id, a pod's: its name).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// The keeper's command: this binary's `presence`, as the service's user (for httpd,
/// which starts as root, as apache when there is one). Not a shell line: argv.
pub fn keeper(conf: &Path, role: &str, fingerprint: &str, service: &Service) -> Result<Service> {
    let exe = std::env::current_exe().map_err(|e| {
        crate::error::Error::Internal(format!("presence: cannot find this binary: {e}"))
    })?;
    let account: Option<Account> = service.account.clone().filter(|a| a.uid != 0).or_else(|| {
        (sys::geteuid() == 0)
            .then(|| privileges::lookup("apache"))
            .flatten()
    });
    let argv: Vec<OsString> = vec![
        exe.into(),
        "presence".into(),
        "--conf".into(),
        conf.into(),
        "--pod-role".into(),
        role.into(),
        "--fingerprint".into(),
        fingerprint.into(),
    ];
    Ok(Service { argv, account })
}

/// The keeper's loop (`pulp-init presence`): until SIGTERM (or its parent ends).
pub fn keep(values: &Values, role: &str, fingerprint: &str) -> Result<()> {
    let target = MongoTarget::from_conf(values)?;
    let timeout = values.worker_timeout()?;
    // Pulp's processes beat every int(worker_timeout / 5) s.
    let every = Duration::from_secs((timeout.as_secs() / 5).max(1));
    if let Err(e) = sys::die_with_parent() {
        log::debug!("presence: cannot ask to end with pulp-init: {e}");
    }
    let host = host_name();
    let me = Presence {
        id: migrate::pod_id(&host),
        role: role.to_string(),
        host,
        fingerprint: fingerprint.to_string(),
        keeper: migrate::holder_id(),
    };
    migrate::with_store(&target, async |store| {
        let stop = tokio::task::spawn_blocking(wait_for_stop);
        tokio::pin!(stop);
        log::info!(
            "presence: announcing this pod ({role}, image {fingerprint}) every {} until the service ends",
            human(every)
        );
        let mut failing = false;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                r = announce(store, &me, every) => match r {
                    Ok(()) if failing => {
                        log::info!("presence: announced again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        log::warn!("presence: cannot announce this pod, trying again every {}: {e}", human(every));
                        failing = true;
                    }
                    Err(_) => {}
                },
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        match tokio::time::timeout(WITHDRAW_TIMEOUT, store.withdraw(&me)).await {
            Ok(Ok(_)) => log::debug!("presence: withdrawn"),
            Ok(Err(e)) => log::warn!(
                "presence: not withdrawn ({e}); it ages out after {}",
                human(timeout)
            ),
            Err(_) => log::warn!(
                "presence: not withdrawn within {}; it ages out after {}",
                human(WITHDRAW_TIMEOUT),
                human(timeout)
            ),
        }
        Ok(())
    })
}

/// One refresh, given at most one interval.
async fn announce(store: &Store, me: &Presence, within: Duration) -> Result<()> {
    match tokio::time::timeout(within, store.announce(me)).await {
        Ok(r) => r,
        Err(_) => Err(crate::error::Error::Internal(format!(
            "no answer within {}",
            human(within)
        ))),
    }
}

/// Blocks until a stop signal (all signals are blocked in every thread of pulp-init).
fn wait_for_stop() {
    let stop = SigSet::of(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT]);
    while sys::wait_signal(&stop, Duration::from_secs(3600)).is_none() {}
}
