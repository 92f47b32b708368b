//! The stay update: what one ADT message says about a stay and a person,
//! typed, and its JSON form (`translate --from hl7v2 --to json`).

use std::collections::BTreeMap;

use samgate_proto::Timestamp;
use samgate_proto::codes::CanonicalEnum;
use samgate_proto::time::format_utc;
use samgate_proto::v1::{DischargeDestination, IdKind};
use serde::{Serialize, Serializer};

/// The trigger events that act on a stay or the person register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Trigger {
    /// Admit.
    A01,
    /// Transfer.
    A02,
    /// Discharge.
    A03,
    /// Outpatient to inpatient.
    A06,
    /// Update patient information.
    A08,
    /// Cancel admit.
    A11,
    /// Cancel transfer.
    A12,
    /// Cancel discharge.
    A13,
}

impl Trigger {
    pub const ALL: [Trigger; 8] = [
        Trigger::A01,
        Trigger::A02,
        Trigger::A03,
        Trigger::A06,
        Trigger::A08,
        Trigger::A11,
        Trigger::A12,
        Trigger::A13,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::A01 => "A01",
            Trigger::A02 => "A02",
            Trigger::A03 => "A03",
            Trigger::A06 => "A06",
            Trigger::A08 => "A08",
            Trigger::A11 => "A11",
            Trigger::A12 => "A12",
            Trigger::A13 => "A13",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == code)
    }

    /// Whether the trigger needs a visit number (every one but A08).
    pub fn needs_visit(self) -> bool {
        self != Trigger::A08
    }

    /// Whether the trigger updates the person register (A01, A03, A08).
    pub fn updates_register(self) -> bool {
        matches!(self, Trigger::A01 | Trigger::A03 | Trigger::A08)
    }
}

/// The idempotency key: (MSH-3, MSH-4, MSH-10), each as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub sending_application: String,
    pub facility: String,
    pub control_id: String,
}

/// The person as the journal has them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// 12 digits.
    pub id: String,
    #[serde(serialize_with = "enum_name")]
    pub id_kind: IdKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// The home municipality; `None` leaves the register unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<String>,
    /// `Some(true)` protects, `Some(false)` (only from an A08) unprotects,
    /// `None` leaves the register unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_identity: Option<bool>,
    /// `Some(true)` when the journal says the person died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deceased: Option<bool>,
}

/// One acting ADT message, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StayUpdate {
    pub trigger: Trigger,
    /// MSH-3, part of the idempotency key (not in the JSON form).
    #[serde(skip)]
    pub sending_application: String,
    /// MSH-4: the facility whose visit numbers these are.
    pub facility: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit_number: Option<String>,
    /// MSH-10.
    pub message_control_id: String,
    #[serde(serialize_with = "utc")]
    pub event_at: Timestamp,
    /// PV1-2 as written (`I` is a stay; other classes touch the person
    /// register only).
    pub patient_class: String,
    pub person: Person,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ward: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hospital: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_utc")]
    pub admitted_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_utc")]
    pub discharged_at: Option<Timestamp>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_enum_name"
    )]
    pub destination: Option<DischargeDestination>,
}

impl StayUpdate {
    pub fn key(&self) -> IdempotencyKey {
        IdempotencyKey {
            sending_application: self.sending_application.clone(),
            facility: self.facility.clone(),
            control_id: self.message_control_id.clone(),
        }
    }

    /// Whether the message touches a stay (patient class `I`); otherwise
    /// it updates the person register only.
    pub fn touches_stay(&self) -> bool {
        self.patient_class == "I"
    }

    /// The JSON form, one object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn utc<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_utc(ts))
}

fn opt_utc<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => utc(ts, s),
        None => s.serialize_none(),
    }
}

fn enum_name<E: CanonicalEnum, S: Serializer>(e: &E, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(e.bare_name().unwrap_or_default())
}

fn opt_enum_name<E: CanonicalEnum, S: Serializer>(e: &Option<E>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => enum_name(e, s),
        None => s.serialize_none(),
    }
}

/// The discharge disposition mapping (PV1-36 → destination), the
/// configuration `[hl7.disposition]`: HL7 table 0112 is user-defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispositions(BTreeMap<String, DischargeDestination>);

impl Default for Dispositions {
    /// The contract's default: `01`, `06`, `07` HOME; `02` OTHER_HOSPITAL;
    /// `03`, `04` SHORT_TERM_CARE; `05` SPECIAL_HOUSING; `20`, `40`, `41`,
    /// `42` DECEASED.
    fn default() -> Self {
        use DischargeDestination::*;
        let pairs = [
            ("01", Home),
            ("06", Home),
            ("07", Home),
            ("02", OtherHospital),
            ("03", ShortTermCare),
            ("04", ShortTermCare),
            ("05", SpecialHousing),
            ("20", Deceased),
            ("40", Deceased),
            ("41", Deceased),
            ("42", Deceased),
        ];
        Dispositions(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl Dispositions {
    /// A mapping from configuration (code → destination).
    pub fn new(map: BTreeMap<String, DischargeDestination>) -> Self {
        Dispositions(map)
    }

    /// The destination for a PV1-36 code, if the mapping has it.
    pub fn get(&self, code: &str) -> Option<DischargeDestination> {
        self.0.get(code).copied()
    }
}
