//! `samgate indicators`: the counties' month-by-month follow-up, computed
//! from every stored event (see `crate::indicators`), as CSV, JSON or one
//! self-contained HTML page with a chart per column.

use anyhow::Context;

use super::Cli;
use crate::config::Config;
use crate::indicators::{self, Grouping, Month};

#[derive(Debug, clap::Args)]
pub struct IndicatorsArgs {
    /// The first month, YYYY-MM (Swedish local time).
    #[arg(long, value_parser = Month::parse)]
    pub from: Month,
    /// The last month, YYYY-MM, included.
    #[arg(long, value_parser = Month::parse)]
    pub to: Month,
    /// municipality, county, unit or all.
    #[arg(long, value_parser = Grouping::parse, default_value = "municipality")]
    pub by: Grouping,
    /// csv, json or html (one self-contained page, printable on A4).
    #[arg(long, value_parser = ["csv", "json", "html"], default_value = "csv")]
    pub format: String,
    /// Write counts from 1 to 4 as `<5` and leave out medians and
    /// percentiles of fewer than 5 values (for publication).
    #[arg(long)]
    pub suppress_small: bool,
}

pub async fn run(cli: &Cli, config: Config, args: &IndicatorsArgs) -> anyhow::Result<()> {
    if args.from > args.to {
        anyhow::bail!("--from {} is after --to {}", args.from, args.to);
    }
    let store = crate::store::open_existing(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let rows = indicators::from_store(
        store.as_ref(),
        args.from,
        args.to,
        args.by,
        &config.payment_liability,
    )
    .await;
    store.close().await;
    let rows = rows.context("reading the events")?;
    if args.format == "json" {
        let value =
            indicators::output::json(&rows, args.from, args.to, args.by, args.suppress_small);
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else if args.format == "html" {
        super::output::write(format_args!(
            "{}",
            indicators::html::page(&rows, args.from, args.to, args.by, args.suppress_small)
        ));
    } else {
        super::output::write(format_args!(
            "{}",
            indicators::output::csv(&rows, args.suppress_small)
        ));
    }
    Ok(())
}
