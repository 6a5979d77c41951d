//! Starting a child process: the recipe (argv, account), the child's side of the fork
//! (dispositions, mask, session, privilege drop), exec, and spawn errors as a shell
//! reports them (126, 127). Used by the supervisor, exec mode and the migrate phase alike.

use crate::error::{Error, Result};
use crate::privileges::Account;
use crate::sys::{self, SigSet};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// What to start: the argv and the account it runs as.
#[derive(Debug, Clone)]
pub struct Service {
    pub argv: Vec<OsString>,
    pub account: Option<Account>,
}

impl Service {
    pub fn name(&self) -> String {
        self.argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The command, with the child's side of the fork prepared: default dispositions,
    /// the original mask, a new session when supervised, then the privilege drop.
    pub fn command(&self, original_mask: &SigSet, new_session: bool) -> Result<Command> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| Error::Internal("empty command".into()))?;
        let mut cmd = Command::new(program);
        cmd.args(args);
        let mask = *original_mask;
        let account = self.account.clone();
        if let Some(a) = &account {
            cmd.env("HOME", &a.home)
                .env("USER", &a.name)
                .env("LOGNAME", &a.name);
        }
        let mut scratch = vec![0u32; account.as_ref().map_or(0, |a| a.groups.len()) + 64];
        sys::before_exec(&mut cmd, move || {
            sys::prepare_child(&mask, new_session)?;
            if let Some(a) = &account {
                sys::drop_privileges(a.uid, a.gid, &a.groups, &mut scratch)?;
            }
            Ok(())
        });
        Ok(cmd)
    }

    /// An error from spawn or exec, as a shell would report it.
    pub fn start_error(&self, err: &std::io::Error) -> Error {
        let name = self.name();
        match (err.kind(), &self.account) {
            // EINVAL: a uid or gid the kernel does not accept.
            (_, Some(a)) if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {
                Error::Privilege(format!(
                    "cannot drop privileges to {} (uid {}, gid {}): {err}",
                    a.name, a.uid, a.gid
                ))
            }
            (std::io::ErrorKind::NotFound, _) => Error::Exec {
                code: 127,
                message: format!("{name}: command not found"),
            },
            _ => Error::Exec {
                code: 126,
                message: format!("{name}: cannot run: {err}"),
            },
        }
    }
}

/// Replaces pulp-init with the service (exec mode): the same child preparation as under
/// supervision, in this process. Returns only on failure.
pub fn exec(service: &Service, original_mask: &SigSet) -> Error {
    crate::startup::settle();
    let mut cmd = match service.command(original_mask, false) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let err = cmd.exec();
    // The mask was restored for the exec that failed; block again for a clean exit.
    let _ = sys::block(&SigSet::all_async());
    service.start_error(&err)
}
