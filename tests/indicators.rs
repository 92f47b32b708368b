//! Indicators per column, on hand-built events: each table names events
//! and the figures they must give, including the spec's edge cases (a
//! month boundary at local midnight across summer time, an even count for
//! the median, the nearest-rank p90, readmission at exactly 720 h and one
//! second later, a deceased discharge, a municipality change between
//! admission and discharge, suppression at 4 and 5). The last test runs
//! `samgate indicators` on a store and compares its CSV byte for byte.

mod common;

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use samgate::engine::{LiabilityAgreements, LiabilityRule};
use samgate::indicators::output::{csv, json};
use samgate::indicators::{Grouping, Hundredths, Month, Row, compute};
use samgate_proto::Payload;
use samgate_proto::time::from_utc;
use samgate_proto::v1::*;

const OREBRO: &str = "1880";
const STOCKHOLM: &str = "0180";
const WARD: &str = "SE2321000164-7381037590003";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Hand-built events of several cases, in arrival order.
struct Story {
    events: Vec<StoredEvent>,
    process: CareProcess,
}

impl Story {
    fn new() -> Self {
        Story {
            events: Vec::new(),
            process: CareProcess::Inpatient,
        }
    }

    fn outpatient(mut self) -> Self {
        self.process = CareProcess::Outpatient;
        self
    }

    /// Adds an event of `case` for patient `person` in `municipality`.
    fn add(
        &mut self,
        case: &str,
        person: &str,
        municipality: &str,
        at: DateTime<Utc>,
        payload: Payload,
    ) -> &mut Self {
        self.add_by(case, person, municipality, at, payload, WARD)
    }

    fn add_by(
        &mut self,
        case: &str,
        person: &str,
        municipality: &str,
        at: DateTime<Utc>,
        payload: Payload,
        unit: &str,
    ) -> &mut Self {
        let sequence = self.events.iter().filter(|e| e.case_id == case).count() as i64 + 1;
        self.events.push(StoredEvent {
            case_id: case.to_owned(),
            sequence,
            event: Some(CaseEvent {
                source_system: SourceSystem::Lifecare as i32,
                source_message_id: format!("{case}-{sequence}"),
                occurred_at: Some(from_utc(at)),
                case_ref: case.to_owned(),
                process: self.process as i32,
                author: Some(Actor {
                    hsa_id: unit.to_owned(),
                    name: format!("Avdelning {}", &unit[unit.len() - 2..]),
                    kind: ActorKind::Hospital as i32,
                }),
                patient: Some(Patient {
                    id: person.to_owned(),
                    id_kind: IdKind::Personnummer as i32,
                    municipality_code: municipality.to_owned(),
                    ..Default::default()
                }),
                payload: Some(payload),
            }),
        });
        self
    }

    fn admit(&mut self, case: &str, person: &str, m: &str, at: DateTime<Utc>) -> &mut Self {
        let p = Payload::AdmissionNotice(AdmissionNotice {
            admitted_at: Some(from_utc(at)),
            ..Default::default()
        });
        self.add(case, person, m, at, p)
    }

    fn ready(&mut self, case: &str, person: &str, m: &str, at: DateTime<Utc>) -> &mut Self {
        let p = Payload::DischargeReady(DischargeReady {
            ready_at: Some(from_utc(at)),
            ..Default::default()
        });
        self.add(case, person, m, at, p)
    }

    fn invite(&mut self, case: &str, person: &str, m: &str, at: DateTime<Utc>) -> &mut Self {
        let p = Payload::SipInvitation(SipInvitation {
            // The meeting is not what counts.
            meeting_at: Some(from_utc(at - Duration::days(30))),
            ..Default::default()
        });
        self.add(case, person, m, at, p)
    }

    fn plan(&mut self, case: &str, m: &str, at: DateTime<Utc>, with_patient: bool) -> &mut Self {
        let p = Payload::SipPlan(SipPlan {
            version: 1,
            patient_participated: with_patient,
            ..Default::default()
        });
        self.add(case, case, m, at, p)
    }

