//! `samgate alerts`: the deadline watch's raised alerts, one JSON object a
//! line (the form published to the alerts queue), most overdue first. The
//! watch runs in `samgate serve`; this reads what it has raised.

use anyhow::Context;

use super::Cli;
use crate::config::Config;

pub async fn run(cli: &Cli, config: Config) -> anyhow::Result<()> {
    let store = crate::store::open_existing(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let alerts = store.active_alerts().await;
    store.close().await;
    for alert in alerts.context("reading the alerts")? {
        outln!("{}", crate::transport::alerts::body(&alert));
    }
    Ok(())
}
