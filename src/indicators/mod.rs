//! Indicators: the month-by-month follow-up the counties make of the
//! discharge process (docs: `shared/spec/indicators.md`), computed from the
//! stored events. A [`Collector`] takes every event once, in arrival order,
//! and keeps a few facts per case and the admissions per person (never an
//! event body); [`Collector::rows`] turns them into the table's rows for
//! the months asked for, grouped by municipality, county, unit or all.
//! [`output`] writes the rows as CSV or JSON, [`html`] as a page.

pub mod html;
pub mod output;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Datelike, Duration, Utc};
use samgate_proto::time::{stockholm, to_utc};
use samgate_proto::v1::{CareProcess, DischargeDestination, IdKind, StoredEvent};
use samgate_proto::{CaseEvent, Payload};

use crate::engine::{LiabilityAgreements, sip_invitation_due};
use crate::store::{MAX_EVENT_PAGE, Store, StoreError};

/// A day, in seconds: durations are elapsed time between UTC instants.
const DAY_SECONDS: i64 = 86_400;
/// The readmission window: 30 × 24 h.
const READMISSION_WINDOW: Duration = Duration::hours(720);
/// Below this many, a published figure could point to a person.
pub const SMALL_NUMBER: i64 = 5;

/// A calendar month in Swedish local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Month, String> {
        let bad = || format!("{s}: not a month YYYY-MM");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// The month in which `t`'s Swedish local date falls.
    pub fn of(t: DateTime<Utc>) -> Month {
        let d = stockholm::local_date(t);
        Month {
            year: d.year(),
            month: d.month(),
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// What the rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Kommunkod.
    Municipality,
    /// Länskod: the municipality code's first two digits.
    County,
    /// HSA-id: the author of the case's first admission notice (of a
    /// deviation: its author); a case without one is in no unit's row.
    Unit,
    /// One group, `SE`.
    All,
}

impl Grouping {
    pub fn parse(s: &str) -> Result<Grouping, String> {
        match s {
            "municipality" => Ok(Grouping::Municipality),
            "county" => Ok(Grouping::County),
            "unit" => Ok(Grouping::Unit),
            "all" => Ok(Grouping::All),
            other => Err(format!(
                "{other}: not a grouping (municipality, county, unit or all)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Municipality => "municipality",
            Grouping::County => "county",
            Grouping::Unit => "unit",
            Grouping::All => "all",
        }
    }
}

/// A figure in hundredths, rounded once, half away from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hundredths(pub i64);

impl Hundredths {
    /// `num / den` rounded half away from zero to hundredths (`den` > 0).
    fn ratio(num: i64, den: i64) -> Hundredths {
        let scaled = i128::from(num) * 100;
        let den = i128::from(den);
        let half_up = (scaled.abs() * 2 + den) / (2 * den);
        let signed = if scaled < 0 { -half_up } else { half_up };
        Hundredths(i64::try_from(signed).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Hundredths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// One (month, group) row of the table, with exact figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub month: Month,
    pub group: String,
    pub group_name: String,
    pub admissions: i64,
    pub discharges: i64,
    pub ready_days_median: Option<Hundredths>,
    pub ready_days_p90: Option<Hundredths>,
    /// How many ready-day values the median and p90 rest on.
    pub ready_day_values: usize,
    pub liability_days: i64,
    pub discharges_with_liability: i64,
    pub sip_due: i64,
    pub sip_on_time: i64,
    pub readmitted_30d: i64,
    pub sip_plans: i64,
    pub sip_plans_with_patient: i64,
    pub deviations: i64,
}

/// The median of sorted seconds, in days: the mean of the two middle
/// values for an even count.
fn median_days(sorted: &[i64]) -> Option<Hundredths> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        Some(Hundredths::ratio(sorted[n / 2], DAY_SECONDS))
    } else {
        let sum = sorted[n / 2 - 1] + sorted[n / 2];
        Some(Hundredths::ratio(sum, 2 * DAY_SECONDS))
    }
}

/// The 90th percentile of sorted seconds by nearest rank (the ⌈9n/10⌉-th
/// smallest), in days.
fn p90_days(sorted: &[i64]) -> Option<Hundredths> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (9 * n).div_ceil(10);
    Some(Hundredths::ratio(sorted[rank - 1], DAY_SECONDS))
}

/// Where a measure counts: the month, and the case's municipality as of
/// its defining event.
#[derive(Debug, Clone)]
struct At {
    at: DateTime<Utc>,
    municipality: String,
}

#[derive(Debug, Clone)]
struct Discharge {
    at: At,
    liability_days: i64,
    /// Whether a readmission may count (not deceased, not to another
    /// hospital).
    may_readmit: bool,
    patient: (i32, String),
}

/// What the indicators need of one case.
#[derive(Debug, Clone, Default)]
struct CaseFacts {
    process: Option<i32>,
    /// The latest municipality code of the patient folded so far.
    municipality: String,
    unit: Option<String>,
    admission: Option<At>,
    first_ready: Option<At>,
    /// The case's `discharge_ready_at` as the fold keeps it (the latest),
    /// for the liability the case itself shows.
    latest_ready: Option<DateTime<Utc>>,
    first_invitation: Option<DateTime<Utc>>,
    discharge: Option<Discharge>,
    first_plan: Option<(At, bool)>,
}

/// A deviation, counted where and when it happened.
#[derive(Debug, Clone)]
struct DeviationFact {
    at: At,
    unit: String,
}

/// Takes every stored event once, in arrival order, and keeps what the
/// indicators need.
#[derive(Debug, Clone)]
pub struct Collector {
    rules: LiabilityAgreements,
    cases: HashMap<String, CaseFacts>,
    /// Every admission instant by (id kind, id), whatever its case.
    admissions: HashMap<(i32, String), Vec<DateTime<Utc>>>,
    deviations: Vec<DeviationFact>,
    /// Units' names as last seen.
    unit_names: HashMap<String, String>,
}

fn instant(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(to_utc)
}

impl Collector {
    pub fn new(rules: LiabilityAgreements) -> Self {
        Collector {
            rules,
            cases: HashMap::new(),
            admissions: HashMap::new(),
            deviations: Vec::new(),
            unit_names: HashMap::new(),
        }
    }

    /// Takes one stored event; events of a case come in fold order.
    pub fn add(&mut self, stored: &StoredEvent) {
        if let Some(event) = &stored.event {
            self.add_event(&stored.case_id, event);
        }
    }

    fn add_event(&mut self, case_id: &str, event: &CaseEvent) {
        let author = event.author.as_ref();
        if let Some(a) = author.filter(|a| !a.hsa_id.is_empty() && !a.name.is_empty()) {
            // Most events come from units already seen with the same name:
            // compared before anything is allocated.
            if self.unit_names.get(&a.hsa_id) != Some(&a.name) {
                self.unit_names.insert(a.hsa_id.clone(), a.name.clone());
            }
        }
        // Seven events in eight continue a case already seen: looked up
        // before its id is copied into a key.
        if !self.cases.contains_key(case_id) {
            self.cases.insert(case_id.to_owned(), CaseFacts::default());
        }
        let case = self.cases.get_mut(case_id).expect("inserted above");
        case.process.get_or_insert(event.process);
        let patient = event.patient.as_ref();
        if let Some(code) = patient
            .map(|p| &p.municipality_code)
            .filter(|c| !c.is_empty() && **c != case.municipality)
        {
            case.municipality.clone_from(code);
        }
        // An unspecified kind is a personnummer (the model's default), as
        // a journal stay's is.
        let patient_key = patient.map(|p| {
            let kind = if p.id_kind == IdKind::Unspecified as i32 {
                IdKind::Personnummer as i32
            } else {
                p.id_kind
            };
            (kind, p.id.clone())
        });
        let occurred = instant(event.occurred_at.as_ref());
        let at = |t: DateTime<Utc>, case: &CaseFacts| At {
            at: t,
            municipality: case.municipality.clone(),
        };
        match &event.payload {
            Some(Payload::AdmissionNotice(a)) => {
                let Some(admitted) = instant(a.admitted_at.as_ref()) else {
                    return;
                };
                if let Some(key) = patient_key {
                    self.admissions.entry(key).or_default().push(admitted);
                }
                if case.admission.is_none() {
                    case.admission = Some(at(admitted, case));
                    case.unit = author.map(|a| a.hsa_id.clone());
                }
            }
            Some(Payload::DischargeReady(d)) => {
                let ready = instant(d.ready_at.as_ref());
                case.latest_ready = ready;
                if case.first_ready.is_none()
                    && let Some(ready) = ready
                {
                    case.first_ready = Some(at(ready, case));
                }
            }
            Some(Payload::SipInvitation(_)) => {
                case.first_invitation = case.first_invitation.or(occurred);
            }
            Some(Payload::SipPlan(plan)) => {
                if case.first_plan.is_none()
                    && let Some(t) = occurred
                {
                    case.first_plan = Some((at(t, case), plan.patient_participated));
                }
            }
            Some(Payload::DischargeNotice(d)) => {
                let Some(out) = instant(d.discharged_at.as_ref()) else {
                    return;
                };
                if case.discharge.is_some() {
                    return;
                }
                let liability_days = case.latest_ready.map_or(0, |ready| {
                    // The case's own rule: the discharge's patient's.
                    let code = patient.map_or("", |p| p.municipality_code.as_str());
                    let rule = self.rules.rule_for(code);
                    i64::from(rule.liable_days(ready, out).max(0))
                });
                let destination = d.destination;
                let may_readmit = destination != DischargeDestination::Deceased as i32
                    && destination != DischargeDestination::OtherHospital as i32;
                case.discharge = Some(Discharge {
                    at: at(out, case),
                    liability_days,
                    may_readmit,
                    patient: patient_key.unwrap_or_default(),
                });
            }
            Some(Payload::Deviation(_)) => {
                if let Some(t) = occurred {
                    self.deviations.push(DeviationFact {
                        at: at(t, case),
                        unit: author.map(|a| a.hsa_id.clone()).unwrap_or_default(),
                    });
                }
            }
            _ => {}
        }
    }

    /// The group of a measure, and its name.
    fn group(&self, by: Grouping, municipality: &str, unit: Option<&str>) -> Option<String> {
        match by {
            Grouping::Municipality => Some(municipality.to_owned()),
            Grouping::County => Some(municipality.chars().take(2).collect()),
            Grouping::Unit => unit.map(str::to_owned),
            Grouping::All => Some("SE".to_owned()),
        }
    }

    fn group_name(&self, by: Grouping, group: &str) -> String {
        let name = match by {
            Grouping::Municipality => samgate_proto::ids::municipalities()
                .iter()
                .find(|m| m.code == group)
                .map(|m| m.short_name),
            Grouping::County => samgate_proto::ids::counties()
                .iter()
                .find(|c| c.code == group)
                .map(|c| c.name),
            Grouping::Unit => self.unit_names.get(group).map(String::as_str),
            Grouping::All => Some("Sverige"),
        };
        name.unwrap_or_default().to_owned()
    }

    /// A journal stay's admission (`hl7v2.md`): stays count as admissions
    /// for readmissions, whatever case they belong to. The id kind is the
    /// number's own (a day over 60 is a samordningsnummer).
    pub fn add_stay_admission(&mut self, patient_id: &str, admitted_at: DateTime<Utc>) {
        let kind = match samgate_proto::ids::PatientId::parse_number(patient_id) {
            Ok(samgate_proto::ids::PatientId::Samordningsnummer(_)) => IdKind::Samordningsnummer,
            _ => IdKind::Personnummer,
        };
        self.admissions
            .entry((kind as i32, patient_id.to_owned()))
            .or_default()
            .push(admitted_at);
    }

    /// Whether the patient was admitted again within the window after `out`.
    fn readmitted(&self, patient: &(i32, String), out: DateTime<Utc>) -> bool {
        self.admissions.get(patient).is_some_and(|times| {
            times
                .iter()
                .any(|t| *t > out && *t - out <= READMISSION_WINDOW)
        })
    }

    /// The rows of the months `from` to `to` (inclusive), by `by`, sorted
    /// by month then group; a row only where some column is not zero or
    /// empty.
    pub fn rows(&self, from: Month, to: Month, by: Grouping) -> Vec<Row> {
        let mut acc: BTreeMap<(Month, String), Acc> = BTreeMap::new();
        let key = |at: &At, unit: Option<&str>| -> Option<(Month, String)> {
            let month = Month::of(at.at);
            if month < from || month > to {
                return None;
            }
            Some((month, self.group(by, &at.municipality, unit)?))
        };
        for case in self.cases.values() {
            let unit = case.unit.as_deref();
            let inpatient = case.process == Some(CareProcess::Inpatient as i32);
            if inpatient {
                if let Some(a) = &case.admission
                    && let Some(s) = slot(&mut acc, key(a, unit))
                {
                    s.admissions += 1;
                }
                if let Some(d) = &case.discharge
                    && let Some(s) = slot(&mut acc, key(&d.at, unit))
                {
                    s.discharges += 1;
                    if let Some(ready) = case
                        .first_ready
                        .as_ref()
                        .map(|r| r.at)
                        .filter(|r| *r < d.at.at)
                    {
                        s.ready_seconds.push((d.at.at - ready).num_seconds());
                    }
                    s.liability_days += d.liability_days;
                    if d.liability_days > 0 {
                        s.discharges_with_liability += 1;
                    }
                    if d.may_readmit && self.readmitted(&d.patient, d.at.at) {
                        s.readmitted_30d += 1;
                    }
                }
                if let Some(r) = &case.first_ready
                    && let Some(s) = slot(&mut acc, key(r, unit))
                {
                    s.sip_due += 1;
                    let due = sip_invitation_due(r.at);
                    if case.first_invitation.is_some_and(|t| t <= due) {
                        s.sip_on_time += 1;
                    }
                }
            }
            if let Some((p, with_patient)) = &case.first_plan
                && let Some(s) = slot(&mut acc, key(p, unit))
            {
                s.sip_plans += 1;
                if *with_patient {
                    s.sip_plans_with_patient += 1;
                }
            }
        }
        for d in &self.deviations {
            if let Some(s) = slot(&mut acc, key(&d.at, Some(&d.unit))) {
                s.deviations += 1;
            }
        }
        acc.into_iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|((month, group), mut a)| {
                a.ready_seconds.sort_unstable();
                Row {
                    month,
                    group_name: self.group_name(by, &group),
                    group,
                    admissions: a.admissions,
                    discharges: a.discharges,
                    ready_days_median: median_days(&a.ready_seconds),
                    ready_days_p90: p90_days(&a.ready_seconds),
                    ready_day_values: a.ready_seconds.len(),
                    liability_days: a.liability_days,
                    discharges_with_liability: a.discharges_with_liability,
                    sip_due: a.sip_due,
                    sip_on_time: a.sip_on_time,
                    readmitted_30d: a.readmitted_30d,
                    sip_plans: a.sip_plans,
                    sip_plans_with_patient: a.sip_plans_with_patient,
                    deviations: a.deviations,
                }
            })
            .collect()
    }
}

/// The row `k` names, when the measure counts in one.
fn slot(acc: &mut BTreeMap<(Month, String), Acc>, k: Option<(Month, String)>) -> Option<&mut Acc> {
    k.map(|k| acc.entry(k).or_default())
}

/// One row's figures while they are counted.
#[derive(Debug, Default)]
struct Acc {
    admissions: i64,
    discharges: i64,
    ready_seconds: Vec<i64>,
    liability_days: i64,
    discharges_with_liability: i64,
    sip_due: i64,
    sip_on_time: i64,
    readmitted_30d: i64,
    sip_plans: i64,
    sip_plans_with_patient: i64,
    deviations: i64,
}

impl Acc {
    fn is_empty(&self) -> bool {
        self.ready_seconds.is_empty()
            && [
                self.admissions,
                self.discharges,
                self.liability_days,
                self.discharges_with_liability,
                self.sip_due,
                self.sip_on_time,
                self.readmitted_30d,
                self.sip_plans,
                self.sip_plans_with_patient,
                self.deviations,
            ]
            .iter()
            .all(|n| *n == 0)
    }
}

/// The rows of `events` (every stored event, in arrival order).
pub fn compute(
    events: impl IntoIterator<Item = StoredEvent>,
    from: Month,
    to: Month,
    by: Grouping,
    rules: &LiabilityAgreements,
) -> Vec<Row> {
    let mut collector = Collector::new(rules.clone());
    for e in events {
        collector.add(&e);
    }
    collector.rows(from, to, by)
}

/// Pages read ahead of the one being collected (see [`from_store`]).
const READ_AHEAD_PAGES: usize = 2;

/// The rows of everything in `store`, read a page at a time.
pub async fn from_store(
    store: &dyn Store,
    from: Month,
    to: Month,
    by: Grouping,
    rules: &LiabilityAgreements,
) -> Result<Vec<Row>, StoreError> {
    let mut collector = Collector::new(rules.clone());
    // The next page is read while this one is collected: the database's
    // work (SQLite's worker thread, PostgreSQL's server) overlaps ours.
    // Two pages in hand at most, so memory stays a few pages whatever the
    // store holds.
    let (pages, mut to_collect) = tokio::sync::mpsc::channel(READ_AHEAD_PAGES);
    let read = async move {
        let mut after = 0;
        loop {
            let page = store.events_page(after, MAX_EVENT_PAGE).await?;
            let Some((last, _)) = page.last() else {
                return Ok::<(), StoreError>(());
            };
            after = *last;
            if pages.send(page).await.is_err() {
                return Ok(());
            }
        }
    };
    let collect = async {
        while let Some(page) = to_collect.recv().await {
            for (_, e) in &page {
                collector.add(e);
            }
        }
    };
    let (read, ()) = tokio::join!(read, collect);
    read?;
    for (patient_id, admitted_at) in store.stay_admissions().await? {
        if let Some(t) = DateTime::from_timestamp(admitted_at, 0) {
            collector.add_stay_admission(&patient_id, t);
        }
    }
    Ok(collector.rows(from, to, by))
}