    fn discharge_to(
        &mut self,
        case: &str,
        person: &str,
        m: &str,
        at: DateTime<Utc>,
        destination: DischargeDestination,
    ) -> &mut Self {
        let p = Payload::DischargeNotice(DischargeNotice {
            discharged_at: Some(from_utc(at)),
            destination: destination as i32,
        });
        self.add(case, person, m, at, p)
    }

    fn discharge(&mut self, case: &str, person: &str, m: &str, at: DateTime<Utc>) -> &mut Self {
        self.discharge_to(case, person, m, at, DischargeDestination::Home)
    }

    fn deviation(&mut self, case: &str, m: &str, at: DateTime<Utc>, unit: &str) -> &mut Self {
        let p = Payload::Deviation(Deviation {
            category: DeviationCategory::InformationTransfer as i32,
            description: String::new(),
        });
        self.add_by(case, case, m, at, p, unit)
    }

    fn rows(&self, from: &str, to: &str, by: Grouping) -> Vec<Row> {
        self.rows_with(from, to, by, &LiabilityAgreements::default())
    }

    fn rows_with(
        &self,
        from: &str,
        to: &str,
        by: Grouping,
        rules: &LiabilityAgreements,
    ) -> Vec<Row> {
        compute(
            self.events.clone(),
            Month::parse(from).unwrap(),
            Month::parse(to).unwrap(),
            by,
            rules,
        )
    }
}

/// The one row of `rows` for `month` and `group`.
fn row<'a>(rows: &'a [Row], month: &str, group: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.month.to_string() == month && r.group == group)
        .unwrap_or_else(|| panic!("no row {month} {group} in {rows:#?}"))
}

#[test]
fn an_instant_counts_in_the_month_of_its_swedish_local_date_across_summer_time() {
    // (admitted at, month it counts in)
    let table = [
        ("2026-03-31T21:59:59Z", "2026-03"), // 23:59:59 CEST
        ("2026-03-31T22:00:00Z", "2026-04"), // local midnight, summer time
        ("2026-10-31T22:59:59Z", "2026-10"), // 23:59:59 CET, after the change
        ("2026-10-31T23:00:00Z", "2026-11"), // local midnight, winter time
        ("2026-12-31T23:00:00Z", "2027-01"),
        ("2026-03-01T00:00:00Z", "2026-03"),
        ("2026-02-28T23:00:00Z", "2026-03"),
        ("2026-02-28T22:59:59Z", "2026-02"),
    ];
    for (at, month) in table {
        let mut s = Story::new();
        s.admit("c1", "p1", OREBRO, t(at));
        let rows = s.rows("2026-01", "2027-12", Grouping::All);
        assert_eq!(rows.len(), 1, "{at}");
        assert_eq!(rows[0].month.to_string(), month, "{at}");
        assert_eq!(rows[0].admissions, 1);
        assert_eq!(
            (rows[0].group.as_str(), rows[0].group_name.as_str()),
            ("SE", "Sverige")
        );
    }
}

#[test]
fn months_outside_from_to_leave_no_row_and_to_is_inclusive() {
    let mut s = Story::new();
    s.admit("c1", "p1", OREBRO, t("2026-01-15T12:00:00Z"))
        .admit("c2", "p2", OREBRO, t("2026-02-15T12:00:00Z"))
        .admit("c3", "p3", OREBRO, t("2026-03-15T12:00:00Z"))
        .admit("c4", "p4", OREBRO, t("2026-04-15T12:00:00Z"));
    let months: Vec<String> = s
        .rows("2026-02", "2026-03", Grouping::Municipality)
        .iter()
        .map(|r| r.month.to_string())
        .collect();
    assert_eq!(months, ["2026-02", "2026-03"]);
}

