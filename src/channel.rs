//! Where a delivery goes and how it gets there: the receiving [`System`]
//! and the [`Channel`] that makes deliveries to it.
//!
//! This is the one place that decides a delivery's channel. The relay
//! publishes what goes through [`Channel::Relay`], units read
//! [`Channel::Pull`] deliveries through `DeliveryService`, and the portal
//! pusher makes the [`Channel::Push`] ones. The store's outbox read repeats
//! the relay's condition in SQL ([`RELAY_CONDITION`]) so that the database
//! can use its partial index; a test holds the two to each other.

use serde::Deserialize;

use crate::dialects::DialectName;

/// The quarantine reason of a delivery to a system that a person's
/// protected identity forbids ([`System::forbids_protected_identity`]).
pub const QUARANTINE_PROTECTED_IDENTITY: &str = "protected-identity-policy";

/// The recipient name of a plan's publication to the citizen portal.
pub const PORTAL_RECIPIENT: &str = "portal";

/// A receiving system: the one a unit speaks (the directory's), or the
/// citizen portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    Lifecare,
    CosmicLink,
    Samsa,
    /// samgate's own gRPC interface (`DeliveryService`), canonical events.
    Native,
    /// The citizen portal, which is pushed each SIP version over HTTPS.
    Portal,
}

/// How deliveries to a system are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Published to the unit's RabbitMQ queue by the outbox relay, in its
    /// dialect (and read through `DeliveryService` when no broker is
    /// configured).
    Relay,
    /// Read by the unit through `DeliveryService`, never published.
    Pull,
    /// PUT to the portal over HTTPS by `portal::push`, never published
    /// or pulled.
    Push,
}

/// The relay's channel in SQL over the `deliveries` table (alias `d`), for
/// the outbox read: the same condition as the partial index of migration 3,
/// word for word, so the database uses the index. A macro, so that the
/// store's queries can `concat!` it.
macro_rules! relay_condition {
    () => {
        "d.kind <> 'publication' AND d.system <> 'native'"
    };
}
pub(crate) use relay_condition;

/// [`relay_condition!`] as a value.
pub const RELAY_CONDITION: &str = relay_condition!();

impl System {
    /// Every system, for tests and parsing.
    pub const ALL: [System; 5] = [
        System::Lifecare,
        System::CosmicLink,
        System::Samsa,
        System::Native,
        System::Portal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            System::Lifecare => "lifecare",
            System::CosmicLink => "cosmic-link",
            System::Samsa => "samsa",
            System::Native => "native",
            System::Portal => "portal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The dialect adapter of a system that speaks one.
    pub fn dialect(self) -> Option<DialectName> {
        match self {
            System::Lifecare => Some(DialectName::Lifecare),
            System::CosmicLink => Some(DialectName::CosmicLink),
            System::Samsa => Some(DialectName::Samsa),
            System::Native | System::Portal => None,
        }
    }

    /// How deliveries to this system are made.
    pub fn channel(self) -> Channel {
        match self {
            System::Lifecare | System::CosmicLink | System::Samsa => Channel::Relay,
            System::Native => Channel::Pull,
            System::Portal => Channel::Push,
        }
    }

    /// Whether a person with protected identity is never sent to this
    /// system (Cosmic Link cannot keep such a case apart): deliveries to it
    /// are quarantined with `protected-identity-policy`.
    pub fn forbids_protected_identity(self) -> bool {
        self == System::CosmicLink
    }

    /// Whether a unit of the directory may use this system (the portal
    /// is no unit).
    pub fn is_a_units(self) -> bool {
        self != System::Portal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_each_system_has_one_channel() {
        for s in System::ALL {
            assert_eq!(System::parse(s.as_str()), Some(s));
        }
        assert_eq!(System::parse("fax"), None);
        assert_eq!(System::Portal.channel(), Channel::Push);
        assert_eq!(System::Native.channel(), Channel::Pull);
        assert!(
            System::ALL[..3]
                .iter()
                .all(|s| s.channel() == Channel::Relay)
        );
    }

    /// The SQL condition and the type agree on every system: evaluated by
    /// SQLite for each (kind, system) a delivery can have.
    #[tokio::test]
    async fn the_sql_relay_condition_is_the_relay_channel() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        for system in System::ALL {
            let kind = if system == System::Portal {
                "publication"
            } else {
                "event"
            };
            let sql = format!(
                "SELECT {RELAY_CONDITION} FROM (SELECT '{kind}' AS kind, '{}' AS system) d",
                system.as_str()
            );
            let relayed: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(relayed, system.channel() == Channel::Relay, "{system:?}");
        }
    }
}
