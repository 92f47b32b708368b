//! Logging with tracing: human-readable or JSON lines on standard error.
//!
//! Nothing in samgate logs a person's identity number or name: log lines
//! carry case ids, message ids, payload types, dialects and element paths
//! (tests/logging.rs checks this).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber writing to `writer`. `RUST_LOG`, when
/// set, overrides the configured level.
pub fn init_with<W>(config: &LogConfig, writer: W) -> anyhow::Result<()>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&config.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Installs the global subscriber on standard error.
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    init_with(config, std::io::stderr)
}
