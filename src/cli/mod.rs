//! The `samgate` command line (clap). Each subcommand lives in its own
//! module; this one parses arguments, loads configuration, sets up logging
//! and dispatches. Errors are reported here, at the edge, with anyhow.

/// `println!` for the commands' output: a reader that has gone away ends
/// the process quietly instead of a panic (see `output`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod alerts;
mod case;
mod delivery;
mod demo;
mod import;
mod indicators;
mod output;
mod person;
mod serve;
mod sip;
mod translate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use serve::shutdown_signal;
pub use translate::{Form, translate};

use crate::config::Config;

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
    /// Play a cross-county story end to end on embedded defaults.
    Demo(demo::DemoArgs),
    /// Run the gateway: the gRPC API on the embedded store.
    Serve(serve::ServeArgs),
    /// Read cases from the store.
    #[command(subcommand)]
    Case(case::CaseCommand),
    /// SIP documents for the citizen portal.
    #[command(subcommand)]
    Sip(sip::SipCommand),
    /// Quarantined deliveries: list them, make them again.
    #[command(subcommand)]
    Delivery(delivery::DeliveryCommand),
    /// The person register: lift a protected identity (audited).
    #[command(subcommand)]
    Person(person::PersonCommand),
    /// Translate one message between dialects and canonical JSON.
    Translate(translate::TranslateArgs),
    /// Check dialect files (or HL7 v2 feed files); one line per file, per
    /// message for an HL7 v2 batch.
    Validate(translate::ValidateArgs),
    /// Load history in bulk: files, directories or standard input, through
    /// the gateway's own path (exit 1 when any message was refused).
    Import(import::ImportArgs),
    /// Indicators per month and municipality, county, unit or all (CSV, JSON).
    Indicators(indicators::IndicatorsArgs),
    /// Legal deadlines broken: the alerts the deadline watch of `serve` has
    /// raised, one JSON object a line.
    Alerts,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run_async(cli: &Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    // The demo's and the case commands' output is the product: their logs
    // show only what went wrong.
    if matches!(
        cli.command,
        Command::Demo(_)
            | Command::Case(_)
            | Command::Sip(_)
            | Command::Delivery(_)
            | Command::Person(_)
            | Command::Indicators(_)
            | Command::Alerts
    ) {
        config.log.level = "warn".into();
    }
    crate::telemetry::init(&config.log)?;
    let rt = runtime()?;
    match &cli.command {
        Command::Serve(args) => rt.block_on(serve::run(cli, config, args)),
        Command::Case(command) => rt.block_on(case::run(cli, config, command)),
        Command::Demo(args) => rt.block_on(demo::run(cli, config, args)),
        Command::Sip(command) => rt.block_on(sip::run(cli, config, command)),
        Command::Delivery(command) => rt.block_on(delivery::run(cli, config, command)),
        Command::Person(command) => rt.block_on(person::run(cli, config, command)),
        Command::Indicators(args) => rt.block_on(indicators::run(cli, config, args)),
        Command::Alerts => rt.block_on(alerts::run(cli, config)),
        Command::Translate(_) | Command::Validate(_) | Command::Import(_) => {
            unreachable!("commands with their own exit codes")
        }
    }
}

/// The gateway as `serve`, `demo` and `import` run it, on the configured
/// store (created if missing) and directory, and the store it writes to.
/// Without `deliver` events are stored and routed participants kept, but no
/// outbox rows written (`import --no-deliver`).
async fn assemble(
    cli: &Cli,
    config: &Config,
    deliver: bool,
) -> anyhow::Result<(
    std::sync::Arc<dyn crate::store::Store>,
    std::sync::Arc<crate::gateway::Gateway>,
)> {
    use anyhow::Context;
    let store = crate::store::open(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let directory = config
        .directory
        .load()
        .context("the actor directory does not validate")?;
    let router = crate::routing::Router::new(config.engine(), directory)
        .publishing_plans(config.portal.push.enabled())
        .delivering(deliver);
    let gateway = std::sync::Arc::new(crate::gateway::Gateway::new(store.clone(), router));
    Ok((store, gateway))
}

/// An error and its causes on one line, each cause once: library errors
/// often repeat their source's text in their own, which `{:#}` would print
/// again for every layer.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Translate(args) => translate::run_translate(args),
        Command::Validate(args) => translate::run_validate(args),
        Command::Import(args) => import::main(&cli, args),
        _ => match run_async(&cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", report(&e));
                ExitCode::FAILURE
            }
        },
    }
}
