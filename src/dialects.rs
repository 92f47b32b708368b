//! The dialects the gateway speaks, by name: one registry so the CLI, the
//! gRPC services and the transports agree on names and adapters.

use samgate_adapter_core::Dialect;
use samgate_cosmic_link::CosmicLink;
use samgate_lifecare::Lifecare;
use samgate_proto::v1::{self, SourceSystem};
use samgate_samsa::Samsa;

/// A dialect by its name on the command line and in configuration.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DialectName {
    Lifecare,
    CosmicLink,
    Samsa,
}

static LIFECARE: Lifecare = Lifecare;
static COSMIC_LINK: CosmicLink = CosmicLink;
static SAMSA: Samsa = Samsa;

impl DialectName {
    pub const ALL: [DialectName; 3] = [
        DialectName::Lifecare,
        DialectName::CosmicLink,
        DialectName::Samsa,
    ];

    /// The adapter.
    pub fn adapter(self) -> &'static dyn Dialect {
        match self {
            DialectName::Lifecare => &LIFECARE,
            DialectName::CosmicLink => &COSMIC_LINK,
            DialectName::Samsa => &SAMSA,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.adapter().name()
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }

    pub fn from_proto(d: v1::Dialect) -> Option<Self> {
        match d {
            v1::Dialect::Lifecare => Some(DialectName::Lifecare),
            v1::Dialect::CosmicLink => Some(DialectName::CosmicLink),
            v1::Dialect::Samsa => Some(DialectName::Samsa),
            v1::Dialect::Unspecified | v1::Dialect::Hl7v2 => None,
        }
    }

    pub fn source_system(self) -> SourceSystem {
        self.adapter().source_system()
    }
}

impl std::fmt::Display for DialectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
