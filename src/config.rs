//! Configuration: the defaults in `config/samgate.toml` (built in), then the
//! file given with `--config`, then `SAMGATE_*` environment variables, each
//! layer overriding the one before.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::engine::LiabilityAgreements;

/// The built-in defaults: the same file that ships in `config/`.
pub const DEFAULT_CONFIG: &str = include_str!("../config/samgate.toml");

/// The fewest participants `cases.max_participants` may allow: an
/// admission brings the ward, the home municipality's home care and social
/// services, and the listed primary-care unit.
const MIN_PARTICIPANTS: usize = 4;

/// Environment variables that are command-line options, not config keys.
const CLI_VARIABLES: &[&str] = &["SAMGATE_DATA_DIR", "SAMGATE_CONFIG"];
/// Keys that have no default and so cannot be found by walking the
/// defaults, but may still be set from the environment.
const OPTIONAL_KEYS: &[&[&str]] = &[&["payment_liability", "default", "cutoff_hour"]];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub grpc: GrpcConfig,
    pub store: StoreConfig,
    pub directory: DirectoryConfig,
    pub amqp: crate::transport::AmqpConfig,
    pub portal: PortalConfig,
    pub log: LogConfig,
    pub payment_liability: LiabilityAgreements,
    pub cases: CasesConfig,
    pub metrics: crate::metrics::MetricsConfig,
    pub hl7: crate::journal::Hl7Config,
    pub console: crate::console::ConsoleConfig,
}

/// Limits of the case rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesConfig {
    /// The most participants an event may bring a case to (see
    /// `engine::DEFAULT_MAX_PARTICIPANTS`).
    pub max_participants: usize,
}

impl Config {
    /// The case engine as configured.
    pub fn engine(&self) -> crate::engine::Engine {
        crate::engine::Engine::new(self.payment_liability.clone())
            .with_max_participants(self.cases.max_participants)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// A folder of county files; empty for the built-in directory.
    pub path: String,
}

impl DirectoryConfig {
    /// The configured directory, checked.
    pub fn load(&self) -> Result<crate::routing::Directory, crate::routing::DirectoryError> {
        if self.path.is_empty() {
            Ok(crate::routing::Directory::builtin())
        } else {
            crate::routing::Directory::load(Path::new(&self.path))
        }
    }
}

/// `[portal]`: kept with the portal (`portal::settings`).
pub use crate::portal::settings::PortalConfig;

/// The gRPC API's authentication (see the README's "Authentication").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// samgate's certificate chain and key, and the CA of the callers'
    /// certificates (PEM); all empty: plaintext, on loopback only.
    pub tls_cert: String,
    pub tls_key: String,
    pub client_ca: String,
    /// Plaintext off loopback too (`serve --insecure-plaintext`).
    pub insecure_plaintext: bool,
    /// A TOML file of `[[access]]` entries; empty: none.
    pub access_table: String,
    /// Entries written here as `[[grpc.access]]`.
    #[serde(default)]
    pub access: Vec<crate::api::access::AccessEntry>,
    /// The gRPC access log; empty: `grpc-access.log` in the data directory.
    pub access_log: String,
}

impl GrpcConfig {
    /// Whether any TLS file is set: then all three must be.
    pub fn tls(&self) -> bool {
        !(self.tls_cert.is_empty() && self.tls_key.is_empty() && self.client_ca.is_empty())
    }

    /// The access table from `access_table` and `access`, checked.
    pub fn access_table(
        &self,
    ) -> Result<crate::api::access::AccessTable, crate::api::access::AccessTableError> {
        use crate::api::access::AccessTable;
        let from_file = if self.access_table.is_empty() {
            Vec::new()
        } else {
            AccessTable::read_file(Path::new(&self.access_table))?
        };
        let entries = from_file
            .iter()
            .map(|e| (self.access_table.as_str(), e))
            .chain(self.access.iter().map(|e| ("grpc.access", e)));
        AccessTable::new(entries)
    }

    /// The access log's path.
    pub fn access_log_path(&self, data_dir: &Path) -> std::path::PathBuf {
        if self.access_log.is_empty() {
            data_dir.join("grpc-access.log")
        } else {
            std::path::PathBuf::from(&self.access_log)
        }
    }
}

