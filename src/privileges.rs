//! Who the service runs as: the account from /etc/passwd and /etc/group (no NSS: the
//! binary is static), and the decision to drop to it.

use crate::error::{Error, Result};
use crate::sys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary one included, sorted, no duplicates.
    pub groups: Vec<u32>,
    pub home: String,
}

/// `NAME` or a numeric uid, looked up in the given passwd and group texts.
pub fn lookup_in(spec: &str, passwd: &str, group: &str) -> Option<Account> {
    let numeric = spec.parse::<u32>().ok();
    let entry = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let uid = f[2].parse::<u32>().ok()?;
        let gid = f[3].parse::<u32>().ok()?;
        (f[0] == spec || numeric == Some(uid))
            .then(|| (f[0].to_string(), uid, gid, f[5].to_string()))
    });
    let (name, uid, gid, home) = match (entry, numeric) {
        (Some(e), _) => e,
        // A bare uid without an entry (as OpenShift assigns): its own gid, no groups.
        (None, Some(uid)) => (uid.to_string(), uid, uid, "/".to_string()),
        (None, None) => return None,
    };
    let mut groups = vec![gid];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        if f[3].split(',').any(|m| m == name) {
            if let Ok(g) = f[2].parse::<u32>() {
                groups.push(g);
            }
        }
    }
    groups.sort_unstable();
    groups.dedup();
    Some(Account {
        name,
        uid,
        gid,
        groups,
        home,
    })
}

pub fn lookup(spec: &str) -> Option<Account> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    lookup_in(spec, &passwd, &group)
}

/// The account to drop to, or None to run as we are. Root must find the user (exit 77);
/// anyone else cannot switch and runs as it is, with one warning (OpenShift runs images
/// under an arbitrary uid).
pub fn decide(user: Option<&str>) -> Result<Option<Account>> {
    let decision = decide_quietly(user)?;
    if let Some(warning) = decision.1 {
        log::warn!("{warning}");
    }
    Ok(decision.0)
}

/// `decide` without logging: the account, and the warning to give.
pub fn decide_quietly(user: Option<&str>) -> Result<(Option<Account>, Option<String>)> {
    let Some(user) = user else {
        return Ok((None, None));
    };
    let euid = sys::geteuid();
    if euid != 0 {
        let same = lookup(user).is_some_and(|a| a.uid == euid);
        let warning = (!same)
            .then(|| format!("not root (uid {euid}): running as uid {euid}, not as user {user:?}"));
        return Ok((None, warning));
    }
    let account = lookup(user).ok_or_else(|| {
        Error::Privilege(format!(
            "user {user:?} is not in /etc/passwd; create it in the image or choose another with --user"
        ))
    })?;
    // (uid_t)-1 means "leave unchanged" to setresuid: no process can run as it.
    if account.uid == u32::MAX || account.gid == u32::MAX {
        return Err(Error::Privilege(format!(
            "cannot drop privileges to {user:?}: uid {} / gid {} is not a valid id; choose another with --user",
            account.uid, account.gid
        )));
    }
    if account.uid == 0 && account.gid == sys::getegid() {
        return Ok((None, None));
    }
    Ok((Some(account), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\napache:x:48:48:Apache:/usr/share/httpd:/sbin/nologin\nbroken\n";
    const GROUP: &str =
        "root:x:0:\napache:x:48:\npulp:x:1000:apache,other\nwheel:x:10:root,apache\n";

    #[test]
    fn user_and_its_groups() {
        let a = lookup_in("apache", PASSWD, GROUP).unwrap();
        assert_eq!((a.uid, a.gid), (48, 48));
        assert_eq!(a.groups, vec![10, 48, 1000]);
        assert_eq!(a.home, "/usr/share/httpd");
        assert_eq!(lookup_in("48", PASSWD, GROUP).unwrap().name, "apache");
    }

    #[test]
    fn bare_uid_and_unknown_names() {
        let a = lookup_in("1000123", PASSWD, GROUP).unwrap();
        assert_eq!(
            (a.uid, a.gid, a.groups.clone()),
            (1000123, 1000123, vec![1000123])
        );
        assert!(lookup_in("nobody-here", PASSWD, GROUP).is_none());
    }
}
