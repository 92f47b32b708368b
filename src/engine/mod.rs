//! The case engine: a case is the fold of its events.
//!
//! [`Engine::fold`] takes the case as it stands (or nothing, for a new
//! case), one checked event and the facts it needs from outside (is there
//! another open outpatient case for this person?), and returns the case
//! after the event, or the rule the event breaks. It is a plain function of
//! its inputs: the store calls it inside its transaction, so a refused event
//! is never stored.

mod deadlines;
mod fold;
mod participants;
mod violation;

pub use deadlines::{
    DayCounting, LiabilityRule, MAX_LIABILITY_DAYS, admission_notice_due, sip_invitation_due,
};
pub use fold::Facts;
pub use violation::RuleViolation;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use samgate_proto::ids::Kommunkod;

/// Payment-liability agreements: the default and one per county (länskod)
/// that agreed otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiabilityAgreements {
    pub default: LiabilityRule,
    /// By two-digit county code (`"05"` for Östergötland).
    pub counties: BTreeMap<String, LiabilityRule>,
}

impl LiabilityAgreements {
    /// The rule for a patient registered in `municipality_code` (the
    /// municipality pays, so its county's agreement applies).
    pub fn rule_for(&self, municipality_code: &str) -> LiabilityRule {
        Kommunkod::parse(municipality_code)
            .ok()
            .and_then(|k| self.counties.get(k.county().as_str()))
            .copied()
            .unwrap_or(self.default)
    }
}

/// How many participants a case may have unless configured otherwise
/// (`cases.max_participants`). A real case has a handful (a ward, home
/// care, social services, primary care, a few more for complex needs); one
/// message naming thousands of invented units would otherwise make every
/// later event of the case write thousands of outbox rows.
pub const DEFAULT_MAX_PARTICIPANTS: usize = 50;

/// The case engine and its configuration.
#[derive(Debug, Clone)]
pub struct Engine {
    pub liability: LiabilityAgreements,
    /// The most participants an event may bring a case to.
    pub max_participants: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(LiabilityAgreements::default())
    }
}

impl Engine {
    pub fn new(liability: LiabilityAgreements) -> Self {
        Engine {
            liability,
            max_participants: DEFAULT_MAX_PARTICIPANTS,
        }
    }

    /// The same engine with another participant limit.
    pub fn with_max_participants(mut self, max: usize) -> Self {
        self.max_participants = max;
        self
    }
}

#[cfg(test)]
mod tests;
