//! Who may do what over gRPC.
//!
//! A caller is either [`Caller::Local`] — a plaintext connection, which
//! samgate takes only on a loopback address (or anywhere, when plaintext
//! was explicitly asked for) and which may do everything — or
//! [`Caller::Certified`], whose HSA-id is the serialNumber of its client
//! certificate's subject. The [`AccessTable`] maps each certificate HSA-id
//! to the units it may act for (an integration platform serves many) and
//! its [`Right`]s, as the national platform's virtual services do. A
//! certified caller the table does not name may use the translation
//! service and nothing that touches a case.
//!
//! One check per kind of request: [`Caller::may_receive`] (Pull, Ack,
//! Subscribe), [`Caller::may_submit`] (SubmitEvent, SubmitRaw),
//! [`Caller::may_read_case`] (GetCase, WatchCase) and
//! [`Caller::participant_filter`] (ListCases). They answer with the gRPC
//! status to return; the handlers call them before they touch the store.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use samgate_proto::ids::HsaId;
use samgate_proto::v1::Case;
use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

use super::status::echo;

/// What a caller may do besides reading the cases its units take part in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    /// Submit events authored by one of its units.
    Submit,
    /// Pull, acknowledge and subscribe to its units' deliveries.
    Receive,
    /// Read every case, not only those its units take part in.
    ReadCases,
    /// Operator actions. Nothing on the gRPC API asks for it yet; the
    /// operator's commands are `samgate delivery …` on the host.
    Operate,
    /// Send the journal feed (SubmitRaw with HL7 v2): a hospital journal
    /// system's integration engine, which sends for its facilities.
    Journal,
}

impl Right {
    pub const ALL: [Right; 5] = [
        Right::Submit,
        Right::Receive,
        Right::ReadCases,
        Right::Operate,
        Right::Journal,
    ];

    /// The name used in the access table.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Submit => "submit",
            Right::Receive => "receive",
            Right::ReadCases => "read-cases",
            Right::Operate => "operate",
            Right::Journal => "journal",
        }
    }

    pub fn parse(name: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the access table, as written in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessEntry {
    /// The serialNumber of the caller's certificate subject.
    pub hsa_id: String,
    /// The units it may act for.
    #[serde(default)]
    pub units: Vec<String>,
    /// `submit`, `receive`, `read-cases`, `operate`.
    #[serde(default)]
    pub rights: Vec<String>,
}

/// An access-table file: `[[access]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    #[serde(default)]
    access: Vec<AccessEntry>,
}

/// Why an access table was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessTableError {
    #[error("the access table {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{origin}, entry {hsa_id:?}: {reason}")]
    Entry {
        origin: String,
        hsa_id: String,
        reason: String,
    },
    #[error(
        "{origin}, entry {hsa_id:?}: a second entry for the same HSA-id (HSA-ids are compared without regard to case)"
    )]
    Duplicate { origin: String, hsa_id: String },
}

/// What one certificate HSA-id may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub hsa_id: String,
    pub units: Vec<String>,
    pub rights: Vec<Right>,
}

impl Grant {
    fn acts_for(&self, unit: &str) -> bool {
        self.units.iter().any(|u| u.eq_ignore_ascii_case(unit))
    }

    fn has(&self, right: Right) -> bool {
        self.rights.contains(&right)
    }
}

/// The checked access table, by HSA-id in capitals.
#[derive(Debug, Clone, Default)]
pub struct AccessTable {
    grants: HashMap<String, Arc<Grant>>,
}

fn entry_error(origin: &str, entry: &AccessEntry, reason: String) -> AccessTableError {
    AccessTableError::Entry {
        origin: origin.to_owned(),
        hsa_id: entry.hsa_id.clone(),
        reason,
    }
}

fn check_entry(origin: &str, entry: &AccessEntry) -> Result<Grant, AccessTableError> {
    HsaId::check(&entry.hsa_id).map_err(|e| entry_error(origin, entry, format!("hsa_id: {e}")))?;
    let mut units: Vec<String> = Vec::new();
    for unit in &entry.units {
        HsaId::check(unit).map_err(|e| entry_error(origin, entry, format!("units: {e}")))?;
        if !units.iter().any(|u| u.eq_ignore_ascii_case(unit)) {
            units.push(unit.clone());
        }
    }
    let mut rights = Vec::new();
    for name in &entry.rights {
        let right = Right::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Right::ALL.iter().map(|r| r.as_str()).collect();
            entry_error(
                origin,
                entry,
                format!("rights: {name:?} is not a right ({})", known.join(", ")),
            )
        })?;
        if !rights.contains(&right) {
            rights.push(right);
        }
    }
    Ok(Grant {
        hsa_id: entry.hsa_id.clone(),
        units,
        rights,
    })
}

