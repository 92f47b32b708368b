//! `samgate case show|list`: read cases from the store, as JSON.

use anyhow::Context;
use samgate_proto::canonical::case_to_value;
use samgate_proto::codes::CanonicalEnum;
use samgate_proto::v1::CaseStatus;

use super::Cli;
use crate::config::Config;
use crate::store::CaseFilter;

#[derive(Debug, clap::Subcommand)]
pub enum CaseCommand {
    /// Print one case as JSON.
    Show {
        /// The gateway's case id.
        case_id: String,
    },
    /// List cases, one JSON object per line.
    List {
        /// Only cases this HSA-id takes part in.
        #[arg(long)]
        participant: Option<String>,
        /// Only cases in this status (OPEN, DISCHARGE_READY, DISCHARGED, CLOSED).
        #[arg(long)]
        status: Option<String>,
        /// Cases per page (default 50, at most 500).
        #[arg(long, default_value_t = 0)]
        page_size: usize,
        /// The page token a previous list printed.
        #[arg(long)]
        page_token: Option<String>,
    },
}

pub async fn run(cli: &Cli, config: Config, command: &CaseCommand) -> anyhow::Result<()> {
    let store = crate::store::open_existing(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let result = match command {
        CaseCommand::Show { case_id } => match store.get_case(case_id).await? {
            Some(case) => {
                let mut value = case_to_value(&case);
                let stays = crate::journal::timers::stays_of_case(store.as_ref(), &case.id).await?;
                if !stays.is_empty() {
                    value["stays"] = stays.iter().map(stay_value).collect();
                }
                outln!("{}", serde_json::to_string_pretty(&value)?);
                Ok(())
            }
            None => Err(anyhow::anyhow!("case {case_id}: no such case")),
        },
        CaseCommand::List {
            participant,
            status,
            page_size,
            page_token,
        } => {
            let status = status
                .as_deref()
                .map(|s| {
                    CaseStatus::from_name(s)
                        .with_context(|| format!("--status {s}: not a case status"))
                })
                .transpose()?;
            let filter = CaseFilter {
                participant_hsa_id: participant.clone(),
                status,
            };
            let (cases, next) = store
                .list_cases(&filter, *page_size, page_token.as_deref())
                .await?;
            for case in &cases {
                outln!("{}", serde_json::to_string(&case_to_value(case))?);
            }
            if let Some(next) = next {
                eprintln!("more: --page-token {next}");
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

/// A linked hospital stay as `case show` prints it (times RFC 3339 UTC,
/// the destination by its name).
fn stay_value(stay: &crate::stays::Stay) -> serde_json::Value {
    use samgate_proto::v1::DischargeDestination;
    let time = |s: Option<i64>| {
        s.map(|seconds| {
            samgate_proto::time::format_utc(&samgate_proto::Timestamp { seconds, nanos: 0 })
        })
    };
    let destination = stay
        .destination
        .and_then(|d| DischargeDestination::try_from(d).ok())
        .and_then(|d| d.bare_name());
    let mut v = serde_json::json!({
        "facility": stay.facility,
        "visitNumber": stay.visit_number,
        "wards": stay.wards,
        "cancelled": stay.cancelled,
        "dischargeReconciled": stay.discharge_reached.is_some(),
    });
    for (key, value) in [
        ("hospital", stay.hospital.clone()),
        ("admittedAt", time(stay.admitted_at)),
        ("dischargedAt", time(stay.discharged_at)),
        ("destination", destination.map(str::to_owned)),
    ] {
        if let Some(value) = value {
            v[key] = value.into();
        }
    }
    v
}