#[test]
fn only_inpatient_cases_count_in_the_first_nine_columns() {
    let mut s = Story::new().outpatient();
    s.admit("c1", "p1", OREBRO, t("2026-03-02T08:00:00Z"))
        .ready("c1", "p1", OREBRO, t("2026-03-03T08:00:00Z"))
        .discharge("c1", "p1", OREBRO, t("2026-03-10T08:00:00Z"))
        .plan("c1", OREBRO, t("2026-03-04T08:00:00Z"), true)
        .deviation("c1", OREBRO, t("2026-03-05T08:00:00Z"), WARD);
    let rows = s.rows("2026-03", "2026-03", Grouping::Municipality);
    let r = row(&rows, "2026-03", OREBRO);
    assert_eq!(
        (
            r.admissions,
            r.discharges,
            r.sip_due,
            r.liability_days,
            r.ready_day_values
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(
        (r.sip_plans, r.sip_plans_with_patient, r.deviations),
        (1, 1, 1)
    );
}

fn h(v: i64) -> Option<Hundredths> {
    Some(Hundredths(v))
}

#[test]
fn ready_days_median_and_p90_by_nearest_rank_rounded_once() {
    const D: i64 = 86_400;
    // (seconds from ready to discharge of each discharge, median, p90)
    let table: [(&[i64], Option<Hundredths>, Option<Hundredths>); 8] = [
        (&[D], h(100), h(100)),
        // An even count: the mean of the two middle values.
        (&[D, 2 * D, 3 * D, 4 * D], h(250), h(400)),
        (&[4 * D, D, 3 * D, 2 * D, 10 * D], h(300), h(1000)),
        // n = 10: the 9th smallest; n = 11: the 10th (⌈99/10⌉).
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9 * D, 10 * D], h(0), h(900)),
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10 * D, 11 * D], h(0), h(1000)),
        // Exactly half a hundredth rounds away from zero; just below does not.
        (&[432], h(1), h(1)),
        (&[431], h(0), h(0)),
        // The mean of 431 s and 433 s is 432 s: rounded once, up.
        (&[431, 433], h(1), h(1)),
    ];
    for (seconds, median, p90) in table {
        let mut s = Story::new();
        for (i, secs) in seconds.iter().enumerate() {
            let case = format!("c{i}");
            let out = t("2026-03-20T12:00:00Z");
            s.ready(&case, &case, OREBRO, out - Duration::seconds(*secs))
                .discharge(&case, &case, OREBRO, out);
        }
        let rows = s.rows("2026-03", "2026-03", Grouping::All);
        let r = row(&rows, "2026-03", "SE");
        assert_eq!(
            (r.ready_days_median, r.ready_days_p90),
            (median, p90),
            "{seconds:?}"
        );
        assert_eq!(r.ready_day_values, seconds.len());
    }
}

#[test]
fn ready_days_are_elapsed_seconds_across_summer_time_from_the_first_ready() {
    let mut s = Story::new();
    // 12:00 CET on 28 March to 12:00 CEST on 29 March: 23 hours.
    s.ready("c1", "p1", OREBRO, t("2026-03-28T11:00:00Z"))
        // A later dischargeReady after a setback is ignored.
        .ready("c1", "p1", OREBRO, t("2026-03-29T09:00:00Z"))
        .discharge("c1", "p1", OREBRO, t("2026-03-29T10:00:00Z"));
    // Ready after the discharge: no value, but the discharge counts.
    s.ready("c2", "p2", OREBRO, t("2026-03-29T11:00:00Z"))
        .discharge("c2", "p2", OREBRO, t("2026-03-29T10:00:00Z"));
    // No dischargeReady at all.
    s.discharge("c3", "p3", OREBRO, t("2026-03-29T10:00:00Z"));
    let rows = s.rows("2026-03", "2026-03", Grouping::All);
    let r = row(&rows, "2026-03", "SE");
    assert_eq!(r.discharges, 3);
    assert_eq!(r.ready_day_values, 1);
    assert_eq!(r.ready_days_median, h(96)); // 23 / 24 = 0.958…
}

