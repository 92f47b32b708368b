//! Folding a batch of events in memory, between the store's reads and its
//! writes: the set-based heart of `Store::submit_batch`.
//!
//! A batch used to cost seven statements per event; each statement is a
//! hand-over to the database (a thread hop for SQLite, a round trip for
//! PostgreSQL), and that, not the fold, bounded the gateway. Now the store's
//! transaction reads what the whole batch needs in a few statements
//! ([`Needs`] → [`Known`]), [`Batch`] folds every event against that and
//! against the events before it in the same batch, and the results are
//! written back with one multi-row statement per table ([`Writes`]).
//!
//! The rules are those of one event at a time, in batch order: a message
//! seen before (in the store or earlier in the batch) is a duplicate; the
//! case is found by this system's ref, else by the same ref for the same
//! person from another system (the earliest such case); only the outpatient
//! rules ask about the person's other open cases. A refused event changes
//! nothing.

use std::collections::{BTreeSet, HashMap, HashSet};

use prost::Message;
use samgate_proto::CaseEvent;
use samgate_proto::v1::{CareProcess, Case, CaseStatus};
use samgate_proto::validate::Checked;
use samgate_proto::validate::payload_name;

use super::{DeliveryKind, DeliveryStatus, Folder, StoreError, Submitted, delivery_message_id};
use crate::channel::System;
use crate::engine::{Facts, RuleViolation};

/// The idempotency key of an event: (sourceSystem, sourceMessageId).
pub(crate) type MessageKey = (i32, String);

fn patient_of(event: &CaseEvent) -> &str {
    event.patient.as_ref().map_or("", |p| p.id.as_str())
}

/// Whether `event` is the message stored as `stored`: the same, or the same
/// but for the protection the person register added when it was stored.
fn same_message(stored: &[u8], event: &CaseEvent) -> Result<bool, StoreError> {
    let stored = super::sql::decode_event(stored)?;
    if stored == *event {
        return Ok(true);
    }
    let mut protected = event.clone();
    if let Some(p) = protected.patient.as_mut() {
        p.protected_identity = true;
    }
    Ok(stored == protected)
}

/// What the store must read before folding a batch.
#[derive(Debug, Default)]
pub(crate) struct Needs {
    /// Source message ids to look up, by source system.
    pub message_ids: Vec<(i32, Vec<String>)>,
    /// Case refs whose cases may be the events' cases.
    pub case_refs: Vec<String>,
    /// People whose open outpatient cases the rules need.
    pub outpatients: Vec<String>,
    /// Everyone the batch touches, for the per-person locks.
    pub people: Vec<String>,
}

impl Needs {
    pub fn of(events: &[Checked<CaseEvent>]) -> Self {
        let mut ids: HashMap<i32, BTreeSet<&str>> = HashMap::new();
        let mut refs = BTreeSet::new();
        let mut outpatients = BTreeSet::new();
        let mut people = BTreeSet::new();
        for e in events {
            ids.entry(e.source_system)
                .or_default()
                .insert(&e.source_message_id);
            refs.insert(e.case_ref.as_str());
            people.insert(patient_of(e));
            if e.process == CareProcess::Outpatient as i32 {
                outpatients.insert(patient_of(e));
            }
        }
        let owned = |set: BTreeSet<&str>| set.into_iter().map(str::to_owned).collect();
        Needs {
            message_ids: ids.into_iter().map(|(s, m)| (s, owned(m))).collect(),
            case_refs: owned(refs),
            outpatients: owned(outpatients),
            people: owned(people),
        }
    }
}

/// A stored case as the batch reads it.
#[derive(Debug, Clone)]
pub(crate) struct KnownCase {
    pub case_id: String,
    pub patient_id: String,
    pub case: Case,
}

/// A message stored before: where it went, and what it said (to tell a
/// resend from a reuse of its id).
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub case_id: String,
    pub sequence: i64,
    /// The stored event, protobuf.
    pub body: Vec<u8>,
}

/// What the store holds that the batch needs.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Messages stored before.
    pub seen: HashMap<MessageKey, Seen>,
    /// Those of the batch's people whose identity is protected (the person
    /// register).
    pub protected: HashSet<String>,
    /// The home municipality the journal feed gave last, by person.
    pub municipalities: HashMap<String, String>,
    /// (source system, case ref, case id) of the refs asked for.
    pub refs: Vec<(i32, String, String)>,
    /// By case id: the cases those refs and seen messages lead to, and the
    /// open outpatient cases of the people asked for.
    pub cases: HashMap<String, KnownCase>,
}

