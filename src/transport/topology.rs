//! The RabbitMQ topology, one home for every name and argument.
//!
//! - `<p>.in.<dialect>` (quorum, single active consumer): messages published
//!   there with the default exchange are decoded in that dialect. Dead letters go to quarantine,
//!   at least once (`x-dead-letter-strategy=at-least-once`, which RabbitMQ
//!   allows only with `x-overflow=reject-publish`).
//! - `<p>.out` (direct exchange): routed by recipient HSA-id to one quorum
//!   queue per actor, `<p>.out.<HSA-id>`, holding messages in that actor's
//!   dialect. Full queues reject publishes, so the relay retries instead of
//!   the broker dropping anything.
//! - `<p>.quarantine` (quorum), bound to the `<p>.dlx` exchange: messages
//!   the gateway could not handle, the original as the body and the reason
//!   in headers.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};
use serde_json::json;

use crate::dialects::DialectName;
use crate::routing::Directory;

/// Exchange and queue names under one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_owned(),
        }
    }

    pub fn inbound(&self, dialect: DialectName) -> String {
        format!("{}.in.{}", self.prefix, dialect.as_str())
    }

    /// The journal feed's queue (HL7 v2 ADT, not a case-event dialect).
    pub fn journal_inbound(&self) -> String {
        format!("{}.in.{}", self.prefix, crate::journal::DIALECT)
    }

    /// The deadline watch's alerts, for the region's on-call tooling.
    pub fn alerts(&self) -> String {
        format!("{}.alerts", self.prefix)
    }

    pub fn outbound_exchange(&self) -> String {
        format!("{}.out", self.prefix)
    }

    pub fn outbound(&self, hsa_id: &str) -> String {
        format!("{}.out.{hsa_id}", self.prefix)
    }

    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    pub fn quarantine(&self) -> String {
        format!("{}.quarantine", self.prefix)
    }
}

/// (argument, value) pairs of a queue, as strings (all ours are strings).
fn inbound_arguments(names: &Names) -> Vec<(&'static str, String)> {
    vec![
        ("x-queue-type", "quorum".into()),
        ("x-dead-letter-exchange", names.dead_letter_exchange()),
        ("x-dead-letter-routing-key", names.quarantine()),
        ("x-dead-letter-strategy", "at-least-once".into()),
        ("x-overflow", "reject-publish".into()),
        // Several gateways may consume; one at a time keeps each case's
        // messages in order, and another takes over when it stops.
        ("x-single-active-consumer", "true".into()),
    ]
}

fn quorum_arguments() -> Vec<(&'static str, String)> {
    vec![
        ("x-queue-type", "quorum".into()),
        ("x-overflow", "reject-publish".into()),
    ]
}

fn table(args: &[(&'static str, String)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in args {
        // Our arguments are strings, but for one flag that must be a boolean.
        let value = match v.as_str() {
            "true" => AMQPValue::Boolean(true),
            other => AMQPValue::LongString(other.into()),
        };
        t.insert(ShortString::from(*k), value);
    }
    t
}

async fn queue(
    channel: &Channel,
    name: &str,
    args: &[(&'static str, String)],
) -> Result<(), lapin::Error> {
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            table(args),
        )
        .await
        .map(drop)
}

async fn exchange(channel: &Channel, name: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), lapin::Error> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Declares everything (idempotent: declaring again with the same
/// arguments changes nothing).
pub async fn declare(
    channel: &Channel,
    names: &Names,
    directory: &Directory,
) -> Result<(), lapin::Error> {
    declare_inbound(channel, names).await?;
    declare_alerts(channel, names).await?;
    exchange(channel, &names.outbound_exchange()).await?;
    declare_actors(channel, names, directory).await
}

/// What the inbound consumers use: the dialect queues and quarantine,
/// declared before they consume, so none starts on a queue that is not
/// there yet.
pub async fn declare_inbound(channel: &Channel, names: &Names) -> Result<(), lapin::Error> {
    exchange(channel, &names.dead_letter_exchange()).await?;
    queue(channel, &names.quarantine(), &quorum_arguments()).await?;
    bind(
        channel,
        &names.quarantine(),
        &names.dead_letter_exchange(),
        &names.quarantine(),
    )
    .await?;
    for d in DialectName::ALL {
        queue(channel, &names.inbound(d), &inbound_arguments(names)).await?;
    }
    queue(channel, &names.journal_inbound(), &inbound_arguments(names)).await?;
    Ok(())
}

/// The alerts queue (quorum, persistent): declared by the publisher at
/// each connection, and with the rest of the topology.
pub async fn declare_alerts(channel: &Channel, names: &Names) -> Result<(), lapin::Error> {
    queue(channel, &names.alerts(), &quorum_arguments()).await
}

/// The queue a unit's deliveries go to: its own from the directory, or
/// `<prefix>.out.<HSA-id>` under this gateway's prefix.
pub fn actor_queue(names: &Names, unit: &crate::routing::Unit) -> String {
    if unit.queue == crate::routing::default_queue(&unit.hsa_id) {
        names.outbound(&unit.hsa_id)
    } else {
        unit.queue.clone()
    }
}

/// One outbound queue per directory unit (also after a directory reload).
pub async fn declare_actors(
    channel: &Channel,
    names: &Names,
    directory: &Directory,
) -> Result<(), lapin::Error> {
    for unit in directory.units() {
        let name = actor_queue(names, unit);
        queue(channel, &name, &quorum_arguments()).await?;
        bind(channel, &name, &names.outbound_exchange(), &unit.hsa_id).await?;
    }
    Ok(())
}

/// The topology as RabbitMQ definitions (the management plugin's import
/// format), for `deploy/rabbitmq/definitions.json`.
pub fn definitions(names: &Names, directory: &Directory) -> serde_json::Value {
    let args = |a: &[(&'static str, String)]| -> serde_json::Value {
        a.iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    if v == "true" { json!(true) } else { json!(v) },
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let queue = |name: String, a: &[(&'static str, String)]| json!({"name": name, "vhost": "/", "durable": true, "auto_delete": false, "arguments": args(a)});
    let binding = |queue: String, exchange: String, key: String| json!({"source": exchange, "vhost": "/", "destination": queue, "destination_type": "queue", "routing_key": key, "arguments": {}});
    let mut queues = vec![queue(names.quarantine(), &quorum_arguments())];
    let mut bindings = vec![binding(
        names.quarantine(),
        names.dead_letter_exchange(),
        names.quarantine(),
    )];
    for d in DialectName::ALL {
        queues.push(queue(names.inbound(d), &inbound_arguments(names)));
    }
    queues.push(queue(names.journal_inbound(), &inbound_arguments(names)));
    queues.push(queue(names.alerts(), &quorum_arguments()));
    for unit in directory.units() {
        queues.push(queue(names.outbound(&unit.hsa_id), &quorum_arguments()));
        bindings.push(binding(
            names.outbound(&unit.hsa_id),
            names.outbound_exchange(),
            unit.hsa_id.clone(),
        ));
    }
    let exchange = |name: String| json!({"name": name, "vhost": "/", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {}});
    json!({
        "exchanges": [exchange(names.dead_letter_exchange()), exchange(names.outbound_exchange())],
        "queues": queues,
        "bindings": bindings,
    })
}