#[test]
fn liability_days_are_the_figure_the_case_shows_under_its_countys_agreement() {
    // (ready at, discharged at, default agreement, Örebro län's of 5 days)
    let table = [
        // Ready 2 March, out 7 March: 5 days − 3 = 2.
        ("2026-03-02T09:00:00Z", "2026-03-07T09:00:00Z", 2, 0),
        ("2026-03-02T09:00:00Z", "2026-03-05T22:59:59Z", 0, 0),
        // Out 6 March 00:00 local (CET): the first liable day.
        ("2026-03-02T09:00:00Z", "2026-03-05T23:00:00Z", 1, 0),
        ("2026-03-02T09:00:00Z", "2026-03-12T09:00:00Z", 7, 5),
    ];
    let mut county = LiabilityAgreements::default();
    county.counties.insert(
        "18".into(),
        LiabilityRule {
            days: 5,
            ..LiabilityRule::default()
        },
    );
    for (ready, out, default_days, county_days) in table {
        let mut s = Story::new();
        s.ready("c1", "p1", OREBRO, t(ready))
            .discharge("c1", "p1", OREBRO, t(out));
        // No dischargeReady: no liability.
        s.discharge("c2", "p2", OREBRO, t(out));
        for (rules, days) in [
            (LiabilityAgreements::default(), default_days),
            (county.clone(), county_days),
        ] {
            let rows = s.rows_with("2026-03", "2026-03", Grouping::All, &rules);
            let r = row(&rows, "2026-03", "SE");
            assert_eq!(r.liability_days, days, "{ready} {out}");
            assert_eq!(r.discharges_with_liability, i64::from(days > 0));
        }
    }
}

#[test]
fn a_deceased_discharge_counts_liability_but_no_readmission() {
    let mut s = Story::new();
    s.ready("c1", "p1", OREBRO, t("2026-03-02T09:00:00Z"))
        .discharge_to(
            "c1",
            "p1",
            OREBRO,
            t("2026-03-07T09:00:00Z"),
            DischargeDestination::Deceased,
        )
        // A (mistaken) later admission of the same id does not make it one.
        .admit("c2", "p1", OREBRO, t("2026-03-08T09:00:00Z"));
    let rows = s.rows("2026-03", "2026-03", Grouping::All);
    let r = row(&rows, "2026-03", "SE");
    assert_eq!(
        (r.discharges, r.liability_days, r.readmitted_30d),
        (1, 2, 0)
    );
}

#[test]
fn a_readmission_is_an_admission_of_the_same_person_within_720_hours() {
    let out = t("2026-03-10T10:00:00Z");
    let window = Duration::hours(720);
    // (admitted again at, destination, same id kind, counts)
    let table = [
        (out + window, DischargeDestination::Home, true, true),
        (
            out + window + Duration::seconds(1),
            DischargeDestination::Home,
            true,
            false,
        ),
        (
            out + Duration::seconds(1),
            DischargeDestination::Home,
            true,
            true,
        ),
        // Not after the discharge: not a readmission.
        (out, DischargeDestination::Home, true, false),
        (
            out + Duration::days(1),
            DischargeDestination::Deceased,
            true,
            false,
        ),
        (
            out + Duration::days(1),
            DischargeDestination::OtherHospital,
            true,
            false,
        ),
        (
            out + Duration::days(1),
            DischargeDestination::ShortTermCare,
            true,
            true,
        ),
        // The same number as a samordningsnummer is another person.
        (
            out + Duration::days(1),
            DischargeDestination::Home,
            false,
            false,
        ),
    ];
    for (again, destination, same_kind, counts) in table {
        let mut s = Story::new();
        s.admit("c1", "p1", OREBRO, out - Duration::days(5))
            .discharge_to("c1", "p1", OREBRO, out, destination);
        // In another case, at another unit and municipality.
        s.add_by(
            "c2",
            "p1",
            STOCKHOLM,
            again,
            Payload::AdmissionNotice(AdmissionNotice {
                admitted_at: Some(from_utc(again)),
                ..Default::default()
            }),
            "SE2321000016-15GH",
        );
        if !same_kind {
            let e = s.events.last_mut().unwrap().event.as_mut().unwrap();
            e.patient.as_mut().unwrap().id_kind = IdKind::Samordningsnummer as i32;
        }
        let rows = s.rows("2026-03", "2026-03", Grouping::Municipality);
        let r = row(&rows, "2026-03", OREBRO);
        assert_eq!(
            r.readmitted_30d,
            i64::from(counts),
            "{again} {destination:?}"
        );
    }
}

