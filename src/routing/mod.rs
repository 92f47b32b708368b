//! Routing: who must receive an event, in which system's form.
//!
//! [`route`] is a plain function of the directory, the case after the event
//! and the event: it adds the actors routing brings into the case (a
//! patient's home municipality, the listed primary-care unit) and returns
//! one delivery per recipient, or a quarantined delivery with its reason
//! when a recipient cannot be served. The store writes them in the same
//! transaction as the event (the outbox).

mod directory;
mod replay;
mod rules;

pub use crate::channel::System;
pub use directory::{Directory, DirectoryError, Unit, default_queue};
pub use replay::{Replay, ReplayOutcome, ReplayRefused, replay, replay_system};
pub use rules::{QUARANTINE_PROTECTED_IDENTITY, QUARANTINE_UNKNOWN_RECIPIENT, route};

use std::sync::{Arc, RwLock};

use samgate_proto::v1::Case;
use samgate_proto::validate::Checked;
use samgate_proto::{CaseEvent, Payload};

use crate::engine::{Engine, Facts, RuleViolation};
use crate::store::{DeliveryKind, Folder, NewDelivery, Outcome};

/// The engine and the routing rules together: what the store folds each
/// event with. The directory can be replaced while running (SIGHUP); each
/// event is routed with the directory current when it is folded.
pub struct Router {
    engine: Engine,
    directory: RwLock<Arc<Directory>>,
    /// Counts directory replacements, so transports can tell when to
    /// declare the queues of new actors.
    generation: std::sync::atomic::AtomicU64,
    /// Whether each SIP version also gets a publication delivery, pushed
    /// to the citizen portal (`portal::push`).
    publish_plans: bool,
    /// Whether folding writes outbox rows. Off for imported history, which
    /// was delivered when it happened: routing still adds its participants.
    deliver: bool,
}

impl Router {
    pub fn new(engine: Engine, directory: Directory) -> Self {
        Router {
            engine,
            directory: RwLock::new(Arc::new(directory)),
            generation: std::sync::atomic::AtomicU64::new(0),
            publish_plans: false,
            deliver: true,
        }
    }

    /// Whether events get deliveries at all (`samgate import --no-deliver`
    /// turns them off); the case still gains the participants routing adds.
    pub fn delivering(mut self, on: bool) -> Self {
        self.deliver = on;
        self
    }

    /// Adds a publication delivery to every SIP version (of a person without
    /// protected identity: theirs are never published).
    pub fn publishing_plans(mut self, on: bool) -> Self {
        self.publish_plans = on;
        self
    }

    /// The case engine (its rules, payment liability included).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn directory(&self) -> Arc<Directory> {
        self.directory.read().expect("directory lock").clone()
    }

    /// Swaps in a new directory (already validated).
    pub fn replace_directory(&self, directory: Directory) {
        *self.directory.write().expect("directory lock") = Arc::new(directory);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many times the directory has been replaced.
    pub fn directory_generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Folder for Router {
    fn fold(
        &self,
        prev: Option<&Case>,
        case_id: &str,
        event: &Checked<CaseEvent>,
        facts: &Facts,
    ) -> Result<Outcome, RuleViolation> {
        let directory = self.directory();
        let author = event.author.as_ref().map_or("", |a| a.hsa_id.as_str());
        let facts = Facts {
            author_outside_directory: directory.unit(author).is_none(),
            ..facts.clone()
        };
        let mut case = self.engine.fold(prev, case_id, event, &facts)?;
        let mut deliveries = route(&directory, &mut case, event);
        if !self.deliver || repeats_the_discharge(prev, event) {
            return Ok(Outcome {
                case,
                deliveries: Vec::new(),
            });
        }
        let protected = case.patient.as_ref().is_some_and(|p| p.protected_identity);
        if self.publish_plans && !protected && matches!(event.payload, Some(Payload::SipPlan(_))) {
            deliveries.push(NewDelivery::pending(
                crate::channel::PORTAL_RECIPIENT,
                Some(System::Portal),
                DeliveryKind::Publication,
            ));
        }
        Ok(Outcome { case, deliveries })
    }
}

/// Whether a discharge notice says again what a discharge samgate already
/// announced says (the same minute and destination): stored, not routed
/// (hl7v2.md, the ward's own notice after the journal's).
fn repeats_the_discharge(prev: Option<&Case>, event: &CaseEvent) -> bool {
    let (Some(prev), Some(Payload::DischargeNotice(d))) = (prev, &event.payload) else {
        return false;
    };
    let minute =
        |t: &Option<samgate_proto::Timestamp>| t.as_ref().map(|t| t.seconds.div_euclid(60));
    prev.status == samgate_proto::v1::CaseStatus::Discharged as i32
        && minute(&prev.discharged_at) == minute(&d.discharged_at)
        && prev.discharge_destination == d.destination
}
