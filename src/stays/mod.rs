//! Hospital stays from the journal systems' ADT feed (hl7v2.md), as plain
//! functions: the [`Stay`] samgate keeps, how each trigger changes it
//! ([`apply`]), which case a stay belongs to ([`link`]), and the case
//! events a stay derives ([`derive`]). The store keeps stays and runs
//! [`apply`] inside its transaction; the journal service fires the timers.
//!
//! An ADT message is not a coordination message: it never opens a case and
//! is never delivered. A stay causes a case event only through the
//! discharge timer (a reconciled discharge) or a cancellation after one.

pub mod derive;
pub mod link;

use samgate_hl7v2::{StayUpdate, Trigger};
use serde::{Deserialize, Serialize};

pub use link::{Admission, Candidate, link};

/// The most history entries a stay keeps: a long stay has a few dozen
/// changes; the oldest go first past this, so a looping sender cannot grow
/// a row without bound.
pub const MAX_STAY_HISTORY: usize = 200;

/// The most wards a stay keeps (transfers past this replace the last):
/// bounds the row for the same reason.
pub const MAX_STAY_WARDS: usize = 100;

/// One hospital stay, keyed by (facility, visit number). Stored as JSON;
/// times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stay {
    /// MSH-4: whose visit numbers these are.
    pub facility: String,
    pub visit_number: String,
    /// The person (never logged).
    pub patient_id: String,
    /// PV1-3.4: the hospital's HSA-id, when the journal gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hospital: Option<String>,
    /// The wards the stay passed through, in order (A02 adds one, A12
    /// takes the last added away).
    pub wards: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharged_at: Option<i64>,
    /// `DischargeDestination` as its number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<i32>,
    /// Cancelled by an A11: it no longer counts anywhere.
    #[serde(default)]
    pub cancelled: bool,
    /// MSH-10 of the A03 that set the discharge: names the reconciled
    /// notice (`<facility>/<visit>/discharge/<this>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_control_id: Option<String>,
    /// The case the journal's discharge reached (a reconciled notice was
    /// appended to it): an A13 or A11 then appends a deviation there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_reached: Option<String>,
    /// Each change: the trigger, when it happened (EVN), its MSH-10.
    pub history: Vec<Change>,
}

/// One entry of a stay's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub trigger: String,
    pub event_at: i64,
    pub control_id: String,
}

impl Stay {
    fn new(u: &StayUpdate, visit: &str) -> Self {
        Stay {
            facility: u.facility.clone(),
            visit_number: visit.to_owned(),
            patient_id: u.person.id.clone(),
            hospital: None,
            wards: Vec::new(),
            admitted_at: None,
            discharged_at: None,
            destination: None,
            cancelled: false,
            discharge_control_id: None,
            discharge_reached: None,
            history: Vec::new(),
        }
    }

    /// The wards and the hospital: who, in a case, may be this stay's.
    pub fn units(&self) -> impl Iterator<Item = &str> {
        self.wards
            .iter()
            .map(String::as_str)
            .chain(self.hospital.as_deref())
    }

    /// The key of the stay's discharge timer.
    pub fn timer_key(&self) -> String {
        timer_key(&self.facility, &self.visit_number)
    }

    fn add_ward(&mut self, ward: Option<&String>) {
        let Some(ward) = ward.filter(|w| !w.is_empty()) else {
            return;
        };
        if self.wards.last() == Some(ward) {
            return;
        }
        if self.wards.len() >= MAX_STAY_WARDS {
            self.wards.pop();
        }
        self.wards.push(ward.clone());
    }

    fn record(&mut self, u: &StayUpdate) {
        if self.history.len() >= MAX_STAY_HISTORY {
            self.history.remove(0);
        }
        self.history.push(Change {
            trigger: u.trigger.as_str().to_owned(),
            event_at: u.event_at.seconds,
            control_id: u.message_control_id.clone(),
        });
    }
}

/// The key of a stay's discharge timer.
pub fn timer_key(facility: &str, visit_number: &str) -> String {
    format!("discharge/{facility}/{visit_number}")
}

/// What a message does to the discharge timer of its stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerChange {
    Keep,
    /// An A03: (re)start the grace period.
    Start,
    /// An A11 or A13 while it is pending: cancel it.
    Cancel,
}

/// What the journal cancelled after its discharge reached a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub case_id: String,
    pub facility: String,
    pub visit_number: String,
    /// MSH-10 of the A11 or A13.
    pub control_id: String,
    pub what: Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cancelled {
    Admission,
    /// The discharge of that day (Swedish date, `YYYY-MM-DD`).
    Discharge {
        date: String,
    },
}