impl AccessTable {
    /// Checks entries; `origin` names where each came from (a file, or
    /// `grpc.access`) for the error messages.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a AccessEntry)>,
    ) -> Result<Self, AccessTableError> {
        let mut grants = HashMap::new();
        for (origin, entry) in entries {
            let grant = check_entry(origin, entry)?;
            let key = grant.hsa_id.to_ascii_uppercase();
            if grants.insert(key, Arc::new(grant)).is_some() {
                return Err(AccessTableError::Duplicate {
                    origin: origin.to_owned(),
                    hsa_id: entry.hsa_id.clone(),
                });
            }
        }
        Ok(AccessTable { grants })
    }

    /// The `[[access]]` entries of a TOML file, unchecked.
    pub fn read_file(path: &Path) -> Result<Vec<AccessEntry>, AccessTableError> {
        let error = |reason: String| AccessTableError::File {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let file: AccessFile = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
        Ok(file.access)
    }

    /// How many HSA-ids the table names.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The caller whose certificate names `hsa_id`.
    pub fn certified(&self, hsa_id: &str) -> Caller {
        Caller::Certified {
            hsa_id: hsa_id.to_owned(),
            grant: self.grants.get(&hsa_id.to_ascii_uppercase()).cloned(),
        }
    }
}

/// Who sent a gRPC request: the connection's tonic `ConnectInfo`, so every
/// request carries it as an extension.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A plaintext connection: on loopback, or anywhere when plaintext was
    /// asked for off loopback. May do everything.
    Local { address: SocketAddr },
    /// A client certificate's HSA-id, and what the access table grants it
    /// (nothing, when the table does not name it).
    Certified {
        hsa_id: String,
        grant: Option<Arc<Grant>>,
    },
}

impl Caller {
    /// The caller of a request; a request that did not come through
    /// samgate's listener has none.
    pub fn of<T>(request: &Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
    }

    /// The caller as the access log names it: its HSA-id, or `local` and
    /// the address.
    pub fn name(&self) -> String {
        match self {
            Caller::Local { address } => format!("local {address}"),
            Caller::Certified { hsa_id, .. } => hsa_id.clone(),
        }
    }

    fn denied(&self, what: String) -> Status {
        Status::permission_denied(format!("{} may not {what}", self.name()))
    }

    fn grant(&self) -> Option<&Grant> {
        match self {
            Caller::Local { .. } => None,
            Caller::Certified { grant, .. } => grant.as_deref(),
        }
    }

    fn acts_for(&self, unit: &str) -> bool {
        match self {
            Caller::Local { .. } => true,
            Caller::Certified { .. } => self.grant().is_some_and(|g| g.acts_for(unit)),
        }
    }

    fn has(&self, right: Right) -> bool {
        match self {
            Caller::Local { .. } => true,
            Caller::Certified { .. } => self.grant().is_some_and(|g| g.has(right)),
        }
    }

    /// Pull, Ack and Subscribe: `receive`, for one of its units.
    pub fn may_receive(&self, recipient: &str) -> Result<(), Status> {
        if self.has(Right::Receive) && self.acts_for(recipient) {
            Ok(())
        } else {
            Err(self.denied(format!("receive deliveries for {}", echo(recipient))))
        }
    }

    /// SubmitEvent and SubmitRaw: `submit`, with an author it acts for.
    pub fn may_submit(&self, author: &str) -> Result<(), Status> {
        if matches!(self, Caller::Local { .. }) {
            return Ok(());
        }
        if author.is_empty() {
            return Err(Status::invalid_argument("author.hsaId: is required"));
        }
        if self.has(Right::Submit) && self.acts_for(author) {
            Ok(())
        } else {
            Err(self.denied(format!("submit as {}", echo(author))))
        }
    }

    /// SubmitRaw with HL7 v2: `journal` (the ADT message names no author
    /// to check; MSH-4 need not be one of the caller's units).
    pub fn may_send_journal(&self) -> Result<(), Status> {
        if matches!(self, Caller::Local { .. }) || self.has(Right::Journal) {
            Ok(())
        } else {
            Err(self.denied("send the journal feed".to_owned()))
        }
    }

    /// IndicatorService: `read-cases` (the exact figures are for
    /// authorised internal use).
    pub fn may_compute_indicators(&self) -> Result<(), Status> {
        if self.has(Right::ReadCases) {
            Ok(())
        } else {
            Err(self.denied("compute indicators".to_owned()))
        }
    }

    /// GetCase and WatchCase: a case one of its units takes part in, or any
    /// case with `read-cases`.
    pub fn may_read_case(&self, case: &Case) -> Result<(), Status> {
        if self.has(Right::ReadCases) || case.participants.iter().any(|p| self.acts_for(&p.hsa_id))
        {
            Ok(())
        } else {
            Err(self.denied(format!(
                "read case {}: none of its units takes part in it",
                case.id
            )))
        }
    }

