//! What pulp-init keeps in the Pulp database, and what it reads of Pulp's own: the lease
//! lock and the completion records (collection `pulp_init`), Pulp's `workers` collection,
//! and the database server's clock, which every expiry and heartbeat age is measured by.

use crate::error::{Error, Result};
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use std::time::Duration;

const COLLECTION: &str = "pulp_init";
pub const MIGRATION_LOCK_ID: &str = "migration_lock";
/// The lock under which one pod generates a deployment's keys.
pub const KEYS_LOCK_ID: &str = "keys_lock";
/// The fingerprints of the deployment's key set.
const KEYS_ID: &str = "keys";
const DUPLICATE_KEY: i32 = 11000;
/// Hidden, for tests only: pretend the client's clock is this many seconds off. Nothing
/// that decides about the lock may read the client's clock.
const CLOCK_OFFSET_VAR: &str = "PULP_INIT_TEST_CLOCK_OFFSET";

pub struct Store {
    db: Database,
    lock_id: &'static str,
    coll: Collection<Document>,
    /// Malformed completion records already warned about (the gate looks every 100 ms).
    warned: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// A completion record: which fingerprint, when, by whom.
#[derive(Debug, Clone)]
pub struct Record {
    pub fingerprint: String,
    pub completed_at: DateTime,
    pub holder: String,
    /// The command ran (a record written before `how` existed counts); false when a
    /// `--dry-run` found nothing to migrate.
    pub migrated: bool,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {} at {}",
            self.fingerprint,
            self.holder,
            crate::time::rfc3339(self.completed_at)
        )
    }
}

/// A Pulp process whose heartbeat is recent (its name and the heartbeat's age), or a pod
/// whose presence record is (`image`: the fingerprint of its image).
#[derive(Debug, Clone, PartialEq)]
pub struct Online {
    pub name: String,
    pub age: Duration,
    pub image: Option<String>,
    /// A pod's host name (None for a Pulp process's record).
    pub host: Option<String>,
}

impl std::fmt::Display for Online {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.image {
            Some(image) => write!(
                f,
                "{} (image {image}, seen {} ago)",
                self.name,
                crate::time::human(self.age)
            ),
            None => write!(
                f,
                "{} (heartbeat {} ago)",
                self.name,
                crate::time::human(self.age)
            ),
        }
    }
}

/// What one pod announces: its role and the fingerprint of its image.
#[derive(Debug, Clone)]
pub struct Presence {
    /// `pod:<host name>`.
    pub id: String,
    pub role: String,
    pub host: String,
    pub fingerprint: String,
    /// This keeper's own name: a record another keeper (a restarted container with the
    /// same host name) made is not removed.
    pub keeper: String,
}

/// What Pulp's `workers` collection says: the processes online, newest heartbeat first,
/// and those whose heartbeat lies further in the future than `worker_timeout`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heartbeats {
    pub online: Vec<Online>,
    /// Name and how far ahead of the server's clock. Not online: no clock is that far
    /// off between a worker and its database in a working deployment, and counting it
    /// would block beat until that time (Pulp's own check, `last_heartbeat > now -
    /// timeout`, would count it, and pulp-manage-db would exit 70).
    pub ahead: Vec<(String, Duration)>,
}

fn record_id(fingerprint: &str) -> String {
    format!("migrated:{fingerprint}")
}

/// The client's wall clock (only for what no decision depends on).
pub fn client_now() -> DateTime {
    let offset = std::env::var(CLOCK_OFFSET_VAR)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    DateTime::from_millis(DateTime::now().timestamp_millis() + offset * 1000)
}

