//! `samgate delivery list|replay`: the quarantined deliveries, and making
//! them again once what quarantined them is fixed.
//!
//! `list` prints one JSON object per quarantined delivery (its message id,
//! case, recipient, system, kind and reason; never the event, so no
//! person's identity number or name). `replay` makes each named delivery
//! pending again, through the system the directory gives its recipient
//! today (`routing::replay_system`): the relay or the pusher then makes it
//! under the same message id. A running `serve` picks it up at its next
//! read of the outbox (the relay reads at least every half second).

use anyhow::Context;
use serde_json::json;

use super::Cli;
use crate::config::Config;
use crate::store::Delivery;

#[derive(Debug, clap::Subcommand)]
pub enum DeliveryCommand {
    /// List quarantined deliveries, one JSON object per line.
    List {
        /// Deliveries per page (default 50, at most 500).
        #[arg(long, default_value_t = 50)]
        page_size: usize,
        /// Only those past this outbox position (the `more:` line of a
        /// previous list gives it).
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Make quarantined deliveries again; one line per message id.
    Replay {
        /// The deliveries' message ids, as `list` prints them.
        #[arg(required = true)]
        message_ids: Vec<String>,
    },
}

fn delivery_json(d: &Delivery) -> serde_json::Value {
    json!({
        "id": d.id,
        "messageId": d.message_id,
        "caseId": d.case_id,
        "sequence": d.sequence,
        "recipient": d.recipient,
        "system": d.system_name(),
        "kind": d.kind.as_str(),
        "reason": d.reason,
    })
}

pub async fn run(cli: &Cli, config: Config, command: &DeliveryCommand) -> anyhow::Result<()> {
    let store = crate::store::open_existing(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let result = match command {
        DeliveryCommand::List { page_size, after } => {
            let page = store.quarantined(*after, *page_size).await?;
            for d in &page {
                outln!("{}", serde_json::to_string(&delivery_json(d))?);
            }
            if let Some(last) = page.last().filter(|_| page.len() == *page_size) {
                eprintln!("more: --after {}", last.id);
            }
            Ok(())
        }
        DeliveryCommand::Replay { message_ids } => {
            let directory = config
                .directory
                .load()
                .context("the actor directory does not validate")?;
            let mut refused = 0;
            for message_id in message_ids {
                match replay(store.as_ref(), &directory, message_id).await? {
                    Ok(system) => outln!("{message_id}: pending again, through {system}"),
                    Err(why) => {
                        refused += 1;
                        eprintln!("{message_id}: not replayed: {why}");
                    }
                }
            }
            match refused {
                0 => Ok(()),
                n => Err(anyhow::anyhow!("{n} of {} not replayed", message_ids.len())),
            }
        }
    };
    store.close().await;
    result
}

/// Replays one delivery: the system it goes through, or why it does not.
async fn replay(
    store: &dyn crate::store::Store,
    directory: &crate::routing::Directory,
    message_id: &str,
) -> anyhow::Result<Result<String, String>> {
    use crate::routing::ReplayOutcome;
    let replay = crate::routing::replay(store, directory, message_id).await?;
    Ok(match replay.outcome {
        ReplayOutcome::Replayed(system) => Ok(system.as_str().to_owned()),
        ReplayOutcome::Refused(why) => Err(why.to_string()),
        ReplayOutcome::NotQuarantined => Err(match replay.delivery {
            None => "no such delivery".into(),
            Some(d) if d.status != crate::store::DeliveryStatus::Quarantined => {
                format!("it is {}, not quarantined", d.status.as_str())
            }
            Some(_) => "it was no longer quarantined".into(),
        }),
    })
}
