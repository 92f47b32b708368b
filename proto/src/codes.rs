//! Bare enum names: the canonical JSON (and the CLI) write `"HOSPITAL"`, not
//! the protobuf name `"ACTOR_KIND_HOSPITAL"`. Reading accepts both forms.

use crate::v1::{
    ActorKind, CareProcess, CaseStatus, CloseReason, ConsentDecision, ConsentState, DeadlineKind,
    DeviationCategory, Dialect, DischargeDestination, IdKind, MeetingPlace, Residence,
    SourceSystem,
};

/// A generated protobuf enum with a canonical (unprefixed) name.
pub trait CanonicalEnum: Sized + Copy + Into<i32> {
    /// The protobuf type prefix, e.g. `ACTOR_KIND_`.
    const PREFIX: &'static str;
    /// The enum's name in messages (`ActorKind`).
    const TYPE_NAME: &'static str;
    fn proto_name(self) -> &'static str;
    fn from_proto_name(name: &str) -> Option<Self>;
    fn from_i32(value: i32) -> Option<Self>;
    fn unspecified() -> Self;

    /// The bare name (`HOSPITAL`); `None` for the unspecified value.
    fn bare_name(self) -> Option<&'static str> {
        if self.into() == 0 {
            return None;
        }
        Some(&self.proto_name()[Self::PREFIX.len()..])
    }

    /// Reads a bare or prefixed name; the unspecified value is not a name.
    fn from_name(name: &str) -> Option<Self> {
        let value = if name.starts_with(Self::PREFIX) {
            Self::from_proto_name(name)
        } else {
            Self::from_proto_name(&format!("{}{name}", Self::PREFIX))
        }?;
        (value.into() != 0).then_some(value)
    }

    /// All specified values, in declaration order.
    fn all() -> Vec<Self> {
        (1..).map_while(Self::from_i32).collect()
    }
}

macro_rules! canonical_enum {
    ($($ty:ident => $prefix:literal),* $(,)?) => {$(
        impl CanonicalEnum for $ty {
            const PREFIX: &'static str = $prefix;
            const TYPE_NAME: &'static str = stringify!($ty);
            fn proto_name(self) -> &'static str { self.as_str_name() }
            fn from_proto_name(name: &str) -> Option<Self> { Self::from_str_name(name) }
            fn from_i32(value: i32) -> Option<Self> { Self::try_from(value).ok() }
            fn unspecified() -> Self { Self::default() }
        }
    )*};
}

canonical_enum! {
    SourceSystem => "SOURCE_SYSTEM_",
    CareProcess => "CARE_PROCESS_",
    ActorKind => "ACTOR_KIND_",
    IdKind => "ID_KIND_",
    Residence => "RESIDENCE_",
    DischargeDestination => "DISCHARGE_DESTINATION_",
    MeetingPlace => "MEETING_PLACE_",
    ConsentDecision => "CONSENT_DECISION_",
    CloseReason => "CLOSE_REASON_",
    DeviationCategory => "DEVIATION_CATEGORY_",
    CaseStatus => "CASE_STATUS_",
    ConsentState => "CONSENT_STATE_",
    DeadlineKind => "DEADLINE_KIND_",
    Dialect => "DIALECT_",
}

/// The bare name of an enum field stored as `i32`, if it names a value.
pub fn bare<E: CanonicalEnum>(value: i32) -> Option<&'static str> {
    E::from_i32(value).and_then(CanonicalEnum::bare_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_prefixed_names_round_trip() {
        assert_eq!(ActorKind::Hospital.bare_name(), Some("HOSPITAL"));
        assert_eq!(ActorKind::from_name("HOSPITAL"), Some(ActorKind::Hospital));
        assert_eq!(
            ActorKind::from_name("ACTOR_KIND_HOSPITAL"),
            Some(ActorKind::Hospital)
        );
        assert_eq!(ActorKind::from_name("UNSPECIFIED"), None);
        assert_eq!(ActorKind::from_name("hospital"), None);
        assert_eq!(ActorKind::Unspecified.bare_name(), None);
        assert_eq!(ActorKind::all().len(), 7);
    }
}