fn plus(t: DateTime, d: Duration) -> DateTime {
    DateTime::from_millis(
        t.timestamp_millis()
            .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

/// Presence records: `pod:<host>`.
const POD_PREFIX: &str = "pod:";

pub fn pod_id(host: &str) -> String {
    format!("{POD_PREFIX}{host}")
}

fn record_of(d: &Document) -> Option<Record> {
    Some(Record {
        fingerprint: d.get_str("fingerprint").ok()?.to_string(),
        completed_at: *d.get_datetime("completed_at").ok()?,
        holder: d.get_str("holder").unwrap_or("?").to_string(),
        migrated: d.get_str("how") != Ok("dry-run"),
    })
}

/// A document's `_id` for a log line, whatever its type.
fn id_of(d: &Document) -> String {
    match d.get("_id") {
        Some(mongodb::bson::Bson::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
        None => "without _id".into(),
    }
}

impl Store {
    pub fn new(db: Database) -> Store {
        Store {
            coll: db.collection(COLLECTION),
            warned: Default::default(),
            lock_id: MIGRATION_LOCK_ID,
            db,
        }
    }

    /// The same store, its lock another one (`KEYS_LOCK_ID`).
    pub fn with_lock(mut self, lock_id: &'static str) -> Store {
        self.lock_id = lock_id;
        self
    }

    /// The deployment's key fingerprints: `mine` where none are recorded yet (each field
    /// set once, by the first pod that has it), then what is recorded.
    pub async fn key_fingerprints(
        &self,
        mine: &[(&str, String)],
        holder: &str,
    ) -> Result<Document> {
        let now = self.server_now().await?;
        let read = |e| Error::database("reading the key fingerprints", e);
        for (field, value) in mine {
            // Only where the field is missing: the first pod with it decides.
            let r = self
                .coll
                .update_one(
                    doc! { "_id": KEYS_ID, *field: { "$exists": false } },
                    doc! { "$set": { *field: value.as_str(), format!("{field}_by"): holder, format!("{field}_at"): now } },
                )
                .upsert(true)
                .await;
            match r {
                Ok(_) => {}
                // The document exists and has the field (the upsert collided on _id).
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(read(e)),
            }
        }
        Ok(self
            .coll
            .find_one(doc! { "_id": KEYS_ID })
            .await
            .map_err(read)?
            .unwrap_or_default())
    }

    /// The database server's clock (`hello`'s `localTime`).
    pub async fn server_now(&self) -> Result<DateTime> {
        let hello = self
            .db
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(|e| Error::database("reading the server's clock", e))?;
        hello
            .get_datetime("localTime")
            .copied()
            .map_err(|_| Error::Internal("the database's hello has no localTime".into()))
    }

    /// A completion record, or None when the document is malformed (a string fingerprint
    /// and a date `completed_at` are required), said once per record.
    fn readable_record(&self, d: &Document) -> Option<Record> {
        let r = record_of(d);
        if r.is_none() {
            let id = id_of(d);
            let first = self
                .warned
                .lock()
                .map(|mut w| w.insert(id.clone()))
                .unwrap_or(true);
            if first {
                log::warn!(
                    "migrations: completion record {id} is malformed (it needs a string fingerprint and a date completed_at): ignored"
                );
            }
        }
        r
    }

    pub async fn record(&self, fingerprint: &str) -> Result<Option<Record>> {
        let d = self
            .coll
            .find_one(doc! { "_id": record_id(fingerprint) })
            .await
            .map_err(|e| Error::database("reading the completion record", e))?;
        Ok(d.as_ref().and_then(|d| self.readable_record(d)))
    }

    /// The most recent readable completion record, whatever its fingerprint. Malformed
    /// ones are passed over (with a warning), so they cannot hide an older good one.
    pub async fn latest_record(&self) -> Result<Option<Record>> {
        let read = |e| Error::database("reading the completion records", e);
        let mut cursor = self
            .coll
            .find(doc! { "_id": { "$regex": "^migrated:" } })
            .sort(doc! { "completed_at": -1 })
            .await
            .map_err(read)?;
        while cursor.advance().await.map_err(read)? {
            let d = cursor.deserialize_current().map_err(read)?;
            if let Some(r) = self.readable_record(&d) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// A `--dry-run` found nothing to migrate: a record when there is none; on an
    /// existing one (a migrating run's) only the confirmation's own fields are set.
    pub async fn confirm_record(&self, fingerprint: &str, holder: &str) -> Result<()> {
        let now = self.server_now().await?;
        self.coll
            .update_one(
                doc! { "_id": record_id(fingerprint) },
                doc! {
                    "$setOnInsert": {
                        "fingerprint": fingerprint,
                        "completed_at": now,
                        "holder": holder,
                        "seconds": 0.0,
                        "how": "dry-run",
                    },
                    "$set": { "confirmed_at": now, "confirmed_by": holder },
                },
            )
            .upsert(true)
            .await
            .map_err(|e| Error::database("writing the completion record", e))?;
        Ok(())
    }

    /// A run that migrated: its record.
    pub async fn write_record(&self, fingerprint: &str, holder: &str, seconds: f64) -> Result<()> {
        let now = self.server_now().await?;
        self.coll
            .update_one(
                doc! { "_id": record_id(fingerprint) },
                doc! { "$set": {
                    "fingerprint": fingerprint,
                    "completed_at": now,
                    "holder": holder,
                    "seconds": seconds,
                    "how": "migrated",
                } },
            )
            .upsert(true)
            .await
            .map_err(|e| Error::database("writing the completion record", e))?;
        Ok(())
    }

    /// Takes the lock if it is free, expired (by the server's clock), or already ours.
    /// Ok(None) when taken; otherwise the current holder's document.
    /// A lock whose `expires` is missing or not a date (written by hand, or by something
    /// else) counts as expired: no lease can be read from it, and waiting would block beat
    /// for the whole --migrate-timeout.
    pub async fn try_lock(&self, me: &str, lease: Duration) -> Result<Option<Document>> {
        let now = self.server_now().await?;
        let taken = self
            .coll
            .find_one_and_update(
                doc! { "_id": self.lock_id, "$or": [
                    { "expires": { "$lt": now } },
                    { "expires": { "$not": { "$type": "date" } } },
                    { "holder": me },
                ] },
                doc! { "$set": { "holder": me, "expires": plus(now, lease), "acquired": now } },
            )
            .upsert(true)
            .return_document(ReturnDocument::Before)
            .await;
        match taken {
            Ok(before) => {
                if let Some(old) = before.filter(|d| d.get_str("holder") != Ok(me)) {
                    if old.get_datetime("expires").is_err() {
                        log::warn!(
                            "migrations: the lock held by {} had {}: taken as expired",
                            holder(&old),
                            expires(&old)
                        );
                    }
                }
                Ok(None)
            }
            Err(e) if is_duplicate_key(&e) => {
                let current = self
                    .coll
                    .find_one(doc! { "_id": self.lock_id })
                    .await
                    .map_err(|e| Error::database("reading the lock", e))?;
                // Released between the two calls: try again at once.
                Ok(Some(current.unwrap_or_default()))
            }
            Err(e) => Err(Error::database("taking the lock", e)),
        }
    }

    /// Extends our lease from the server's now. Ok(false): the lock is no longer ours.
    pub async fn renew(&self, me: &str, lease: Duration) -> Result<bool> {
        let now = self.server_now().await?;
        let r = self
            .coll
            .update_one(
                doc! { "_id": self.lock_id, "holder": me },
                doc! { "$set": { "expires": plus(now, lease) } },
            )
            .await
            .map_err(|e| Error::database("renewing the lease", e))?;
        Ok(r.matched_count == 1)
    }

    pub async fn release(&self, me: &str) {
        match self
            .coll
            .delete_one(doc! { "_id": self.lock_id, "holder": me })
            .await
        {
            Ok(r) if r.deleted_count == 1 => log::debug!("migrations: lock released"),
            Ok(_) => log::warn!("migrations: the lock was no longer ours to release"),
            Err(e) => {
                log::warn!("migrations: could not release the lock (its lease will expire): {e}")
            }
        }
    }

    /// A record of another image that migrated the database after `mine` was completed
    /// (the newest such): Pulp 2's migrations only go forward, so `mine`'s code may not
    /// know that schema.
    pub async fn newer_migration(&self, mine: &Record) -> Result<Option<Record>> {
        let read = |e| Error::database("reading the completion records", e);
        let mut cursor = self
            .coll
            .find(doc! {
                "_id": { "$regex": "^migrated:" },
                "fingerprint": { "$ne": mine.fingerprint.as_str() },
                "completed_at": { "$gt": mine.completed_at },
            })
            .sort(doc! { "completed_at": -1 })
            .await
            .map_err(read)?;
        while cursor.advance().await.map_err(read)? {
            let d = cursor.deserialize_current().map_err(read)?;
            if let Some(r) = self.readable_record(&d).filter(|r| r.migrated) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// The migration lock's holder while its lease runs (by the server's clock).
    pub async fn migration_running(&self) -> Result<Option<Document>> {
        let now = self.server_now().await?;
        self.coll
            .find_one(doc! { "_id": MIGRATION_LOCK_ID, "expires": { "$gt": now } })
            .await
            .map_err(|e| Error::database("reading the lock", e))
    }

    /// Writes (or refreshes) this pod's presence record, `last_seen` by the server's clock.
    pub async fn announce(&self, p: &Presence) -> Result<()> {
        self.coll
            .update_one(
                doc! { "_id": &p.id },
                doc! {
                    "$set": {
                        "role": &p.role,
                        "host": &p.host,
                        "fingerprint": &p.fingerprint,
                        "keeper": &p.keeper,
                    },
                    "$currentDate": { "last_seen": true },
                },
            )
            .upsert(true)
            .await
            .map_err(|e| Error::database("announcing this pod", e))?;
        Ok(())
    }

    /// Removes this pod's presence record, if this keeper wrote it.
    pub async fn withdraw(&self, p: &Presence) -> Result<bool> {
        let r = self
            .coll
            .delete_one(doc! { "_id": &p.id, "keeper": &p.keeper })
            .await
            .map_err(|e| Error::database("withdrawing this pod", e))?;
        Ok(r.deleted_count == 1)
    }

    /// The age of one Pulp process's heartbeat by the server's clock (negative: ahead of
    /// it), or None when `workers` has no record of that name with a date `last_heartbeat`.
    pub async fn heartbeat_age(&self, name: &str) -> Result<Option<i64>> {
        let now = self.server_now().await?;
        let record = self
            .db
            .collection::<Document>("workers")
            .find_one(doc! { "_id": name })
            .await
            .map_err(|e| Error::database("reading Pulp's workers", e))?;
        Ok(record.and_then(|d| {
            d.get_datetime("last_heartbeat").ok().map(|beat| {
                now.timestamp_millis()
                    .saturating_sub(beat.timestamp_millis())
            })
        }))
    }

    /// Pulp processes (workers, resource_manager, scheduler) whose heartbeat in Pulp's
    /// `workers` collection is younger than `timeout` by the server's clock, newest first.
    /// A heartbeat ahead of the server's clock by less than `timeout` counts as just now.
    /// Pods of the image `own` (beat's) are this deployment's, not the previous one's: one
    /// that runs already skipped the gate (`--skip-migrate-wait`), and is not counted.
    pub async fn online(&self, timeout: Duration, own: &str) -> Result<Heartbeats> {
        let now = self.server_now().await?;
        let since = DateTime::from_millis(
            now.timestamp_millis() - i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
        );
        let mut cursor = self
            .db
            .collection::<Document>("workers")
            .find(doc! { "last_heartbeat": { "$gt": since } })
            .await
            .map_err(|e| Error::database("reading Pulp's workers", e))?;
        let mut out = Heartbeats::default();
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        while cursor
            .advance()
            .await
            .map_err(|e| Error::database("reading Pulp's workers", e))?
        {
            let d = cursor
                .deserialize_current()
                .map_err(|e| Error::database("reading Pulp's workers", e))?;
            let (Ok(name), Ok(beat)) = (d.get_str("_id"), d.get_datetime("last_heartbeat")) else {
                continue;
            };
            let age = now
                .timestamp_millis()
                .saturating_sub(beat.timestamp_millis());
            if age < timeout_ms.saturating_neg() {
                let ahead = age.unsigned_abs();
                out.ahead
                    .push((name.to_string(), Duration::from_millis(ahead)));
                continue;
            }
            out.online.push(Online {
                name: name.to_string(),
                age: Duration::from_millis(u64::try_from(age).unwrap_or(0)),
                image: None,
                host: None,
            });
        }
        self.pods(now, since, own, &mut out).await?;
        out.online.sort_by_key(|o| o.age);
        out.ahead.sort();
        Ok(out)
    }

    /// Pods whose presence record was refreshed after `since`: every role, httpd too,
    /// which has no record in Pulp's `workers`.
    async fn pods(
        &self,
        now: DateTime,
        since: DateTime,
        own: &str,
        out: &mut Heartbeats,
    ) -> Result<()> {
        let read = |e| Error::database("reading the pods' presence", e);
        let mut cursor = self
            .coll
            .find(doc! {
                "_id": { "$regex": format!("^{POD_PREFIX}") },
                "last_seen": { "$gt": since },
                "fingerprint": { "$ne": own },
            })
            .await
            .map_err(read)?;
        while cursor.advance().await.map_err(read)? {
            let d = cursor.deserialize_current().map_err(read)?;
            let Ok(seen) = d.get_datetime("last_seen") else {
                continue;
            };
            let age = now
                .timestamp_millis()
                .saturating_sub(seen.timestamp_millis());
            let host = d.get_str("host").unwrap_or("?");
            out.online.push(Online {
                name: format!("{} on {host}", d.get_str("role").unwrap_or("a pod")),
                host: Some(host.to_string()),
                age: Duration::from_millis(u64::try_from(age).unwrap_or(0)),
                image: Some(d.get_str("fingerprint").unwrap_or("?").to_string()),
            });
        }
        Ok(())
    }
}

/// The lock holder's name in a lock document.
pub fn holder(d: &Document) -> &str {
    d.get_str("holder").unwrap_or("?")
}

/// When a lock document's lease ends (`lease until …`), or what is wrong with it.
pub fn expires(d: &Document) -> String {
    match d.get("expires") {
        Some(mongodb::bson::Bson::DateTime(t)) => crate::time::rfc3339(*t),
        Some(other) => format!(
            "an unreadable expiry (expires is {:?}, not a date)",
            other.element_type()
        ),
        None => "no expiry (no expires field)".into(),
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        _ => e.to_string().contains("E11000") || e.to_string().contains("duplicate key"),
    }
}
