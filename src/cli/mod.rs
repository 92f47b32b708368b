//! The `samgate` command line (clap). Each subcommand lives in its own
//! module; this one parses arguments, sets up logging, and dispatches.
//! Errors are reported here, at the edge, with anyhow.

mod translate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use translate::{Form, translate};

/// samgate — interoperability gateway for Swedish coordinated care.
#[derive(Debug, Parser)]
#[command(name = "samgate", version, about, long_about = None)]
pub struct Cli {
    /// Where the embedded store keeps its data.
    #[arg(
        long,
        global = true,
        env = "SAMGATE_DATA_DIR",
        default_value = "./samgate-data"
    )]
    pub data_dir: PathBuf,
    /// Configuration file (TOML); every key can also be set as SAMGATE_<KEY>.
    #[arg(long, global = true, env = "SAMGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate one message between dialects and canonical JSON.
    Translate(translate::TranslateArgs),
    /// Check dialect files; one line per file.
    Validate(translate::ValidateArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Translate(args) => translate::run_translate(args),
        Command::Validate(args) => translate::run_validate(args),
    }
}
