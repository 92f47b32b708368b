//! Issue 25, end to end: a generated history (tests/common/history.rs)
//! goes through `samgate import --from json`, then `samgate indicators
//! --by municipality --format csv` must equal `tests/data/indicators/
//! generated.csv` byte for byte. That file is not samgate's output pasted
//! in: an oracle here computes every column from what the generator made,
//! by the definitions of shared/spec/indicators.md, and the test first
//! checks that the file equals the oracle's table. `SAMGATE_BLESS=1 cargo
//! test --test indicators_e2e the_committed_table_is_the_oracles` rewrites
//! the file from the oracle (never from samgate).
//!
//! The history: about 300 inpatient stays of persons in six municipalities
//! of Östergötland (05) and Örebro län (18) from late November 2025 to May
//! 2026, readmissions within and beyond 30 days (720 h exactly and one
//! second more), deceased discharges and transfers to another hospital, a
//! setback's second discharge-ready, a move at discharge, SIP invitations
//! around the 24 h and 72 h deadlines, two plan versions, deviations, and
//! outpatient cases with plans and deviations; then hand-built stays at
//! local month boundaries, across the start of summer time (2026-03-29)
//! and ready on Christmas, New Year, Epiphany and Easter.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use common::history::{self, Destination, Event, History, MUNICIPALITIES, Params, Stay, What};

const FROM: &str = "2025-12";
const TO: &str = "2026-04";
const EXPECTED: &str = "indicators/generated.csv";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A stay with no more than an admission; the cases below add to it.
fn stay(m: &'static str, admitted: &str) -> Stay {
    Stay {
        municipality: m,
        moved_to: None,
        admitted_at: t(admitted),
        readies: Vec::new(),
        invitation: None,
        plans: Vec::new(),
        discharge: None,
        deviations: Vec::new(),
        threads: 0,
    }
}

