//! Replaying a quarantined delivery: whether it may be made again now, and
//! through which system. The operator's `samgate delivery replay` asks
//! after fixing what quarantined it (a unit added to the directory, a
//! queue bound, a portal back up); the answer follows the same rules as
//! routing, against the directory as it stands.

use samgate_proto::v1::Case;

use super::rules::QUARANTINE_PROTECTED_IDENTITY;
use super::{Directory, System};
use crate::store::{Delivery, DeliveryKind, DeliveryStatus, Store, StoreError};

/// Why a quarantined delivery is not made again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefused {
    /// A person with protected identity is never sent to Cosmic Link; no
    /// replay changes that.
    #[error(
        "{QUARANTINE_PROTECTED_IDENTITY}: {0} is on Cosmic Link and the person has a protected identity"
    )]
    ProtectedIdentity(String),
    #[error("{0} is not in the actor directory")]
    UnknownRecipient(String),
}

/// The system a quarantined delivery is to be made through now.
/// Publications go to the portal as before; events and notices to the
/// recipient's unit as the directory has it today, unless the person's
/// protected identity forbids that unit's system.
pub fn replay_system(
    directory: &Directory,
    case: &Case,
    delivery: &Delivery,
) -> Result<System, ReplayRefused> {
    if delivery.kind == DeliveryKind::Publication {
        return Ok(System::Portal);
    }
    let unit = directory
        .unit(&delivery.recipient)
        .ok_or_else(|| ReplayRefused::UnknownRecipient(delivery.recipient.clone()))?;
    let protected = case.patient.as_ref().is_some_and(|p| p.protected_identity);
    if protected && delivery.kind == DeliveryKind::Event && unit.system.forbids_protected_identity()
    {
        return Err(ReplayRefused::ProtectedIdentity(delivery.recipient.clone()));
    }
    Ok(unit.system)
}

/// What asking for a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Pending again, to be made through this system.
    Replayed(System),
    /// No such delivery, or it was not (or no longer) quarantined.
    NotQuarantined,
    /// Still quarantined, for this reason.
    Refused(ReplayRefused),
}

/// A replay asked for, with what it read: the delivery and its case, for
/// an access log that must name the person.
#[derive(Debug)]
pub struct Replay {
    pub outcome: ReplayOutcome,
    pub delivery: Option<Delivery>,
    pub case: Option<Case>,
}

/// Makes the quarantined delivery `message_id` pending again through the
/// system [`replay_system`] gives, unless it refuses: the one replay of
/// `samgate delivery replay` and the console.
pub async fn replay(
    store: &dyn Store,
    directory: &Directory,
    message_id: &str,
) -> Result<Replay, StoreError> {
    let not_quarantined = |delivery| Replay {
        outcome: ReplayOutcome::NotQuarantined,
        delivery,
        case: None,
    };
    let Some(delivery) = store.delivery(message_id).await? else {
        return Ok(not_quarantined(None));
    };
    if delivery.status != DeliveryStatus::Quarantined {
        return Ok(not_quarantined(Some(delivery)));
    }
    let case = store.get_case(&delivery.case_id).await?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "case {} of a delivery is missing",
            delivery.case_id
        ))
    })?;
    let outcome = match replay_system(directory, &case, &delivery) {
        Ok(system) if store.requeue_delivery(message_id, system).await? => {
            ReplayOutcome::Replayed(system)
        }
        Ok(_) => ReplayOutcome::NotQuarantined,
        Err(why) => ReplayOutcome::Refused(why),
    };
    Ok(Replay {
        outcome,
        delivery: Some(delivery),
        case: Some(case),
    })
}

#[cfg(test)]
mod tests {
    use samgate_proto::v1::Patient;

    use super::*;
    use crate::store::DeliveryStatus;

    fn quarantined(recipient: &str, kind: DeliveryKind) -> Delivery {
        Delivery {
            id: 1,
            message_id: "m".into(),
            case_id: "c".into(),
            sequence: 1,
            recipient: recipient.into(),
            system: None,
            kind,
            status: DeliveryStatus::Quarantined,
            reason: "unknown-recipient".into(),
            event: Default::default(),
        }
    }

    fn case(protected_identity: bool) -> Case {
        Case {
            patient: Some(Patient {
                protected_identity,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_replay_follows_the_directory_and_the_protected_identity_rule() {
        let directory = Directory::builtin();
        let khsl = "SE2120000449-KHSL";
        // A Cosmic Link unit: fine for anyone but a protected identity's
        // events; samgate's own notices are not the person's case.
        assert_eq!(
            replay_system(
                &directory,
                &case(false),
                &quarantined(khsl, DeliveryKind::Event)
            ),
            Ok(System::CosmicLink)
        );
        assert_eq!(
            replay_system(
                &directory,
                &case(true),
                &quarantined(khsl, DeliveryKind::Event)
            ),
            Err(ReplayRefused::ProtectedIdentity(khsl.into()))
        );
        assert_eq!(
            replay_system(
                &directory,
                &case(true),
                &quarantined(khsl, DeliveryKind::Notice)
            ),
            Ok(System::CosmicLink)
        );
        // A unit still missing stays quarantined.
        assert_eq!(
            replay_system(
                &directory,
                &case(false),
                &quarantined("SE0000000000-NONE", DeliveryKind::Event)
            ),
            Err(ReplayRefused::UnknownRecipient("SE0000000000-NONE".into()))
        );
        // A portal publication goes to the portal as before.
        let mut publication = quarantined("portal", DeliveryKind::Publication);
        publication.system = Some(System::Portal);
        assert_eq!(
            replay_system(&directory, &case(false), &publication),
            Ok(System::Portal)
        );
    }
}
