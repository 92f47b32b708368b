//! `IndicatorService`: the counties' follow-up indicators over gRPC, the
//! same rows as `samgate indicators` (indicators.md). Exact figures are
//! for authorised internal use, so the caller needs `read-cases` (every
//! local caller has it); the cells are typed (a count, days, or a
//! suppressed small count) rather than CSV text.

use std::sync::Arc;

use samgate_proto::v1::indicator_service_server::IndicatorService;
use samgate_proto::v1::indicator_value::Value as Cell;
use samgate_proto::v1::{
    ComputeIndicatorsRequest, ComputeIndicatorsResponse, IndicatorRow, IndicatorValue,
};
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::access::Caller;
use crate::engine::LiabilityAgreements;
use crate::indicators::{self, Grouping, Month, output};
use crate::store::Store;

/// The longest span one call may ask for: ten years of months, more than
/// any follow-up needs, and a bound on the rows one answer carries.
pub const MAX_MONTHS: i32 = 120;

pub struct IndicatorApi {
    store: Arc<dyn Store>,
    rules: LiabilityAgreements,
}

impl IndicatorApi {
    pub fn new(store: Arc<dyn Store>, rules: LiabilityAgreements) -> Self {
        IndicatorApi { store, rules }
    }
}

fn month(field: &str, value: &str) -> Result<Month, Status> {
    Month::parse(value).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

#[tonic::async_trait]
impl IndicatorService for IndicatorApi {
    async fn compute(
        &self,
        request: Request<ComputeIndicatorsRequest>,
    ) -> Result<Response<ComputeIndicatorsResponse>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_compute_indicators()?;
        let r = request.into_inner();
        let from = month("from", &r.from)?;
        let to = month("to", &r.to)?;
        if from > to {
            return Err(Status::invalid_argument(format!(
                "from: {from} is after to: {to}"
            )));
        }
        let months = (to.year - from.year) * 12 + to.month as i32 - from.month as i32 + 1;
        if months > MAX_MONTHS {
            return Err(Status::invalid_argument(format!(
                "to: at most {MAX_MONTHS} months may be asked for at once"
            )));
        }
        let by = if r.by.is_empty() {
            Grouping::Municipality
        } else {
            Grouping::parse(&r.by).map_err(|e| Status::invalid_argument(format!("by: {e}")))?
        };
        let rows = indicators::from_store(self.store.as_ref(), from, to, by, &self.rules)
            .await
            .map_err(|e| {
                tracing::error!("indicators: cannot read the events: {e}");
                Status::unavailable("the store cannot be read now")
            })?;
        // The JSON form decides each cell (suppression included) once.
        let value = output::json(&rows, from, to, by, r.suppress_small);
        let rows = value["rows"]
            .as_array()
            .map(|rows| rows.iter().map(row).collect())
            .unwrap_or_default();
        Ok(Response::new(ComputeIndicatorsResponse { rows }))
    }
}

/// One row of the JSON form, typed.
fn row(v: &Value) -> IndicatorRow {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let cell = |k: &str| {
        let value = match &v[k] {
            Value::String(s) if s == "<5" => Some(Cell::Small(true)),
            Value::Number(n) if k.starts_with("ready_days") => n.as_f64().map(Cell::Days),
            Value::Number(n) => n.as_i64().map(Cell::Count),
            _ => None,
        };
        Some(IndicatorValue { value })
    };
    IndicatorRow {
        month: text("month"),
        group: text("group"),
        group_name: text("group_name"),
        admissions: cell("admissions"),
        discharges: cell("discharges"),
        ready_days_median: cell("ready_days_median"),
        ready_days_p90: cell("ready_days_p90"),
        liability_days: cell("liability_days"),
        discharges_with_liability: cell("discharges_with_liability"),
        sip_due: cell("sip_due"),
        sip_on_time: cell("sip_on_time"),
        readmitted_30d: cell("readmitted_30d"),
        sip_plans: cell("sip_plans"),
        sip_plans_with_patient: cell("sip_plans_with_patient"),
        deviations: cell("deviations"),
    }
}
