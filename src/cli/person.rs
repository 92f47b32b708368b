//! `samgate person unprotect`: the one way a person's protected identity
//! ends.
//!
//! Protection is sticky: once any source says a person has protected
//! identity ("skyddade personuppgifter"), every case of theirs stays
//! protected whatever later messages say (see `engine::fold` and the
//! store's person register). When the population register really lifts it,
//! an operator says so here, with who they are and why; the act is written
//! to the person-register audit log (`person-register.log` in the data
//! directory, JSON lines, owner-readable only) before the command reports
//! success. The application log gets the case count, never the person.

use anyhow::Context;
use serde::Serialize;

use super::Cli;
use crate::config::Config;
use crate::portal::audit::AuditLog;
use samgate_proto::ids::PatientId;

/// The audit log of acts on the person register, in the data directory.
pub const PERSON_REGISTER_LOG: &str = "person-register.log";

#[derive(Debug, clap::Subcommand)]
pub enum PersonCommand {
    /// Lift a person's protected identity (audited).
    Unprotect {
        /// The person's personnummer or samordningsnummer.
        patient: String,
        /// Who lifts it (name or HSA-id of the operator), for the audit log.
        #[arg(long)]
        operator: String,
        /// Why, e.g. the population register's decision and its date.
        #[arg(long)]
        reason: String,
    },
}

/// One act on the person register.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterAct<'a> {
    /// RFC 3339 UTC.
    at: String,
    operator: &'a str,
    patient_id: &'a str,
    what: &'static str,
    reason: &'a str,
    /// Whether the register held the person as protected.
    registered: bool,
    /// The cases whose protection was lifted.
    cases: &'a [String],
}

pub async fn run(cli: &Cli, config: Config, command: &PersonCommand) -> anyhow::Result<()> {
    let PersonCommand::Unprotect {
        patient,
        operator,
        reason,
    } = command;
    let patient_id = PatientId::parse_number(patient)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| anyhow::anyhow!("PATIENT: {e}"))?;
    if operator.trim().is_empty() {
        anyhow::bail!("--operator: must say who lifts the protection");
    }
    if reason.trim().is_empty() {
        anyhow::bail!("--reason: must say why the protection is lifted");
    }
    let store = crate::store::open_existing(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    // The log is opened before the act: an act that cannot be audited is
    // not done.
    let log_path = cli.data_dir.join(PERSON_REGISTER_LOG);
    let log = match AuditLog::open(&log_path) {
        Ok(log) => log,
        Err(e) => {
            store.close().await;
            return Err(anyhow::anyhow!(
                "cannot open the audit log {}: {e}",
                log_path.display()
            ));
        }
    };
    let lifted = store.lift_protection(&patient_id).await;
    store.close().await;
    let lifted = lifted?;
    log.record(&RegisterAct {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        operator: operator.trim(),
        patient_id: &patient_id,
        what: "lift-protected-identity",
        reason: reason.trim(),
        registered: lifted.registered,
        cases: &lifted.cases,
    })
    .with_context(|| format!("cannot write the audit log {}", log_path.display()))?;
    tracing::info!(
        cases = lifted.cases.len(),
        "protected identity lifted by an operator"
    );
    outln!(
        "protected identity lifted: {} case(s) changed; audited in {}",
        lifted.cases.len(),
        log_path.display()
    );
    Ok(())
}
