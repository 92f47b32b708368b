//! `samgate sip export`: what the portal endpoints would serve for one
//! person, written to standard output — the GetCarePlans v2 SOAP response,
//! the FHIR searchset Bundle, or the printable page — for archiving, for a
//! patient's paper copy, and for checking a plan before it is published.
//! Each export is a read of patient data, so it goes into the portal's
//! access log like a portal's read, under the operator's login name.

use anyhow::Context;
use samgate_proto::ids::PatientId;

use super::Cli;
use crate::config::Config;
use crate::portal::audit::{AccessRecord, AuditLog};
use crate::portal::{self, PublishRules, fhir, html, rivta};

fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Rivta => "rivta",
        ExportFormat::Fhir => "fhir",
        ExportFormat::Html => "html",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The GetCarePlans v2 SOAP response.
    Rivta,
    /// A FHIR R4 searchset Bundle of CarePlan resources.
    Fhir,
    /// The printable page of the latest plan.
    Html,
}

#[derive(Debug, clap::Subcommand)]
pub enum SipCommand {
    /// Write a person's plans in one of the portal's forms.
    Export {
        /// Personnummer or samordningsnummer (any written form).
        #[arg(long)]
        patient: String,
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
}

pub async fn run(cli: &Cli, config: Config, command: &SipCommand) -> anyhow::Result<()> {
    let SipCommand::Export { patient, format } = command;
    let patient_id = PatientId::parse_number(patient)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| anyhow::anyhow!("--patient: {e}"))?;
    let store = crate::store::open_existing(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let rules = PublishRules {
        approve_all: config.portal.approve_all,
    };
    // A person with protected identity gets the answer "no plan".
    let found = portal::documents_for(store.as_ref(), &patient_id, rules).await?;
    store.close().await;
    let mut record = AccessRecord {
        at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        consumer_hsa_id: format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
        patient_id: patient_id.clone(),
        what: format!("sip-export-{}", format_name(*format)),
        result: "ok".into(),
        reason: String::new(),
        documents: 0,
    };
    let docs = match found {
        Ok(docs) => docs,
        Err(portal::Withheld::ProtectedIdentity) => {
            record.result = "withheld".into();
            record.reason = "protected-identity".into();
            Vec::new()
        }
    };
    record.documents = docs.len();
    let log_path = config.portal.access_log_path(&cli.data_dir);
    AuditLog::open(&log_path)
        .and_then(|log| log.record(&record))
        .with_context(|| format!("cannot write the access log {}", log_path.display()))?;
    let out = match format {
        ExportFormat::Rivta => rivta::response(
            &docs,
            &config.portal.source_system_hsa_id,
            &uuid::Uuid::new_v4().to_string(),
        ),
        ExportFormat::Fhir => {
            serde_json::to_string_pretty(&fhir::search_bundle(&docs, &config.portal.fhir_base_url))?
                + "\n"
        }
        ExportFormat::Html => docs.last().map_or_else(html::no_plan, html::page),
    };
    super::output::write(format_args!("{out}"));
    Ok(())
}
