//! `samgate demo`: a cross-county story on embedded defaults, end to end.
//!
//! Esther, resident of Linköping (Östergötland, Cosmic Link), is admitted to
//! an orthopaedic ward in Örebro (Lifecare). Each party sends its messages
//! in its own system's dialect — the spec's example messages — through the
//! same path as production traffic (decode, rules, routing, outbox), and
//! the demo prints what each actor received and in which dialect. Before the
//! ward gets round to it, the hospital's journal system reports the
//! discharge over its HL7 v2 feed (ADT^A03); the demo runs with a grace
//! period of 0, so samgate announces the discharge at once (source system
//! JOURNAL), and the ward's own notice that follows is stored but sent to
//! nobody: it says nothing new. The case and its SIP stay in the data
//! directory; running the demo again changes nothing (every message is
//! idempotent) and prints the same.

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

/// How a step's message arrives.
#[derive(Debug, Clone, Copy)]
enum Way {
    /// A coordination message in a unit's dialect.
    Dialect(DialectName),
    /// The hospital journal system's HL7 v2 feed.
    Journal,
}

/// The story: who sends what, in the dialect of the sender's system. The
/// messages are the specification's examples (tests/data/examples) and
/// one ADT^A03 of the journal feed (tests/data/hl7v2/demo).
const STORY: &[(&str, Way, &[u8])] = &[
    (
        "the ward admits Esther and sends the admission notice",
        Way::Dialect(DialectName::Lifecare),
        include_bytes!("../../tests/data/examples/lifecare/admissionNotice.xml"),
    ),
    (
        "Linköping social services answer with what Esther has at home",
        Way::Dialect(DialectName::CosmicLink),
        include_bytes!("../../tests/data/examples/cosmic-link/inNotice.xml"),
    ),
    (
        "her primary-care unit names a care contact",
        Way::Dialect(DialectName::CosmicLink),
        include_bytes!("../../tests/data/examples/cosmic-link/careContactAssigned.xml"),
    ),
    (
        "the ward declares her ready for discharge",
        Way::Dialect(DialectName::Lifecare),
        include_bytes!("../../tests/data/examples/lifecare/dischargeReady.xml"),
    ),
    (
        "the care contact calls the SIP meeting",
        Way::Dialect(DialectName::CosmicLink),
        include_bytes!("../../tests/data/examples/cosmic-link/sipInvitation.xml"),
    ),
    (
        "the SIP is written down",
        Way::Dialect(DialectName::CosmicLink),
        include_bytes!("../../tests/data/examples/cosmic-link/sipPlan.xml"),
    ),
    (
        "the hospital's journal system reports the discharge (ADT^A03); the grace period over, samgate announces it",
        Way::Journal,
        include_bytes!("../../tests/data/hl7v2/demo/esther-a03.hl7"),
    ),
    (
        "the ward discharges her home",
        Way::Dialect(DialectName::Lifecare),
        include_bytes!("../../tests/data/examples/lifecare/dischargeNotice.xml"),
    ),
];

/// One step played: what, in which dialect, and the sequence of the
/// event it stored in the case.
struct Played {
    what: &'static str,
    dialect: &'static str,
    sequence: i64,
}

pub async fn run(cli: &Cli, config: Config, args: &DemoArgs) -> anyhow::Result<()> {
    let (store, gateway) = super::assemble(cli, &config, true).await?;
    let directory = gateway.router().directory();
    let name_of = |hsa: &str| {
        directory
            .unit(hsa)
            .map_or_else(|| hsa.to_owned(), |u| u.name.clone())
    };

    // The demo's journal feed announces a discharge at once.
    let hl7 = crate::journal::Hl7Config {
        discharge_grace_minutes: 0,
        ..config.hl7.clone()
    };
    let journal = crate::journal::Journal::new(gateway.clone(), &hl7)?;
    let mut case_id = String::new();
    let mut steps = Vec::new();
    for (what, way, bytes) in STORY {
        let (dialect, sequence) = match way {
            Way::Dialect(dialect) => {
                let (submitted, _) = gateway
                    .submit_raw(*dialect, bytes)
                    .await
                    .with_context(|| format!("the demo step '{what}' was refused"))?;
                case_id = submitted.case_id.clone();
                (dialect.as_str(), submitted.sequence)
            }
            Way::Journal => {
                let receipt = journal.receive(crate::metrics::Way::Import, bytes).await;
                anyhow::ensure!(
                    receipt.verdict.is_final()
                        && !matches!(receipt.verdict, crate::journal::Verdict::Refused { .. }),
                    "the demo step '{what}' was answered {:?}",
                    receipt.verdict
                );
                crate::journal::timers::fire_due(&gateway).await?;
                (
                    crate::journal::DIALECT,
                    journal_sequence(store.as_ref(), &case_id).await?,
                )
            }
        };
        steps.push(Played {
            what,
            dialect,
            sequence,
        });
    }
    let deliveries = store.case_deliveries(&case_id).await?;
    let authors: BTreeMap<i64, String> = store
        .events(&case_id, 1)
        .await?
        .into_iter()
        .map(|s| {
            let author = s.event.and_then(|e| e.author).map(|a| a.name);
            (s.sequence, author.unwrap_or_default())
        })
        .collect();
    let case = store.get_case(&case_id).await?.context("the demo case")?;
    store.close().await;

    match args.format {
        DemoFormat::Json => {
            for d in &deliveries {
                outln!("{}", delivery_json(d, &name_of(&d.recipient), &case_id));
            }
        }
        DemoFormat::Text => print_text(&steps, &deliveries, &authors, &case, &name_of, cli),
    }
    Ok(())
}

/// The sequence of the discharge notice samgate appended from the journal
/// feed (this run's, or an earlier run's).
async fn journal_sequence(store: &dyn crate::store::Store, case_id: &str) -> anyhow::Result<i64> {
    let journal = samgate_proto::v1::SourceSystem::Journal as i32;
    store
        .events(case_id, 1)
        .await?
        .iter()
        .find(|s| s.event.as_ref().is_some_and(|e| e.source_system == journal))
        .map(|s| s.sequence)
        .context("the journal's discharge was not reconciled into the demo case")
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
    steps: &[Played],
    deliveries: &[Delivery],
    authors: &BTreeMap<i64, String>,
    case: &samgate_proto::v1::Case,
    name_of: &dyn Fn(&str) -> String,
    cli: &Cli,
) {
    outln!(
        "samgate demo: Esther (a test person registered in Linköping, 0580) is admitted in Örebro.\n"
    );
    for Played {
        what,
        dialect,
        sequence,
    } in steps
    {
        let author = authors.get(sequence).map_or("", String::as_str);
        if *dialect == crate::journal::DIALECT {
            outln!("{sequence}. {what}: samgate sends on behalf of {author} (JOURNAL)");
        } else {
            outln!("{sequence}. {what}: {author} sends in {dialect}");
        }
        let mut sent = 0;
        for d in deliveries.iter().filter(|d| d.sequence == *sequence) {
            sent += 1;
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
        if sent == 0 {
            outln!("     (stored; sent to nobody: the discharge was already announced as it says)");
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