/// A `cases` row to write.
pub(crate) struct CaseRow {
    pub case_id: String,
    pub process: i32,
    pub status: i32,
    pub patient_id: String,
    pub updated_at: i64,
    pub event_count: i64,
    pub body: Vec<u8>,
}

/// An `events` row to write.
pub(crate) struct EventRow {
    pub case_id: String,
    pub sequence: i64,
    pub source_system: i32,
    pub source_message_id: String,
    pub payload_type: &'static str,
    pub occurred_at: i64,
    pub body: Vec<u8>,
}

/// A `deliveries` row to write.
pub(crate) struct DeliveryRow {
    pub message_id: String,
    pub case_id: String,
    pub sequence: i64,
    pub recipient: String,
    pub system: Option<System>,
    pub kind: DeliveryKind,
    pub status: DeliveryStatus,
    pub reason: String,
}

impl DeliveryRow {
    /// The system's name as stored: empty when unknown.
    pub fn system_name(&self) -> &'static str {
        self.system.map_or("", System::as_str)
    }
}

/// Everything a batch writes, one table at a time. Cases come first: the
/// other tables refer to them.
#[derive(Default)]
pub(crate) struct Writes {
    pub cases: Vec<CaseRow>,
    pub refs: Vec<(i32, String, String)>,
    pub participants: Vec<(String, String)>,
    pub events: Vec<EventRow>,
    pub deliveries: Vec<DeliveryRow>,
    /// People who became protected in this batch, for the person register.
    pub protected_people: Vec<String>,
    /// Events stored otherwise than they arrived (protection the register
    /// added), by (case id, sequence): what the outbox feed hands the relay.
    pub amended: HashMap<(String, i64), Checked<CaseEvent>>,
}

/// The batch's view of the store: what was read, with the batch's own
/// events folded on top.
pub(crate) struct Batch {
    seen: HashMap<MessageKey, Seen>,
    protected: HashSet<String>,
    /// The journal's home municipalities, by person.
    municipalities: HashMap<String, String>,
    /// Case ref → (source system, case id).
    refs: HashMap<String, Vec<(i32, String)>>,
    cases: HashMap<String, KnownCase>,
    writes: Writes,
}

impl Batch {
    pub fn new(known: Known) -> Self {
        let mut refs: HashMap<String, Vec<(i32, String)>> = HashMap::new();
        for (system, case_ref, case_id) in known.refs {
            refs.entry(case_ref).or_default().push((system, case_id));
        }
        Batch {
            seen: known.seen,
            protected: known.protected,
            municipalities: known.municipalities,
            refs,
            cases: known.cases,
            writes: Writes::default(),
        }
    }

    /// The case `event` belongs to: this system's ref first; else the same
    /// ref for the same person from another system, the earliest case.
    fn find_case(&self, event: &CaseEvent) -> Option<String> {
        let candidates = self.refs.get(&event.case_ref)?;
        if let Some((_, id)) = candidates.iter().find(|(s, _)| *s == event.source_system) {
            return Some(id.clone());
        }
        candidates
            .iter()
            .filter_map(|(_, id)| self.cases.get(id))
            .filter(|c| c.patient_id == patient_of(event))
            .map(|c| c.case_id.clone())
            .min()
    }

    /// Another open outpatient case of the person than `case_id`.
    fn other_open_outpatient_case(&self, patient_id: &str, case_id: &str) -> Option<String> {
        self.cases
            .values()
            .filter(|c| {
                c.patient_id == patient_id
                    && c.case_id != case_id
                    && c.case.process == CareProcess::Outpatient as i32
                    && c.case.status != CaseStatus::Closed as i32
            })
            .map(|c| c.case_id.clone())
            .min()
    }

