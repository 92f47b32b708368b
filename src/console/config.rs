//! `[console]`: where the operator console listens, its token, and its
//! access log.

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
}

impl ConsoleConfig {
    /// The access log's path.
    pub fn access_log_path(&self, data_dir: &Path) -> PathBuf {
        if self.access_log.is_empty() {
            data_dir.join("console-access.log")
        } else {
            PathBuf::from(&self.access_log)
        }
    }
}