    /// ListCases: the participant filter to list with. With `read-cases`
    /// the request's own (empty: every case); without, it must name one of
    /// the caller's units, and may be left empty by a caller with one unit.
    pub fn participant_filter(&self, requested: &str) -> Result<Option<String>, Status> {
        if self.has(Right::ReadCases) {
            return Ok(Some(requested.to_owned()).filter(|s| !s.is_empty()));
        }
        if !requested.is_empty() {
            return if self.acts_for(requested) {
                Ok(Some(requested.to_owned()))
            } else {
                Err(self.denied(format!("list the cases of {}", echo(requested))))
            };
        }
        match self.grant().map(|g| g.units.as_slice()) {
            Some([only]) => Ok(Some(only.clone())),
            _ => {
                Err(self
                    .denied("list every case: name one of its units as participant_hsa_id".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samgate_proto::v1::Actor;

    fn entry(hsa_id: &str, units: &[&str], rights: &[&str]) -> AccessEntry {
        AccessEntry {
            hsa_id: hsa_id.into(),
            units: units.iter().map(|s| s.to_string()).collect(),
            rights: rights.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn table(entries: &[AccessEntry]) -> Result<AccessTable, AccessTableError> {
        AccessTable::new(entries.iter().map(|e| ("test", e)))
    }

    const PLATFORM: &str = "SE2321000016-PLAT";
    const WARD: &str = "SE2321000164-7381";
    const HOME_CARE: &str = "SE2120000449-KHSL";

    #[test]
    fn entries_are_checked_and_errors_name_the_entry() {
        let bad_id = table(&[entry("nope", &[], &[])]).unwrap_err().to_string();
        assert!(
            bad_id.contains("\"nope\"") && bad_id.contains("hsa_id"),
            "{bad_id}"
        );
        let bad_unit = table(&[entry(PLATFORM, &[""], &[])])
            .unwrap_err()
            .to_string();
        assert!(
            bad_unit.contains(PLATFORM) && bad_unit.contains("units"),
            "{bad_unit}"
        );
        let bad_right = table(&[entry(PLATFORM, &[WARD], &["read"])])
            .unwrap_err()
            .to_string();
        assert!(
            bad_right.contains("\"read\" is not a right") && bad_right.contains("read-cases"),
            "{bad_right}"
        );
        let twice = table(&[
            entry(PLATFORM, &[WARD], &["submit"]),
            entry(&PLATFORM.to_lowercase().replace("se", "SE"), &[], &[]),
        ])
        .unwrap_err();
        assert!(
            matches!(twice, AccessTableError::Duplicate { .. }),
            "{twice}"
        );
    }

    #[test]
    fn a_caller_acts_only_for_its_units_and_within_its_rights() {
        let t = table(&[entry(PLATFORM, &[WARD], &["submit", "receive"])]).unwrap();
        let caller = t.certified(&PLATFORM.to_lowercase().replace("se", "SE"));
        assert!(caller.may_submit(WARD).is_ok());
        assert!(
            caller
                .may_submit(&WARD.to_lowercase().replace("se", "SE"))
                .is_ok()
        );
        assert!(caller.may_receive(WARD).is_ok());
        for status in [caller.may_submit(HOME_CARE), caller.may_receive(HOME_CARE)] {
            assert_eq!(status.unwrap_err().code(), tonic::Code::PermissionDenied);
        }
        let mut case = Case {
            id: "c".into(),
            ..Default::default()
        };
        assert!(caller.may_read_case(&case).is_err());
        case.participants.push(Actor {
            hsa_id: WARD.into(),
            ..Default::default()
        });
        assert!(caller.may_read_case(&case).is_ok());
        assert_eq!(
            caller.participant_filter("").unwrap().as_deref(),
            Some(WARD)
        );
        assert!(caller.participant_filter(HOME_CARE).is_err());

        let stranger = t.certified("SE2321000016-NONE");
        assert!(stranger.may_submit(WARD).is_err());
        assert!(stranger.may_read_case(&case).is_err());
        assert!(stranger.participant_filter("").is_err());
    }

    #[test]
    fn the_example_access_table_in_deploy_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grpc-access.toml");
        let entries = AccessTable::read_file(&path).unwrap();
        let t = AccessTable::new(entries.iter().map(|e| ("deploy", e))).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn read_cases_reads_every_case_and_local_callers_do_everything() {
        let t = table(&[entry(PLATFORM, &[WARD, HOME_CARE], &["read-cases"])]).unwrap();
        let reader = t.certified(PLATFORM);
        assert!(reader.may_read_case(&Case::default()).is_ok());
        assert_eq!(reader.participant_filter("").unwrap(), None);
        assert!(reader.may_submit(WARD).is_err());
        let local = Caller::Local {
            address: "127.0.0.1:1".parse().unwrap(),
        };
        assert!(local.may_submit(HOME_CARE).is_ok());
        assert!(local.may_receive(HOME_CARE).is_ok());
        assert!(local.may_read_case(&Case::default()).is_ok());
        // Two units and no read-cases: the unit must be named.
        let two = table(&[entry(PLATFORM, &[WARD, HOME_CARE], &[])]).unwrap();
        assert!(two.certified(PLATFORM).participant_filter("").is_err());
    }
}