/// `[log]`: kept with the logging (`telemetry`).
pub use crate::telemetry::{LogConfig, LogFormat};

/// Deep-merges `over` into `base`.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn leaf_paths(table: &toml::Table, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for (k, v) in table {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        match v {
            toml::Value::Table(t) if !t.is_empty() => leaf_paths(t, &path, out),
            _ => out.push(path),
        }
    }
}

fn env_name(path: &[String]) -> String {
    format!("SAMGATE_{}", path.join("_").to_uppercase())
}

/// An environment value as TOML (numbers, booleans), else as a string.
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut t = table;
    for p in parents {
        t = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("config sections are tables");
    }
    t.insert(last.clone(), value);
}

impl Config {
    /// Loads the layers; `env` is the process environment (a parameter so
    /// tests need not change the real one).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table: toml::Table =
            toml::from_str(DEFAULT_CONFIG).context("built-in configuration")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let over: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            merge(&mut table, over);
        }
        let mut keys = Vec::new();
        leaf_paths(&table, &[], &mut keys);
        keys.extend(
            OPTIONAL_KEYS
                .iter()
                .map(|p| p.iter().map(|s| s.to_string()).collect()),
        );
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SAMGATE_"))
            .collect();
        for (name, raw) in &env {
            // SAMGATE_TEST_* belong to the test suite, which passes its
            // environment on to the samgate processes it starts.
            if CLI_VARIABLES.contains(&name.as_str()) || name.starts_with("SAMGATE_TEST_") {
                continue;
            }
            let Some(path) = keys.iter().find(|p| env_name(p) == *name) else {
                anyhow::bail!("{name} is not a samgate setting (see config/samgate.toml)");
            };
            set(&mut table, path, env_value(raw));
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        if config.cases.max_participants < MIN_PARTICIPANTS {
            anyhow::bail!(
                "cases.max_participants: {} is too few; a case needs at least {MIN_PARTICIPANTS} (its author and the units routing adds)",
                config.cases.max_participants
            );
        }
        config
            .payment_liability
            .default
            .check()
            .map_err(|e| anyhow::anyhow!("payment_liability.default.{e}"))?;
        for (code, rule) in &config.payment_liability.counties {
            samgate_proto::ids::Lanskod::parse(code)
                .with_context(|| format!("payment_liability.counties.\"{code}\""))?;
            rule.check()
                .map_err(|e| anyhow::anyhow!("payment_liability.counties.\"{code}\".{e}"))?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:50051");
        assert_eq!(c.log.format, LogFormat::Human);
        assert_eq!(c.payment_liability.default.days, 3);
        // The journal feed's defaults in code are the file's.
        assert_eq!(c.hl7, crate::journal::Hl7Config::default());
    }

    #[test]
    fn the_journal_feed_is_configured_from_the_environment_and_checked() {
        let c = Config::load(
            None,
            env(&[
                ("SAMGATE_HL7_LISTEN", "127.0.0.1:2575"),
                ("SAMGATE_HL7_DISCHARGE_GRACE_MINUTES", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(c.hl7.listen, "127.0.0.1:2575");
        assert_eq!(c.hl7.grace_ms().unwrap(), 0);
        let mut hl7 = c.hl7.clone();
        hl7.disposition.insert("09".into(), "NOWHERE".into());
        let e = hl7.reader_options().unwrap_err().to_string();
        assert!(
            e.starts_with("hl7.disposition.09: \"NOWHERE\" is not"),
            "{e}"
        );
        hl7.disposition
            .insert("09".into(), "SHORT_TERM_CARE".into());
        let options = hl7.reader_options().unwrap();
        assert_eq!(
            options.dispositions.get("09"),
            Some(samgate_proto::v1::DischargeDestination::ShortTermCare)
        );
        assert_eq!(
            options.dispositions.get("01"),
            Some(samgate_proto::v1::DischargeDestination::Home)
        );
        hl7.discharge_grace_minutes = crate::journal::config::MAX_GRACE_MINUTES + 1;
        assert!(hl7.grace_ms().is_err());
    }

    #[test]
    fn the_console_is_off_by_default_and_configured_from_the_environment() {
        let c = Config::load(None, env(&[])).unwrap();
        assert!(c.console.listen.is_empty());
        assert!(c.console.token.is_empty());
        assert_eq!(c.console.operator, "console");
        assert_eq!(
            c.console.access_log_path(Path::new("/data")),
            Path::new("/data/console-access.log")
        );
        let c = Config::load(
            None,
            env(&[
                ("SAMGATE_CONSOLE_LISTEN", "127.0.0.1:8090"),
                ("SAMGATE_CONSOLE_TOKEN", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(c.console.listen, "127.0.0.1:8090");
        assert_eq!(c.console.token, "s3cret");
    }

    #[test]
    fn environment_overrides_every_key() {
        let c = Config::load(
            None,
            env(&[
                ("SAMGATE_SERVER_LISTEN", "0.0.0.0:6000"),
                ("SAMGATE_LOG_FORMAT", "json"),
                ("SAMGATE_PAYMENT_LIABILITY_DEFAULT_DAYS", "5"),
                ("SAMGATE_PAYMENT_LIABILITY_DEFAULT_CUTOFF_HOUR", "12"),
                ("SAMGATE_DATA_DIR", "/tmp/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:6000");
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.payment_liability.default.days, 5);
        assert_eq!(c.payment_liability.default.cutoff_hour, Some(12));
        let err = Config::load(None, env(&[("SAMGATE_SERVR_LISTEN", "x")])).unwrap_err();
        assert!(err.to_string().contains("SAMGATE_SERVR_LISTEN"));
    }

    #[test]
    fn the_grpc_access_table_comes_from_a_file_and_inline_entries() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("access.toml");
        std::fs::write(
            &table,
            "[[access]]\nhsa_id = \"SE2321000016-PLAT\"\nunits = [\"SE2321000164-7381\"]\nrights = [\"submit\"]\n",
        )
        .unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[grpc.access]]\nhsa_id = \"SE2120000449-KHSL\"\nunits = [\"SE2120000449-KHSL\"]\nrights = [\"receive\"]\n",
        )
        .unwrap();
        let table_path = table.to_str().unwrap();
        let c = Config::load(
            Some(&path),
            env(&[
                ("SAMGATE_GRPC_ACCESS_TABLE", table_path),
                ("SAMGATE_GRPC_INSECURE_PLAINTEXT", "true"),
            ]),
        )
        .unwrap();
        assert!(c.grpc.insecure_plaintext);
        assert!(!c.grpc.tls());
        assert_eq!(c.grpc.access_table().unwrap().len(), 2);
        // The same HSA-id in the file and inline, in other case: refused,
        // naming where the second came from.
        std::fs::write(&path, "[[grpc.access]]\nhsa_id = \"SE2321000016-plat\"\n").unwrap();
        let c = Config::load(
            Some(&path),
            env(&[("SAMGATE_GRPC_ACCESS_TABLE", table_path)]),
        )
        .unwrap();
        let err = c.grpc.access_table().unwrap_err().to_string();
        assert!(
            err.contains("grpc.access") && err.contains("SE2321000016-plat"),
            "{err}"
        );
    }

    #[test]
    fn a_file_overrides_defaults_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[payment_liability.counties.\"05\"]\ndays = 4\ncounting = \"working\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c.payment_liability.counties["05"].days, 4);
        std::fs::write(&path, "[payment_liability.counties.\"02\"]\ndays = 4\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).is_err());
        std::fs::write(&path, "[server]\nlisten = 1\nport = 2\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).is_err());
    }

    #[test]
    fn numbers_out_of_range_are_refused_at_load() {
        let refused =
            |pairs: &[(&str, &str)]| format!("{:#}", Config::load(None, env(pairs)).unwrap_err());
        let e = refused(&[("SAMGATE_PAYMENT_LIABILITY_DEFAULT_DAYS", "4294967295")]);
        assert!(e.contains("payment_liability.default.days"), "{e}");
        let e = refused(&[("SAMGATE_PAYMENT_LIABILITY_DEFAULT_CUTOFF_HOUR", "24")]);
        assert!(e.contains("cutoff_hour: 24"), "{e}");
        let e = refused(&[("SAMGATE_CASES_MAX_PARTICIPANTS", "1")]);
        assert!(e.contains("cases.max_participants"), "{e}");
    }
}