/// The hand-built stays: the spec's edge cases on fixed instants (persons
/// 1 to 99; the generated ones start at 1,000).
fn pinned(h: &mut History) {
    let home = Destination::Home;
    // Local month boundaries: 21:59:59Z on 31 March is 23:59:59 summer time
    // (March), 22:00:00Z is midnight (April); in winter 22:59:59Z/23:00:00Z.
    let mut s = stay("1880", "2026-03-31T21:59:59Z");
    s.readies = vec![t("2026-03-31T21:59:59Z") + Duration::hours(1)];
    s.discharge = Some((t("2026-04-30T21:59:59Z"), home));
    h.add_stay(1, &s);
    let mut s = stay("1880", "2026-01-20T08:00:00Z");
    s.readies = vec![t("2026-01-25T09:00:00Z")];
    s.discharge = Some((t("2026-01-31T22:59:59Z"), home));
    h.add_stay(2, &s);
    let mut s = stay("1880", "2026-01-20T08:00:00Z");
    s.readies = vec![t("2026-01-25T09:00:00Z")];
    s.discharge = Some((t("2026-01-31T23:00:00Z"), home));
    h.add_stay(3, &s);
    // Across the start of summer time: ready 23:30 CET on 27 March,
    // discharged 00:30 CEST on 3 April: 6.00 elapsed days, seven local
    // dates later (liability 4).
    let mut s = stay("0580", "2026-03-20T08:00:00Z");
    s.readies = vec![t("2026-03-27T22:30:00Z")];
    s.invitation = Some(t("2026-03-28T10:00:00Z"));
    s.discharge = Some((t("2026-04-02T22:30:00Z"), home));
    h.add_stay(4, &s);
    // Ready on a day, invited 48 h later: on time only when that day is a
    // Saturday, Sunday or public holiday. Julafton and nyårsafton are not;
    // Valborgsmässoafton is no holiday either.
    let ready_days = [
        "2025-12-24T09:00:00Z", // julafton, Wednesday: late
        "2025-12-25T09:00:00Z", // juldagen: on time
        "2025-12-31T09:00:00Z", // nyårsafton: late
        "2026-01-01T09:00:00Z", // nyårsdagen: on time
        "2026-01-06T09:00:00Z", // trettondedag jul, Tuesday: on time
        "2026-02-07T09:00:00Z", // a Saturday: on time
        "2026-02-10T09:00:00Z", // a Tuesday: late
        "2026-04-03T09:00:00Z", // långfredagen: on time
        "2026-04-06T09:00:00Z", // annandag påsk: on time
        "2026-04-30T09:00:00Z", // Valborgsmässoafton, Thursday: late
    ];
    for (i, day) in ready_days.iter().enumerate() {
        let ready = t(day);
        let mut s = stay("0581", "2025-12-01T08:00:00Z");
        s.admitted_at = ready - Duration::days(3);
        s.readies = vec![ready];
        s.invitation = Some(ready + Duration::hours(48));
        s.discharge = Some((ready + Duration::days(6), home));
        h.add_stay(10 + i, &s);
    }
    // Readmissions 720 h after the discharge (counted), 720 h and a second
    // (not), 720 h across the start of summer time (counted), a transfer
    // to another hospital readmitted the next day (not counted).
    let readmissions = [
        ("2026-02-10T10:00:00Z", 720 * 3_600, home),
        ("2026-02-11T10:00:00Z", 720 * 3_600 + 1, home),
        ("2026-03-15T12:00:00Z", 720 * 3_600, home),
        ("2026-02-12T10:00:00Z", 86_400, Destination::OtherHospital),
        // A deceased discharge, and the same personnummer admitted the next
        // day (a registration error): no readmission either.
        ("2026-02-13T10:00:00Z", 86_400, Destination::Deceased),
    ];
    for (i, (out, gap, destination)) in readmissions.into_iter().enumerate() {
        let out = t(out);
        let mut s = stay("1883", "2026-02-01T08:00:00Z");
        s.readies = vec![out - Duration::days(5)];
        s.discharge = Some((out, destination));
        h.add_stay(30 + i, &s);
        let mut again = stay("1883", "2026-02-01T08:00:00Z");
        again.admitted_at = out + Duration::seconds(gap);
        h.add_stay(30 + i, &again);
    }
}

/// The whole history, in arrival order.
fn history() -> Vec<Event> {
    let mut h = History::new();
    pinned(&mut h);
    history::generate_into(
        &mut h,
        &Params {
            seed: 25,
            cases: 300,
            start: t("2025-11-20T00:00:00Z"),
            days: 170,
            threads: 1,
            first_person: 1_000,
        },
    );
    h.events()
}

// ---------------------------------------------------------------------
// The oracle: the spec's definitions written out as plain arithmetic on
// what the generator made, with its own clock and calendar.
// ---------------------------------------------------------------------

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap() - Duration::days(1);
    while d.weekday() != Weekday::Sun {
        d -= Duration::days(1);
    }
    d
}

/// Swedish local time's offset from UTC at `t`: +2 h from 01:00 UTC on the
/// last Sunday of March to 01:00 UTC on the last Sunday of October (EU
/// rule), else +1 h.
fn offset(t: DateTime<Utc>) -> Duration {
    let y = t.year();
    let start = last_sunday(y, 3).and_hms_opt(1, 0, 0).unwrap().and_utc();
    let end = last_sunday(y, 10).and_hms_opt(1, 0, 0).unwrap().and_utc();
    if start <= t && t < end {
        Duration::hours(2)
    } else {
        Duration::hours(1)
    }
}

fn local_date(t: DateTime<Utc>) -> NaiveDate {
    (t + offset(t)).date_naive()
}

fn month(t: DateTime<Utc>) -> String {
    local_date(t).format("%Y-%m").to_string()
}