#[test]
fn a_municipality_change_between_admission_and_discharge_moves_the_discharge() {
    let mut s = Story::new();
    s.admit("c1", "p1", OREBRO, t("2026-03-02T09:00:00Z"))
        .ready("c1", "p1", OREBRO, t("2026-03-03T09:00:00Z"))
        .discharge("c1", "p1", STOCKHOLM, t("2026-03-10T09:00:00Z"));
    let rows = s.rows("2026-03", "2026-03", Grouping::Municipality);
    assert_eq!(rows.len(), 2);
    let (o, st) = (
        row(&rows, "2026-03", OREBRO),
        row(&rows, "2026-03", STOCKHOLM),
    );
    // Sorted by group: 0180 before 1880.
    assert_eq!(rows[0].group, STOCKHOLM);
    assert_eq!((o.admissions, o.sip_due, o.discharges), (1, 1, 0));
    assert_eq!(
        (st.admissions, st.sip_due, st.discharges, st.liability_days),
        (0, 0, 1, 4)
    );
    assert_eq!(
        (o.group_name.as_str(), st.group_name.as_str()),
        ("Örebro", "Stockholm")
    );
    let rows = s.rows("2026-03", "2026-03", Grouping::County);
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.group.as_str(), r.group_name.as_str()))
        .collect();
    assert_eq!(names, [("01", "Stockholms län"), ("18", "Örebro län")]);
    // An event without a municipality keeps the one before it.
    let mut s = Story::new();
    s.admit("c1", "p1", OREBRO, t("2026-03-02T09:00:00Z"))
        .discharge("c1", "p1", "", t("2026-03-10T09:00:00Z"));
    let rows = s.rows("2026-03", "2026-03", Grouping::Municipality);
    assert_eq!(row(&rows, "2026-03", OREBRO).discharges, 1);
}

#[test]
fn sip_on_time_by_the_invitations_occurred_at_and_the_holiday_deadline() {
    // (ready at, invitation after ready (s), on time); readyAt local dates.
    let day = 86_400;
    let table = [
        ("2026-03-06T09:00:00Z", Some(day), true), // Friday: 24 h
        ("2026-03-06T09:00:00Z", Some(day + 1), false),
        ("2026-03-07T09:00:00Z", Some(3 * day), true), // Saturday: 72 h
        ("2026-03-07T09:00:00Z", Some(3 * day + 1), false),
        ("2026-01-06T09:00:00Z", Some(3 * day), true), // Trettondedag jul
        ("2026-12-24T09:00:00Z", Some(day + 1), false), // julafton is not
        ("2026-03-06T09:00:00Z", Some(-day), true),    // before ready
        ("2026-03-06T09:00:00Z", None, false),
        // Saturday 00:30 local is Friday 23:30 UTC: the local date counts.
        ("2026-03-06T23:30:00Z", Some(3 * day), true),
    ];
    for (ready, invited, on_time) in table {
        let mut s = Story::new();
        let ready = t(ready);
        s.ready("c1", "p1", OREBRO, ready);
        if let Some(secs) = invited {
            s.invite("c1", "p1", OREBRO, ready + Duration::seconds(secs));
        }
        let month = Month::of(ready).to_string();
        let rows = s.rows(&month, &month, Grouping::All);
        let r = row(&rows, &month, "SE");
        assert_eq!(
            (r.sip_due, r.sip_on_time),
            (1, i64::from(on_time)),
            "{ready} {invited:?}"
        );
    }
}

#[test]
fn sip_plans_count_each_cases_first_plan_in_its_month() {
    let mut s = Story::new();
    s.plan("c1", OREBRO, t("2026-03-31T21:00:00Z"), false) // 23:00 local: March
        .plan("c1", OREBRO, t("2026-04-05T09:00:00Z"), true) // a later version: ignored
        .plan("c2", OREBRO, t("2026-04-01T09:00:00Z"), true);
    let rows = s.rows("2026-03", "2026-04", Grouping::Municipality);
    let (m, a) = (row(&rows, "2026-03", OREBRO), row(&rows, "2026-04", OREBRO));
    assert_eq!((m.sip_plans, m.sip_plans_with_patient), (1, 0));
    assert_eq!((a.sip_plans, a.sip_plans_with_patient), (1, 1));
}

