//! `[console]`: where the operator console listens, how operators get in
//! (a token, or mutual TLS with an allow-list), and its access log.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[console]` (see `config/samgate.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// e.g. "127.0.0.1:8090"; empty: not served.
    pub listen: String,
    /// The operators' shared token; empty: one is made at start and
    /// printed once to stderr with the console's address.
    pub token: String,
    /// Who the access log names for a request without an `X-Operator`
    /// header (the token's holder).
    pub operator: String,
    /// The console's access log; empty: `console-access.log` in the data
    /// directory.
    pub access_log: String,
    /// Mutual TLS instead of the token: the console's certificate chain
    /// and key (PEM); empty: plain HTTP.
    pub tls_cert: String,
    pub tls_key: String,
    /// The CA that issues the operators' certificates (PEM).
    pub client_ca: String,
    /// With TLS, the operators let in: the HSA-id in the serialNumber of
    /// their certificates' subject, which the access log then names.
    pub allowed_operators: Vec<String>,
}

/// A `[console]` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleSettingsError {
    #[error(
        "console.allowed_operators, entry {position} of {count}: {value:?} is not an HSA-id ({reason})"
    )]
    AllowedOperator {
        /// 1-based, as a person counts the entries.
        position: usize,
        count: usize,
        value: String,
        reason: String,
    },
    #[error(
        "console.tls_cert is set but console.allowed_operators is empty: with mutual TLS nobody could get in"
    )]
    NobodyAllowed,
    #[error(
        "console.allowed_operators is set but console.tls_cert is not: the list needs mutual TLS"
    )]
    AllowListWithoutTls,
}

impl ConsoleConfig {
    /// Whether operators get in by their certificates (mutual TLS).
    pub fn mutual_tls(&self) -> bool {
        !self.tls_cert.is_empty()
    }

    /// Checks the access settings: an allow-list of HSA-ids with TLS, and
    /// only with it.
    pub fn validate(&self) -> Result<(), ConsoleSettingsError> {
        let count = self.allowed_operators.len();
        for (i, value) in self.allowed_operators.iter().enumerate() {
            samgate_proto::ids::HsaId::check(value).map_err(|e| {
                ConsoleSettingsError::AllowedOperator {
                    position: i + 1,
                    count,
                    value: value.clone(),
                    reason: e.reason,
                }
            })?;
        }
        match (self.mutual_tls(), count) {
            (true, 0) => Err(ConsoleSettingsError::NobodyAllowed),
            (false, 1..) => Err(ConsoleSettingsError::AllowListWithoutTls),
            _ => Ok(()),
        }
    }

    /// The access log's path.
    pub fn access_log_path(&self, data_dir: &Path) -> PathBuf {
        if self.access_log.is_empty() {
            data_dir.join("console-access.log")
        } else {
            PathBuf::from(&self.access_log)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(tls: bool, allowed: &[&str]) -> ConsoleConfig {
        ConsoleConfig {
            listen: "127.0.0.1:0".into(),
            tls_cert: if tls {
                "console.pem".into()
            } else {
                String::new()
            },
            allowed_operators: allowed.iter().map(|a| a.to_string()).collect(),
            ..ConsoleConfig::default()
        }
    }

    #[test]
    fn the_allow_list_goes_with_tls_and_holds_hsa_ids() {
        assert_eq!(console(false, &[]).validate(), Ok(()));
        assert_eq!(console(true, &["SE2321000016-OPS1"]).validate(), Ok(()));
        assert_eq!(
            console(true, &[]).validate(),
            Err(ConsoleSettingsError::NobodyAllowed)
        );
        assert_eq!(
            console(false, &["SE2321000016-OPS1"]).validate(),
            Err(ConsoleSettingsError::AllowListWithoutTls)
        );
        let e = console(true, &["SE2321000016-OPS1", ""])
            .validate()
            .unwrap_err();
        assert!(
            matches!(
                e,
                ConsoleSettingsError::AllowedOperator {
                    position: 2,
                    count: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("console.allowed_operators, entry 2 of 2")
        );
    }
}