/// Public holidays (allmänna helgdagar) that fall on a weekday from
/// December 2025 to April 2026, the months whose `sip_due` the table
/// shows; readyAt of the generated history may fall on any of them.
const HOLIDAYS: [&str; 6] = [
    "2025-12-25", // juldagen
    "2025-12-26", // annandag jul
    "2026-01-01", // nyårsdagen
    "2026-01-06", // trettondedag jul
    "2026-04-03", // långfredagen
    "2026-04-06", // annandag påsk
];

/// The SIP invitation's deadline for a ready notice at `ready`.
fn sip_deadline(ready: DateTime<Utc>) -> DateTime<Utc> {
    let day = local_date(ready);
    let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
    let holiday = HOLIDAYS.contains(&day.format("%Y-%m-%d").to_string().as_str());
    ready + Duration::hours(if weekend || holiday { 72 } else { 24 })
}

/// `num / den` in hundredths, half away from zero (both positive here),
/// written `D.DD`.
fn hundredths(num: i64, den: i64) -> String {
    let h = (200 * num + den) / (2 * den);
    format!("{}.{:02}", h / 100, h % 100)
}

/// What the oracle keeps of one case, from its events in arrival order.
#[derive(Default)]
struct Facts {
    inpatient: bool,
    /// The first admission notice: admittedAt, municipality.
    admission: Option<(DateTime<Utc>, &'static str)>,
    /// The first dischargeReady: readyAt, municipality.
    first_ready: Option<(DateTime<Utc>, &'static str)>,
    /// The latest readyAt before the discharge (what the case shows).
    latest_ready: Option<DateTime<Utc>>,
    first_invitation: Option<DateTime<Utc>>,
    /// The first discharge notice: dischargedAt, municipality,
    /// destination, person.
    discharge: Option<(DateTime<Utc>, &'static str, Destination, usize)>,
    /// The first sipPlan: occurredAt, municipality, patientParticipated.
    plan: Option<(DateTime<Utc>, &'static str, bool)>,
}

#[derive(Default)]
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

/// The row of `at`'s month and municipality `m`, when the month is shown.
fn slot<'a>(
    acc: &'a mut BTreeMap<(String, &'static str), Acc>,
    at: DateTime<Utc>,
    m: &'static str,
) -> Option<&'a mut Acc> {
    let month = month(at);
    (FROM..=TO)
        .contains(&month.as_str())
        .then(|| acc.entry((month, m)).or_default())
}

/// The expected CSV of `samgate indicators --from FROM --to TO --by
/// municipality --format csv` for `events`.
fn oracle(events: &[Event]) -> String {
    let mut cases: HashMap<&str, Facts> = HashMap::new();
    // Every admittedAt of a person, whatever the case.
    let mut admitted: HashMap<usize, Vec<DateTime<Utc>>> = HashMap::new();
    let mut deviations: Vec<(DateTime<Utc>, &'static str)> = Vec::new();
    for e in events {
        let case = cases.entry(e.case_ref.as_str()).or_insert_with(|| Facts {
            inpatient: e.inpatient,
            ..Facts::default()
        });
        let m = e.municipality;
        match &e.what {
            What::Admission { admitted_at } => {
                admitted.entry(e.person).or_default().push(*admitted_at);
                case.admission.get_or_insert((*admitted_at, m));
            }
            What::Ready { ready_at } => {
                case.first_ready.get_or_insert((*ready_at, m));
                if case.discharge.is_none() {
                    case.latest_ready = Some(*ready_at);
                }
            }
            What::Invitation { .. } => {
                case.first_invitation.get_or_insert(e.occurred_at);
            }
            What::Plan { with_patient, .. } => {
                case.plan.get_or_insert((e.occurred_at, m, *with_patient));
            }
            What::Discharge {
                discharged_at,
                destination,
            } => {
                case.discharge
                    .get_or_insert((*discharged_at, m, *destination, e.person));
            }
            What::Deviation => deviations.push((e.occurred_at, m)),
            What::Thread | What::CaseOpened | What::Consent | What::CaseClosed => {}
        }
    }

    let mut acc: BTreeMap<(String, &'static str), Acc> = BTreeMap::new();
    for case in cases.values() {
        if case.inpatient {
            // admissions: the first admission notice's admittedAt, in the
            // municipality that notice names.
            if let Some((at, m)) = case.admission
                && let Some(a) = slot(&mut acc, at, m)
            {
                a.admissions += 1;
            }
            // discharges, ready days, liability, readmissions: the first
            // discharge notice's dischargedAt and municipality.
            if let Some((out, m, destination, person)) = case.discharge {
                let ready_seconds = case
                    .first_ready
                    .map(|(r, _)| r)
                    .filter(|r| *r < out)
                    .map(|r| (out - r).num_seconds());
                // Liability: local dates of the discharge and of the
                // readyAt the case shows, minus the 3 days of grace (the
                // default agreement counts calendar days, so holidays do
                // not matter).
                let liability = case.latest_ready.map_or(0, |r| {
                    ((local_date(out) - local_date(r)).num_days() - 3).max(0)
                });
                let may_readmit = !matches!(
                    destination,
                    Destination::Deceased | Destination::OtherHospital
                );
                let readmitted = may_readmit
                    && admitted[&person]
                        .iter()
                        .any(|a| *a > out && *a - out <= Duration::hours(720));
                if let Some(a) = slot(&mut acc, out, m) {
                    a.discharges += 1;
                    a.ready_seconds.extend(ready_seconds);
                    a.liability_days += liability;
                    a.discharges_with_liability += i64::from(liability > 0);
                    a.readmitted_30d += i64::from(readmitted);
                }
            }
            // sip_due and sip_on_time: the first dischargeReady's readyAt;
            // on time when the first invitation's occurredAt is at or
            // before the deadline (an early one is on time).
            if let Some((ready, m)) = case.first_ready {
                let on_time = case
                    .first_invitation
                    .is_some_and(|i| i <= sip_deadline(ready));
                if let Some(a) = slot(&mut acc, ready, m) {
                    a.sip_due += 1;
                    a.sip_on_time += i64::from(on_time);
                }
            }
        }
        // sip_plans: each case's first plan, any process.
        if let Some((at, m, with_patient)) = case.plan
            && let Some(a) = slot(&mut acc, at, m)
        {
            a.sip_plans += 1;
            a.sip_plans_with_patient += i64::from(with_patient);
        }
    }
    // deviations: every deviation event, any process.
    for (at, m) in deviations {
        if let Some(a) = slot(&mut acc, at, m) {
            a.deviations += 1;
        }
    }

    let name = |code: &str| {
        MUNICIPALITIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| *n)
            .unwrap()
    };
    let mut csv = String::from(
        "month,group,group_name,admissions,discharges,ready_days_median,ready_days_p90,\
         liability_days,discharges_with_liability,sip_due,sip_on_time,readmitted_30d,\
         sip_plans,sip_plans_with_patient,deviations\r\n",
    );
    // Every generated measure is in a row whose figures are not all zero,
    // so each (month, municipality) met above is a row; BTreeMap order is
    // month, then kommunkod.
    for ((month, m), mut a) in acc {
        a.ready_seconds.sort_unstable();
        let v = &a.ready_seconds;
        let n = v.len() as i64;
        // Median: the middle value, or the mean of the two middle ones.
        let median = match n {
            0 => String::new(),
            _ if n % 2 == 1 => hundredths(v[v.len() / 2], 86_400),
            _ => hundredths(v[v.len() / 2 - 1] + v[v.len() / 2], 2 * 86_400),
        };
        // p90 by nearest rank: the ⌈9n/10⌉-th smallest.
        let p90 = match n {
            0 => String::new(),
            _ => hundredths(v[((9 * n + 9) / 10 - 1) as usize], 86_400),
        };
        csv.push_str(&format!(
            "{month},{m},{},{},{},{median},{p90},{},{},{},{},{},{},{},{}\r\n",
            name(m),
            a.admissions,
            a.discharges,
            a.liability_days,
            a.discharges_with_liability,
            a.sip_due,
            a.sip_on_time,
            a.readmitted_30d,
            a.sip_plans,
            a.sip_plans_with_patient,
            a.deviations,
        ));
    }
    csv
}

fn samgate(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SAMGATE_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn the_generated_history_is_what_the_spec_says_it_is() {
    let events = history();
    let count = |f: fn(&What) -> bool| events.iter().filter(|e| f(&e.what)).count();
    // Enough of each kind for the table to mean something.
    assert!(count(|w| matches!(w, What::Admission { .. })) >= 300);
    assert!(count(|w| matches!(w, What::Ready { .. })) >= 200);
    assert!(count(|w| matches!(w, What::Invitation { .. })) >= 150);
    assert!(count(|w| matches!(w, What::Plan { .. })) >= 150);
    assert!(count(|w| matches!(w, What::Deviation)) >= 20);
    assert!(count(|w| matches!(w, What::CaseOpened)) >= 10);
    let deceased = count(|w| {
        matches!(
            w,
            What::Discharge {
                destination: Destination::Deceased,
                ..
            }
        )
    });
    assert!(deceased >= 5, "{deceased} deceased");
    // Every personnummer passes its check digit, and every author is in
    // the built-in directory.
    let directory = samgate::routing::Directory::builtin();
    for e in &events {
        let id = history::personnummer(e.person);
        let check = samgate_proto::ids::luhn_check_digit(&id.as_bytes()[2..11]);
        assert_eq!(id.as_bytes()[11] - b'0', check, "{id}");
        assert!(
            directory.unit(e.author.hsa_id).is_some(),
            "{}",
            e.author.hsa_id
        );
    }
    // Generated twice, the same bytes.
    let again: Vec<String> = history().iter().map(Event::to_json).collect();
    assert_eq!(events.iter().map(Event::to_json).collect::<Vec<_>>(), again);
}

#[test]
fn the_committed_table_is_the_oracles() {
    let expected = oracle(&history());
    let path = common::data(EXPECTED);
    if std::env::var_os("SAMGATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(committed, expected, "SAMGATE_BLESS=1 rewrites it");
    // Five months, six municipalities, two counties.
    let rows: Vec<&str> = committed.lines().skip(1).collect();
    let months: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[..7]).collect();
    let groups: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[8..12]).collect();
    assert_eq!(months.len(), 5, "{months:?}");
    assert_eq!(groups.len(), 6, "{groups:?}");
}

#[test]
fn imported_history_gives_the_expected_table_byte_for_byte() {
    let events = history();
    let inputs = tempfile::tempdir().unwrap();
    let file = inputs.path().join("history.jsonl");
    let text: String = events.iter().map(|e| e.to_json() + "\n").collect();
    std::fs::write(&file, text).unwrap();
    let data = tempfile::tempdir().unwrap();

    let out = samgate(
        data.path(),
        &[
            "import",
            "--from",
            "json",
            "--no-deliver",
            file.to_str().unwrap(),
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let n = events.len();
    assert!(
        said.starts_with(&format!("read {n}, stored {n}, duplicates 0, refused 0")),
        "{said}"
    );

    let out = samgate(
        data.path(),
        &[
            "indicators",
            "--from",
            FROM,
            "--to",
            TO,
            "--by",
            "municipality",
            "--format",
            "csv",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read(common::data(EXPECTED)).unwrap();
    let got = String::from_utf8(out.stdout).unwrap();
    if got.as_bytes() != expected {
        // Name the first differing row before the whole-text comparison.
        let expected = String::from_utf8(expected.clone()).unwrap();
        for (g, e) in got.lines().zip(expected.lines()) {
            assert_eq!(g, e, "first differing row");
        }
    }
    assert_eq!(got.as_bytes(), expected);
}