#[test]
fn deviations_count_by_their_author_and_units_are_named_as_last_seen() {
    let mut s = Story::new();
    s.admit("c1", "p1", OREBRO, t("2026-03-02T09:00:00Z"))
        .deviation("c1", OREBRO, t("2026-03-03T09:00:00Z"), "SE2321000164-HC01")
        .deviation("c1", OREBRO, t("2026-03-04T09:00:00Z"), "SE2321000164-HC01");
    let rows = s.rows("2026-03", "2026-03", Grouping::Unit);
    let ward = row(&rows, "2026-03", WARD);
    let home = row(&rows, "2026-03", "SE2321000164-HC01");
    assert_eq!((ward.admissions, ward.deviations), (1, 0));
    assert_eq!((home.admissions, home.deviations), (0, 2));
    assert_eq!(ward.group_name, "Avdelning 03");
    assert_eq!(home.group_name, "Avdelning 01");
}

/// `n` admissions and `n` discharges with a day's wait each, in Örebro.
fn n_stays(n: usize) -> Story {
    let mut s = Story::new();
    for i in 0..n {
        let case = format!("c{i}");
        s.admit(&case, &case, OREBRO, t("2026-03-01T09:00:00Z"))
            .ready(&case, &case, OREBRO, t("2026-03-10T09:00:00Z"))
            .discharge(&case, &case, OREBRO, t("2026-03-11T09:00:00Z"));
    }
    s
}

#[test]
fn small_numbers_are_suppressed_from_1_to_4_and_shown_from_5() {
    let header = "month,group,group_name,admissions,discharges,ready_days_median,ready_days_p90,liability_days,discharges_with_liability,sip_due,sip_on_time,readmitted_30d,sip_plans,sip_plans_with_patient,deviations\r\n";
    let table = [
        (4, true, "2026-03,1880,Örebro,<5,<5,,,0,0,<5,0,0,0,0,0\r\n"),
        (
            5,
            true,
            "2026-03,1880,Örebro,5,5,1.00,1.00,0,0,5,0,0,0,0,0\r\n",
        ),
        (
            4,
            false,
            "2026-03,1880,Örebro,4,4,1.00,1.00,0,0,4,0,0,0,0,0\r\n",
        ),
    ];
    for (n, suppress, line) in table {
        let rows = n_stays(n).rows("2026-03", "2026-03", Grouping::Municipality);
        assert_eq!(
            csv(&rows, suppress),
            format!("{header}{line}"),
            "{n} {suppress}"
        );
    }
    let rows = n_stays(4).rows("2026-03", "2026-03", Grouping::Municipality);
    let value = json(
        &rows,
        Month::parse("2026-03").unwrap(),
        Month::parse("2026-03").unwrap(),
        Grouping::Municipality,
        true,
    );
    assert_eq!(value["by"], "municipality");
    assert_eq!(value["rows"][0]["admissions"], "<5");
    assert_eq!(
        value["rows"][0]["ready_days_median"],
        serde_json::Value::Null
    );
    assert_eq!(value["rows"][0]["liability_days"], 0);
    let exact = json(
        &rows,
        rows[0].month,
        rows[0].month,
        Grouping::Municipality,
        false,
    );
    assert_eq!(exact["rows"][0]["admissions"], 4);
    assert_eq!(exact["rows"][0]["ready_days_p90"].to_string(), "1.0");
}

/// A canonical example of `ty`, in Örebro, at `at`, with `set` applied to
/// its payload.
fn example(
    ty: &str,
    at: &str,
    set: impl FnOnce(&mut Payload, prost_types::Timestamp),
) -> CaseEvent {
    let mut e = common::canonical_example(ty);
    let at = from_utc(t(at));
    e.occurred_at = Some(at);
    e.patient.as_mut().unwrap().municipality_code = OREBRO.into();
    set(e.payload.as_mut().unwrap(), at);
    e
}

