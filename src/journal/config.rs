//! `[hl7]`: the journal feed's settings (hl7v2.md).

use std::collections::BTreeMap;

use samgate_proto::codes::CanonicalEnum;
use samgate_proto::v1::DischargeDestination;
use serde::{Deserialize, Serialize};

/// The longest discharge grace period that may be set: a week. Longer would
/// leave the municipality without notice past any deadline that matters.
pub const MAX_GRACE_MINUTES: u64 = 7 * 24 * 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hl7Config {
    /// The MLLP listener, e.g. "127.0.0.1:2575"; empty: not served.
    pub listen: String,
    /// TLS: samgate's certificate chain and key, the senders' CA (PEM).
    /// All empty: plain TCP.
    pub tls_cert: String,
    pub tls_key: String,
    pub client_ca: String,
    /// HSA-ids (client certificates' serialNumber) that may send over TLS.
    pub allowed_senders: Vec<String>,
    /// Closes a connection quiet this long; 0: never (senders keep one
    /// quiet connection overnight).
    pub idle_timeout_seconds: u64,
    /// How long after the journal's A03 samgate waits for the ward's own
    /// discharge notice before it appends one itself; 0 allowed.
    pub discharge_grace_minutes: u64,
    /// Process messages with processing id `T` (training) as real ones.
    pub accept_training: bool,
    /// PV1-36 codes → discharge destination names, over the contract's
    /// default table (HL7 table 0112 is user-defined).
    pub disposition: BTreeMap<String, String>,
}

impl Default for Hl7Config {
    /// The built-in `[hl7]` of config/samgate.toml (a test holds the two
    /// together): no listener, a grace of 60 minutes, the default table.
    fn default() -> Self {
        Hl7Config {
            listen: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            client_ca: String::new(),
            allowed_senders: Vec::new(),
            idle_timeout_seconds: 0,
            discharge_grace_minutes: 60,
            accept_training: false,
            disposition: BTreeMap::new(),
        }
    }
}

/// A setting of `[hl7]` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("hl7.{setting}: {reason}")]
pub struct Hl7ConfigError {
    pub setting: String,
    pub reason: String,
}

impl Hl7Config {
    /// The reader's options: training, and the disposition table (the
    /// default with the configured codes over it).
    pub fn reader_options(&self) -> Result<samgate_hl7v2::Options, Hl7ConfigError> {
        let mut table: BTreeMap<String, DischargeDestination> = BTreeMap::new();
        let defaults = samgate_hl7v2::Dispositions::default();
        for code in [
            "01", "02", "03", "04", "05", "06", "07", "20", "40", "41", "42",
        ] {
            if let Some(d) = defaults.get(code) {
                table.insert(code.to_owned(), d);
            }
        }
        for (code, name) in &self.disposition {
            let destination =
                DischargeDestination::from_name(name).ok_or_else(|| Hl7ConfigError {
                    setting: format!("disposition.{code}"),
                    reason: format!(
                        "{name:?} is not a discharge destination ({})",
                        DischargeDestination::all()
                            .into_iter()
                            .filter_map(|d| d.bare_name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            table.insert(code.clone(), destination);
        }
        Ok(samgate_hl7v2::Options {
            accept_training: self.accept_training,
            dispositions: samgate_hl7v2::Dispositions::new(table),
        })
    }

    /// The grace period in milliseconds, checked.
    pub fn grace_ms(&self) -> Result<i64, Hl7ConfigError> {
        if self.discharge_grace_minutes > MAX_GRACE_MINUTES {
            return Err(Hl7ConfigError {
                setting: "discharge_grace_minutes".into(),
                reason: format!(
                    "{} is more than {MAX_GRACE_MINUTES} (a week)",
                    self.discharge_grace_minutes
                ),
            });
        }
        Ok(self.discharge_grace_minutes as i64 * 60_000)
    }

    /// Whether the listener speaks TLS.
    pub fn tls(&self) -> bool {
        !(self.tls_cert.is_empty() && self.tls_key.is_empty() && self.client_ca.is_empty())
    }
}
