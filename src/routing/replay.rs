//! Replaying a quarantined delivery: whether it may be made again now, and
//! through which system. The operator's `samgate delivery replay` asks
//! after fixing what quarantined it (a unit added to the directory, a
//! queue bound, a portal back up); the answer follows the same rules as
//! routing, against the directory as it stands.

use samgate_proto::v1::Case;

use super::rules::QUARANTINE_PROTECTED_IDENTITY;
use super::{Directory, System};
use crate::store::{Delivery, DeliveryKind};

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
