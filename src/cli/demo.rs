//! `samgate demo`: a cross-county story on embedded defaults, end to end.
//!
//! Esther, resident of Linköping (Östergötland, Cosmic Link), is admitted to
//! an orthopaedic ward in Örebro (Lifecare). Each party sends its messages
//! in its own system's dialect — the spec's example messages — through the
//! same path as production traffic (decode, rules, routing, outbox), and
//! the demo prints what each actor received and in which dialect. The case
//! and its SIP stay in the data directory; running the demo again changes
//! nothing (every message is idempotent) and prints the same.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::json;

use super::Cli;
use crate::config::Config;
use crate::dialects::DialectName;
use crate::store::{Delivery, DeliveryStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoFormat {
    Text,
    /// One JSON object per delivery, for scripts.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[arg(long, value_enum, default_value_t = DemoFormat::Text)]
    pub format: DemoFormat,
}

/// The story: who sends what, in the dialect of the sender's system. The
/// messages are the specification's examples (tests/data/examples).
const STORY: &[(&str, DialectName, &[u8])] = &[
    (
        "the ward admits Esther and sends the admission notice",
        DialectName::Lifecare,
        include_bytes!("../../tests/data/examples/lifecare/admissionNotice.xml"),
    ),
    (
        "Linköping social services answer with what Esther has at home",
        DialectName::CosmicLink,
        include_bytes!("../../tests/data/examples/cosmic-link/inNotice.xml"),
    ),
    (
        "her primary-care unit names a care contact",
        DialectName::CosmicLink,
        include_bytes!("../../tests/data/examples/cosmic-link/careContactAssigned.xml"),
    ),
    (
        "the ward declares her ready for discharge",
        DialectName::Lifecare,
        include_bytes!("../../tests/data/examples/lifecare/dischargeReady.xml"),
    ),
    (
        "the care contact calls the SIP meeting",
        DialectName::CosmicLink,
        include_bytes!("../../tests/data/examples/cosmic-link/sipInvitation.xml"),
    ),
    (
        "the SIP is written down",
        DialectName::CosmicLink,
        include_bytes!("../../tests/data/examples/cosmic-link/sipPlan.xml"),
    ),
    (
        "the ward discharges her home",
        DialectName::Lifecare,
        include_bytes!("../../tests/data/examples/lifecare/dischargeNotice.xml"),
    ),
];

pub async fn run(cli: &Cli, config: Config, args: &DemoArgs) -> anyhow::Result<()> {
    let (store, gateway) = super::assemble(cli, &config, true).await?;
    let directory = gateway.router().directory();
    let name_of = |hsa: &str| {
        directory
            .unit(hsa)
            .map_or_else(|| hsa.to_owned(), |u| u.name.clone())
    };

    let mut case_id = String::new();
    let mut steps = Vec::new();
    for (what, dialect, bytes) in STORY {
        let (submitted, _) = gateway
            .submit_raw(*dialect, bytes)
            .await
            .with_context(|| format!("the demo step '{what}' was refused"))?;
        case_id = submitted.case_id.clone();
        steps.push((*what, *dialect, submitted.sequence));
    }
    let deliveries = store.case_deliveries(&case_id).await?;
    let case = store.get_case(&case_id).await?.context("the demo case")?;
    store.close().await;

    match args.format {
        DemoFormat::Json => {
            for d in &deliveries {
                outln!("{}", delivery_json(d, &name_of(&d.recipient), &case_id));
            }
        }
        DemoFormat::Text => print_text(&steps, &deliveries, &case, &name_of, cli),
    }
    Ok(())
}

fn message_type(d: &Delivery) -> &'static str {
    if d.kind == crate::store::DeliveryKind::Notice {
        return "notice";
    }
    d.event
        .payload
        .as_ref()
        .map_or("none", samgate_proto::validate::payload_name)
}

fn delivery_json(d: &Delivery, name: &str, case_id: &str) -> serde_json::Value {
    let mut v = json!({
        "recipient": d.recipient,
        "recipientName": name,
        "dialect": d.system_name(),
        "messageType": message_type(d),
        "caseId": case_id,
        "messageId": d.message_id,
    });
    if d.status == DeliveryStatus::Quarantined {
        v["quarantined"] = json!(d.reason);
    }
    v
}

fn print_text(
    steps: &[(&str, DialectName, i64)],
    deliveries: &[Delivery],
    case: &samgate_proto::v1::Case,
    name_of: &dyn Fn(&str) -> String,
    cli: &Cli,
) {
    outln!(
        "samgate demo: Esther (a test person registered in Linköping, 0580) is admitted in Örebro.\n"
    );
    for (what, dialect, sequence) in steps {
        let event = deliveries
            .iter()
            .find(|d| d.sequence == *sequence)
            .map(|d| &d.event);
        let author = event
            .and_then(|e| e.author.as_ref())
            .map(|a| a.name.clone())
            .unwrap_or_default();
        outln!("{sequence}. {what}: {author} sends in {dialect}");
        for d in deliveries.iter().filter(|d| d.sequence == *sequence) {
            match d.status {
                DeliveryStatus::Quarantined => {
                    outln!(
                        "     ✗ {} ({}): quarantined: {}",
                        name_of(&d.recipient),
                        d.recipient,
                        d.reason
                    )
                }
                _ => outln!(
                    "     → {} ({}) receives {} in {}",
                    name_of(&d.recipient),
                    d.recipient,
                    message_type(d),
                    d.system_name()
                ),
            }
        }
    }
    outln!("\nWhat each actor received:");
    let mut by_actor: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in deliveries {
        by_actor.entry(&d.recipient).or_default().push(d);
    }
    for (actor, list) in by_actor {
        let system = list.first().map_or("", |d| d.system_name());
        let types: Vec<&str> = list.iter().map(|d| message_type(d)).collect();
        outln!(
            "  {} ({actor}), in {system}: {}",
            name_of(actor),
            types.join(", ")
        );
    }
    let status =
        samgate_proto::codes::bare::<samgate_proto::v1::CaseStatus>(case.status).unwrap_or("?");
    outln!(
        "\nCase {} is {status}, {} events, SIP version {}; payment liability {} day(s).",
        case.id,
        case.event_count,
        case.latest_sip.as_ref().map_or(0, |s| s.version),
        case.payment_liability_days
    );
    outln!(
        "It stays in {}: samgate case show {}",
        cli.data_dir.display(),
        case.id
    );
}