#[tokio::test]
async fn samgate_indicators_writes_the_stored_cases_figures_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let engine = samgate::engine::Engine::default();
    let events = [
        example("admissionNotice", "2026-03-02T08:00:00Z", |p, at| {
            if let Payload::AdmissionNotice(a) = p {
                a.admitted_at = Some(at);
            }
        }),
        example("dischargeReady", "2026-03-05T09:00:00Z", |p, at| {
            if let Payload::DischargeReady(d) = p {
                d.ready_at = Some(at);
            }
        }),
        example("sipInvitation", "2026-03-05T15:00:00Z", |_, _| {}),
        example("sipPlan", "2026-03-06T10:00:00Z", |p, _| {
            if let Payload::SipPlan(plan) = p {
                plan.patient_participated = true;
            }
        }),
        example("dischargeNotice", "2026-03-10T09:00:00Z", |p, at| {
            if let Payload::DischargeNotice(d) = p {
                d.discharged_at = Some(at);
                d.destination = DischargeDestination::Home as i32;
            }
        }),
        example("deviation", "2026-04-01T10:00:00Z", |_, _| {}),
    ];
    for e in &events {
        store.submit(&common::checked(e), &engine).await.unwrap();
    }
    store.close().await;
    drop(store);
    let out = Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "indicators",
            "--from",
            "2026-03",
            "--to",
            "2026-04",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = "month,group,group_name,admissions,discharges,ready_days_median,ready_days_p90,liability_days,discharges_with_liability,sip_due,sip_on_time,readmitted_30d,sip_plans,sip_plans_with_patient,deviations\r\n\
        2026-03,1880,Örebro,1,1,5.00,5.00,2,1,1,1,0,1,1,0\r\n\
        2026-04,1880,Örebro,0,0,,,0,0,0,0,0,0,0,1\r\n";
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);

    let json = indicators(
        dir.path(),
        &[
            "--from",
            "2026-03",
            "--to",
            "2026-03",
            "--by",
            "county",
            "--format",
            "json",
            "--suppress-small",
        ],
    );
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "from": "2026-03", "to": "2026-03", "by": "county",
            "rows": [{
                "month": "2026-03", "group": "18", "group_name": "Örebro län",
                "admissions": "<5", "discharges": "<5",
                "ready_days_median": null, "ready_days_p90": null,
                "liability_days": "<5", "discharges_with_liability": "<5",
                "sip_due": "<5", "sip_on_time": "<5", "readmitted_30d": 0,
                "sip_plans": "<5", "sip_plans_with_patient": "<5", "deviations": 0,
            }],
        })
    );
    // A month that is not one, or --from after --to: refused.
    let bad = indicators(dir.path(), &["--from", "2026-13", "--to", "2026-12"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = indicators(dir.path(), &["--from", "2026-04", "--to", "2026-03"]);
    assert!(!bad.status.success());
}

fn indicators(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("indicators")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_reopened_case_counts_its_first_stay_once_and_its_new_admission_as_a_readmission() {
    let mut s = Story::new();
    s.admit("c1", "p1", OREBRO, t("2026-03-02T09:00:00Z"))
        .discharge("c1", "p1", OREBRO, t("2026-03-10T09:00:00Z"))
        .add(
            "c1",
            "p1",
            OREBRO,
            t("2026-03-20T09:00:00Z"),
            Payload::CaseReopened(CaseReopened::default()),
        )
        .admit("c1", "p1", OREBRO, t("2026-03-20T09:00:00Z"))
        .discharge("c1", "p1", OREBRO, t("2026-03-25T09:00:00Z"));
    let rows = s.rows("2026-03", "2026-03", Grouping::Municipality);
    let r = row(&rows, "2026-03", OREBRO);
    assert_eq!((r.admissions, r.discharges, r.readmitted_30d), (1, 1, 1));
}

#[test]
fn a_discharge_that_arrives_before_its_ready_notice_still_gives_its_ready_days() {
    let mut s = Story::new();
    s.discharge("c1", "p1", OREBRO, t("2026-03-10T09:00:00Z"))
        .ready("c1", "p1", OREBRO, t("2026-03-08T09:00:00Z"));
    let rows = s.rows("2026-03", "2026-03", Grouping::All);
    let r = row(&rows, "2026-03", "SE");
    assert_eq!(
        (r.discharges, r.ready_days_median, r.sip_due),
        (1, h(200), 1)
    );
    // The case folded no dischargeReady before its discharge: it shows none.
    assert_eq!(r.liability_days, 0);
}

#[test]
fn months_and_groupings_parse_strictly() {
    for (text, ok) in [
        ("2026-01", true),
        ("2026-12", true),
        ("2026-13", false),
        ("2026-00", false),
        ("2026-1", false),
        ("26-01", false),
        ("2026/01", false),
        ("2026-01-01", false),
    ] {
        assert_eq!(Month::parse(text).is_ok(), ok, "{text}");
    }
    assert_eq!(Month::parse("2026-03").unwrap().to_string(), "2026-03");
    for by in ["municipality", "county", "unit", "all"] {
        assert_eq!(Grouping::parse(by).unwrap().as_str(), by);
    }
    assert!(Grouping::parse("region").is_err());
}

/// `IndicatorService.Compute` answers the rows `samgate indicators` writes,
/// typed: a count, days, or a suppressed small count.
#[tokio::test]
async fn the_grpc_service_returns_the_same_rows() {
    use samgate_proto::v1::case_service_client::CaseServiceClient;
    use samgate_proto::v1::indicator_service_client::IndicatorServiceClient;
    use samgate_proto::v1::indicator_value::Value as Cell;

    let served = common::grpc::serve_fresh().await;
    let mut cases = CaseServiceClient::new(served.channel.clone());
    for ty in ["admissionNotice", "dischargeReady", "dischargeNotice"] {
        cases
            .submit_raw(SubmitRawRequest {
                dialect: Dialect::Lifecare as i32,
                payload: common::example_bytes("lifecare", ty),
            })
            .await
            .unwrap();
    }
    let mut indicators = IndicatorServiceClient::new(served.channel.clone());
    let ask = |suppress_small| ComputeIndicatorsRequest {
        from: "2024-10".into(),
        to: "2024-11".into(),
        by: String::new(),
        suppress_small,
    };
    let rows = indicators
        .compute(ask(false))
        .await
        .unwrap()
        .into_inner()
        .rows;
    let from = Month::parse("2024-10").unwrap();
    let to = Month::parse("2024-11").unwrap();
    let want = samgate::indicators::from_store(
        served.store.as_ref(),
        from,
        to,
        Grouping::Municipality,
        &LiabilityAgreements::default(),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), want.len());
    for (got, want) in rows.iter().zip(&want) {
        assert_eq!(got.month, want.month.to_string());
        assert_eq!(got.group, want.group);
        assert_eq!(got.group_name, want.group_name);
        let count = |v: &Option<IndicatorValue>| match v.as_ref().and_then(|v| v.value) {
            Some(Cell::Count(n)) => n,
            other => panic!("a count: {other:?}"),
        };
        assert_eq!(count(&got.admissions), want.admissions);
        assert_eq!(count(&got.discharges), want.discharges);
        assert_eq!(count(&got.liability_days), want.liability_days);
    }
    let october = rows.iter().find(|r| r.month == "2024-10").unwrap();
    assert_eq!(october.group_name, "Linköping");
    let suppressed = indicators
        .compute(ask(true))
        .await
        .unwrap()
        .into_inner()
        .rows;
    let october = suppressed.iter().find(|r| r.month == "2024-10").unwrap();
    assert_eq!(
        october.admissions.as_ref().unwrap().value,
        Some(Cell::Small(true))
    );
    let status = indicators
        .compute(ComputeIndicatorsRequest {
            from: "2024-13".into(),
            ..ask(false)
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().starts_with("from: "),
        "{}",
        status.message()
    );
    served.stop().await;
}