    /// Folds one event on top of the store and the batch so far. A refused
    /// event changes nothing.
    pub fn submit(
        &mut self,
        event: &Checked<CaseEvent>,
        folder: &dyn Folder,
    ) -> Result<Submitted, StoreError> {
        let key = (event.source_system, event.source_message_id.clone());
        if let Some(seen) = self.seen.get(&key) {
            // A resend is answered with what it did the first time; an id
            // reused for another message is refused, so an answer never
            // carries a case the sender did not submit to.
            if !same_message(&seen.body, event)? {
                return Err(RuleViolation::MessageIdReused.into());
            }
            let case_id = &seen.case_id;
            let case = self.cases.get(case_id).ok_or_else(|| {
                StoreError::Corrupt(format!("case {case_id} of a stored event is missing"))
            })?;
            return Ok(Submitted {
                case_id: case_id.clone(),
                sequence: seen.sequence,
                duplicate: true,
                case: case.case.clone(),
            });
        }
        let patient_id = patient_of(event).to_owned();
        // The case is taken out of the view while it is folded, and put
        // back as it was if the event is refused.
        let (case_id, prev) = match self.find_case(event) {
            Some(id) => {
                let known = self.cases.remove(&id);
                (id, known)
            }
            None => (uuid::Uuid::now_v7().to_string(), None),
        };
        let facts = Facts {
            other_open_outpatient_case: (event.process == CareProcess::Outpatient as i32)
                .then(|| self.other_open_outpatient_case(&patient_id, &case_id))
                .flatten(),
            person_protected: self.protected.contains(&patient_id),
            register_municipality: self.municipalities.get(&patient_id).cloned(),
            ..Facts::default()
        };
        let outcome = match folder.fold(prev.as_ref().map(|k| &k.case), &case_id, event, &facts) {
            Ok(o) => o,
            Err(refused) => {
                if let Some(known) = prev {
                    self.cases.insert(case_id, known);
                }
                return Err(refused.into());
            }
        };
        let prev = prev.map(|k| k.case);
        let case = outcome.case;
        let sequence = case.event_count;

        // Protection is sticky: the person register remembers it for every
        // later case, and the event is stored (and so delivered) as the
        // case sees the person.
        let protected = case.patient.as_ref().is_some_and(|p| p.protected_identity);
        if protected && self.protected.insert(patient_id.clone()) {
            self.writes.protected_people.push(patient_id.clone());
        }
        let amended = (protected && !event.patient.as_ref().is_some_and(|p| p.protected_identity))
            .then(|| event.with_protected_identity());
        let stored = amended.as_ref().unwrap_or(event);
        let body = stored.encode_to_vec();

        // Only what this event added: a long case does not rewrite its refs
        // and participants with every message.
        for r in &case.external_refs {
            if prev.as_ref().is_some_and(|p| p.external_refs.contains(r)) {
                continue;
            }
            let holders = self.refs.entry(r.case_ref.clone()).or_default();
            // (system, ref) is unique: the first case to claim it keeps it.
            if !holders.iter().any(|(s, _)| *s == r.system) {
                holders.push((r.system, case.id.clone()));
                self.writes
                    .refs
                    .push((r.system, r.case_ref.clone(), case.id.clone()));
            }
        }
        for a in &case.participants {
            if prev
                .as_ref()
                .is_some_and(|p| p.participants.iter().any(|b| b.hsa_id == a.hsa_id))
            {
                continue;
            }
            self.writes
                .participants
                .push((case.id.clone(), a.hsa_id.clone()));
        }
        self.writes.events.push(EventRow {
            case_id: case.id.clone(),
            sequence,
            source_system: event.source_system,
            source_message_id: event.source_message_id.clone(),
            payload_type: event.payload.as_ref().map_or("", payload_name),
            occurred_at: event.occurred_at.as_ref().map_or(0, |t| t.seconds),
            body: body.clone(),
        });
        for d in &outcome.deliveries {
            self.writes.deliveries.push(DeliveryRow {
                message_id: delivery_message_id(event, &d.recipient, d.kind),
                case_id: case.id.clone(),
                sequence,
                recipient: d.recipient.clone(),
                system: d.system,
                kind: d.kind,
                status: d.status,
                reason: d.reason.clone(),
            });
        }
        self.seen.insert(
            key,
            Seen {
                case_id: case.id.clone(),
                sequence,
                body,
            },
        );
        if let Some(amended) = amended {
            self.writes
                .amended
                .insert((case.id.clone(), sequence), amended);
        }
        self.cases.insert(
            case.id.clone(),
            KnownCase {
                case_id: case.id.clone(),
                patient_id,
                case: case.clone(),
            },
        );
        Ok(Submitted {
            case_id: case.id.clone(),
            sequence,
            duplicate: false,
            case,
        })
    }

    /// What to write: each changed case once, as it stands after the batch.
    pub fn into_writes(mut self) -> Writes {
        let mut written = HashSet::new();
        for event in &self.writes.events {
            if !written.insert(event.case_id.as_str()) {
                continue;
            }
            let c = &self.cases[&event.case_id];
            self.writes.cases.push(CaseRow {
                case_id: c.case_id.clone(),
                process: c.case.process,
                status: c.case.status,
                patient_id: c.patient_id.clone(),
                updated_at: c.case.updated_at.as_ref().map_or(0, |t| t.seconds),
                event_count: c.case.event_count,
                body: c.case.encode_to_vec(),
            });
        }
        self.writes
    }
}
