//! The access log of the patient-data law: every read of a person's plans,
//! by whom, of which patient, what, when, and with what result.
//!
//! This is the one place samgate writes a personal identity number: the
//! law requires the access log to name the patient. It is a file of its
//! own (one JSON object per line, appended, never rewritten, readable by
//! samgate's user only), not the application log, which never carries one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// One read of patient data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    /// RFC 3339 UTC.
    pub at: String,
    /// The consumer's HSA-id, from its client certificate; empty when the
    /// certificate names none (or more than one).
    pub consumer_hsa_id: String,
    /// Empty when the request was refused or unreadable before it named a
    /// patient, or named a case that does not exist.
    pub patient_id: String,
    /// What was read (`fhir-search`, `get-care-plans`, `printable-plan`, …).
    pub what: String,
    /// `ok`, `not-found`, `withheld`, `refused` (the consumer may not read
    /// at all), `invalid` (the request could not be read) or `error`.
    pub result: String,
    /// Why, when the result is not `ok` (`protected-identity`, …).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// How many plans were returned.
    pub documents: usize,
}

/// The append-only access log file.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating) the log for appending, readable by the owner only.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        Ok(AuditLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and syncs it to disk before returning: a read
    /// is answered only once its record is kept.
    pub fn record(&self, record: &impl Serialize) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut file = self.file.lock().expect("audit log lock");
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }
}

/// Whether a consumer may read plans at all: its HSA-id must be on the
/// configured allow-list. The empty HSA-id never is, whatever the list
/// holds (the settings refuse an empty entry at start, too).
pub fn allowed(consumer_hsa_id: &str, allow_list: &[String]) -> bool {
    !consumer_hsa_id.is_empty() && allow_list.iter().any(|a| a == consumer_hsa_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(result: &str) -> AccessRecord {
        AccessRecord {
            at: "2026-11-25T12:00:00Z".into(),
            consumer_hsa_id: "SE2321000016-1177".into(),
            patient_id: "194102069046".into(),
            what: "fhir-search".into(),
            result: result.into(),
            reason: String::new(),
            documents: 1,
        }
    }

    #[test]
    fn records_are_appended_one_json_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        AuditLog::open(&path)
            .unwrap()
            .record(&record("ok"))
            .unwrap();
        // Reopening appends; nothing is rewritten.
        let log = AuditLog::open(&path).unwrap();
        let mut withheld = record("withheld");
        withheld.reason = "protected-identity".into();
        withheld.documents = 0;
        log.record(&withheld).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["result"], "ok");
        assert!(lines[0].get("reason").is_none());
        assert_eq!(lines[1]["reason"], "protected-identity");
        assert_eq!(lines[1]["consumerHsaId"], "SE2321000016-1177");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn only_listed_consumers_are_allowed() {
        let list = vec!["SE2321000016-1177".to_owned()];
        assert!(allowed("SE2321000016-1177", &list));
        assert!(!allowed("SE2321000016-9999", &list));
        assert!(!allowed("SE2321000016-1177", &[]));
        assert!(!allowed("", &["".to_owned()]));
    }
}