/// What one message does to its stay.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The stay to write; `None` when the message leaves stays alone (an
    /// A08, another patient class, a cancel of an unknown stay).
    pub stay: Option<Stay>,
    pub timer: TimerChange,
    /// A cancellation of a discharge that already reached a case: a
    /// deviation to append there.
    pub cancellation: Option<Cancellation>,
}

impl Applied {
    fn nothing() -> Self {
        Applied {
            stay: None,
            timer: TimerChange::Keep,
            cancellation: None,
        }
    }
}

/// Applies one acting message to its stay (`prev`, when known), in arrival
/// order, as the contract's table says.
pub fn apply(prev: Option<Stay>, u: &StayUpdate) -> Applied {
    let Some(visit) = u.visit_number.as_deref().filter(|_| u.touches_stay()) else {
        return Applied::nothing();
    };
    let known = prev.is_some();
    let mut stay = prev.unwrap_or_else(|| Stay::new(u, visit));
    stay.patient_id = u.person.id.clone();
    let mut timer = TimerChange::Keep;
    let mut cancellation = None;
    match u.trigger {
        Trigger::A08 => return Applied::nothing(),
        Trigger::A01 | Trigger::A06 => {
            stay.cancelled = false;
            stay.admitted_at = u.admitted_at.as_ref().map(|t| t.seconds);
            if let Some(ward) = u.ward.as_ref().filter(|w| !w.is_empty()) {
                // A correction of a known stay replaces the admitting ward.
                match stay.wards.first_mut() {
                    Some(first) if known => *first = ward.clone(),
                    _ => stay.add_ward(Some(ward)),
                }
            }
        }
        Trigger::A02 => {
            stay.add_ward(u.ward.as_ref());
            if stay.admitted_at.is_none() {
                stay.admitted_at = u.admitted_at.as_ref().map(|t| t.seconds);
            }
        }
        Trigger::A12 => {
            if !known {
                return Applied::nothing();
            }
            if stay.wards.len() > 1 {
                stay.wards.pop();
            }
        }
        Trigger::A03 => {
            stay.add_ward(u.ward.as_ref());
            if stay.admitted_at.is_none() {
                stay.admitted_at = u.admitted_at.as_ref().map(|t| t.seconds);
            }
            stay.discharged_at = u.discharged_at.as_ref().map(|t| t.seconds);
            stay.destination = u.destination.map(|d| d as i32);
            stay.discharge_control_id = Some(u.message_control_id.clone());
            timer = TimerChange::Start;
        }
        Trigger::A11 | Trigger::A13 => {
            if !known {
                return Applied::nothing();
            }
            let what = if u.trigger == Trigger::A11 {
                stay.cancelled = true;
                Cancelled::Admission
            } else {
                let date = stay.discharged_at.map(swedish_date).unwrap_or_default();
                stay.discharged_at = None;
                stay.destination = None;
                Cancelled::Discharge { date }
            };
            timer = TimerChange::Cancel;
            cancellation = stay.discharge_reached.take().map(|case_id| Cancellation {
                case_id,
                facility: stay.facility.clone(),
                visit_number: stay.visit_number.clone(),
                control_id: u.message_control_id.clone(),
                what,
            });
        }
    }
    if let Some(hospital) = u.hospital.as_ref().filter(|h| !h.is_empty()) {
        stay.hospital = Some(hospital.clone());
    }
    stay.record(u);
    Applied {
        stay: Some(stay),
        timer,
        cancellation,
    }
}

/// The Swedish calendar date of a Unix time, `YYYY-MM-DD`.
pub fn swedish_date(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| {
            samgate_proto::time::stockholm::local_date(t)
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default()
}

/// What the person register holds of one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterEntry {
    /// Sticky: once any source says so, until a journal A08 says `N`.
    pub protected: bool,
    /// The home municipality the journal gave last (it wins over a
    /// coordination message's for routing).
    pub municipality: Option<String>,
}

/// What a message does to the person register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterChange {
    /// `Some(true)` protects, `Some(false)` lifts (only an A08's `N`).
    pub protected: Option<bool>,
    pub municipality: Option<String>,
}

impl RegisterChange {
    /// The register change of a message: A01, A03 and A08 of any patient
    /// class update it.
    pub fn of(u: &StayUpdate) -> Self {
        if !u.trigger.updates_register() {
            return RegisterChange::default();
        }
        let protected = match u.person.protected_identity {
            Some(false) if u.trigger != Trigger::A08 => None,
            other => other,
        };
        RegisterChange {
            protected,
            municipality: u.person.municipality_code.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.protected.is_none() && self.municipality.is_none()
    }
}

#[cfg(test)]
mod tests;
