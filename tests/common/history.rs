//! A generated history of coordinated care: inpatient stays (admission,
//! discharge-ready, SIP invitation and plans, discharge, deviations, thread
//! messages), readmissions of the same person, and a few outpatient cases,
//! as canonical JSON events in arrival order. Deterministic: a seeded
//! SplitMix64 drives every choice, so a seed always gives the same bytes.
//!
//! The generator keeps what it generated ([`Event`]), so a test can compute
//! the expected figures from it by plain arithmetic; [`Event::to_json`]
//! writes the line `samgate import --from json` reads. Authors are units of
//! the built-in directory (`config/directory/`), patients have valid
//! personnummer (born 1930 to 1949, Luhn check digit).
//!
//! Used by `tests/indicators_e2e.rs` and `benches/indicators.rs`.

#![allow(dead_code)]

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// SplitMix64: small, fast and good enough to pick test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A duration of whole minutes in `lo..hi` minutes.
    pub fn minutes(&mut self, lo: i64, hi: i64) -> Duration {
        Duration::minutes(lo + self.below((hi - lo) as u64) as i64)
    }
}

/// A unit of the built-in directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub hsa_id: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
}

/// The units of one county in the built-in directory, by role.
#[derive(Debug, Clone, Copy)]
pub struct CountyUnits {
    pub hospital: Unit,
    pub primary_care: Unit,
    pub municipal: Unit,
}

const OREBRO_LAN: CountyUnits = CountyUnits {
    hospital: Unit {
        hsa_id: "SE2321000164-M112",
        name: "Medicinavdelning 12, Universitetssjukhuset Örebro",
        kind: "HOSPITAL",
    },
    primary_care: Unit {
        hsa_id: "SE2321000164-VCVI",
        name: "Vivalla vårdcentral",
        kind: "PRIMARY_CARE",
    },
    municipal: Unit {
        hsa_id: "SE2120001843-HSJV",
        name: "Örebro kommun, hemsjukvård",
        kind: "MUNICIPAL_HEALTHCARE",
    },
};

const OSTERGOTLAND: CountyUnits = CountyUnits {
    hospital: Unit {
        hsa_id: "SE2321000040-GER1",
        name: "Geriatriska kliniken, Universitetssjukhuset i Linköping",
        kind: "HOSPITAL",
    },
    primary_care: Unit {
        hsa_id: "SE2321000040-V2K1",
        name: "Vårdcentralen Ekholmen",
        kind: "PRIMARY_CARE",
    },
    municipal: Unit {
        hsa_id: "SE2120000449-KHSL",
        name: "Linköpings kommun, hemsjukvård",
        kind: "MUNICIPAL_HEALTHCARE",
    },
};

/// The municipalities patients live in: (kommunkod, name as in SCB's list),
/// three in Östergötland (05) and three in Örebro län (18).
pub const MUNICIPALITIES: [(&str, &str); 6] = [
    ("0580", "Linköping"),
    ("0581", "Norrköping"),
    ("0583", "Motala"),
    ("1880", "Örebro"),
    ("1881", "Kumla"),
    ("1883", "Karlskoga"),
];

/// The units that care for patients of `municipality`: its county's.
pub fn units_of(municipality: &str) -> CountyUnits {
    if municipality.starts_with("18") {
        OREBRO_LAN
    } else {
        OSTERGOTLAND
    }
}

/// Person `n`'s personnummer (12 digits): born on one of the 7,300 days
/// from 1930-01-01, with a serial from `n`, and its Luhn check digit.
pub fn personnummer(n: usize) -> String {
    let born = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + Duration::days((n % 7_300) as i64);
    let serial = 100 + n / 7_300;
    assert!(serial < 1_000, "person {n}: out of serials");
    let nine = format!(
        "{:02}{:02}{:02}{serial:03}",
        born.year() % 100,
        born.month(),
        born.day()
    );
    let check = samgate_proto::ids::luhn_check_digit(nine.as_bytes());
    format!("{}{nine}{check}", born.year() / 100)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Home,
    ShortTermCare,
    SpecialHousing,
    OtherHospital,
    Deceased,
}

impl Destination {
    fn as_str(self) -> &'static str {
        match self {
            Destination::Home => "HOME",
            Destination::ShortTermCare => "SHORT_TERM_CARE",
            Destination::SpecialHousing => "SPECIAL_HOUSING",
            Destination::OtherHospital => "OTHER_HOSPITAL",
            Destination::Deceased => "DECEASED",
        }
    }
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Admission {
        admitted_at: DateTime<Utc>,
    },
    Ready {
        ready_at: DateTime<Utc>,
    },
    Invitation {
        meeting_at: DateTime<Utc>,
    },
    Plan {
        version: u32,
        with_patient: bool,
    },
    Discharge {
        discharged_at: DateTime<Utc>,
        destination: Destination,
    },
    Deviation,
    Thread,
    CaseOpened,
    Consent,
    CaseClosed,
}

/// One generated event.
#[derive(Debug, Clone)]
pub struct Event {
    pub message_id: String,
    pub case_ref: String,
    pub inpatient: bool,
    /// The person's number (see [`personnummer`]).
    pub person: usize,
    pub municipality: &'static str,
    pub author: Unit,
    pub occurred_at: DateTime<Utc>,
    pub what: What,
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Event {
    /// The event as one line of canonical JSON.
    pub fn to_json(&self) -> String {
        let (key, body) = match &self.what {
            What::Admission { admitted_at } => (
                "admissionNotice",
                serde_json::json!({
                    "admittedAt": ts(*admitted_at),
                    "reason": "Allmän försämring",
                    "residence": "ORDINARY_HOUSING",
                }),
            ),
            What::Ready { ready_at } => (
                "dischargeReady",
                serde_json::json!({
                    "readyAt": ts(*ready_at),
                    "assessedBy": "Överläkare",
                }),
            ),
            What::Invitation { meeting_at } => (
                "sipInvitation",
                serde_json::json!({
                    "meetingAt": ts(*meeting_at),
                    "place": "HOME",
                    "invitees": [unit_json(&units_of(self.municipality).municipal)],
                }),
            ),
            What::Plan {
                version,
                with_patient,
            } => {
                let units = units_of(self.municipality);
                (
                    "sipPlan",
                    serde_json::json!({
                        "version": version,
                        "goals": [{"text": "Kunna bo kvar hemma"}],
                        "interventions": [{
                            "text": "Hemsjukvård",
                            "responsibleHsaId": units.municipal.hsa_id,
                            "responsibleName": units.municipal.name,
                        }],
                        "coordinatorHsaId": units.primary_care.hsa_id,
                        "patientParticipated": with_patient,
                    }),
                )
            }
            What::Discharge {
                discharged_at,
                destination,
            } => (
                "dischargeNotice",
                serde_json::json!({
                    "dischargedAt": ts(*discharged_at),
                    "destination": destination.as_str(),
                }),
            ),
            What::Deviation => (
                "deviation",
                serde_json::json!({
                    "category": "INFORMATION_TRANSFER",
                    "description": "Epikrisen saknades vid hemgång",
                }),
            ),
            What::Thread => (
                "threadMessage",
                serde_json::json!({
                    "thread": "Hemgång",
                    "subject": "Planering",
                    "body": "Hemtjänsten är informerad.",
                }),
            ),
            What::CaseOpened => (
                "caseOpened",
                serde_json::json!({"reason": "Ökat vårdbehov"}),
            ),
            What::Consent => (
                "consent",
                serde_json::json!({
                    "decision": "GIVEN",
                    "scope": "Informationsöverföring mellan region och kommun",
                    "recordedBy": "Distriktssköterska",
                }),
            ),
            What::CaseClosed => ("caseClosed", serde_json::json!({"reason": "GOALS_MET"})),
        };
        let mut v = serde_json::json!({
            "sourceSystem": "NATIVE",
            "sourceMessageId": self.message_id,
            "occurredAt": ts(self.occurred_at),
            "caseRef": self.case_ref,
            "process": if self.inpatient { "INPATIENT" } else { "OUTPATIENT" },
            "author": unit_json(&self.author),
            "patient": {
                "id": personnummer(self.person),
                "idKind": "PERSONNUMMER",
                "givenName": "Test",
                "familyName": "Testsson",
                "municipalityCode": self.municipality,
            },
        });
        v[key] = body;
        serde_json::to_string(&v).unwrap()
    }
}

fn unit_json(u: &Unit) -> serde_json::Value {
    serde_json::json!({"hsaId": u.hsa_id, "name": u.name, "kind": u.kind})
}

/// One inpatient stay as a case: its instants and what happens in it.
#[derive(Debug, Clone)]
pub struct Stay {
    pub municipality: &'static str,
    /// Where the patient lives from the discharge on (a move), if not
    /// `municipality`.
    pub moved_to: Option<&'static str>,
    pub admitted_at: DateTime<Utc>,
    /// Every `dischargeReady`'s readyAt, in arrival order (a second one
    /// after a setback).
    pub readies: Vec<DateTime<Utc>>,
    /// The SIP invitation's occurredAt.
    pub invitation: Option<DateTime<Utc>>,
    /// The plans' occurredAt and patientParticipated, versions 1, 2, …
    pub plans: Vec<(DateTime<Utc>, bool)>,
    pub discharge: Option<(DateTime<Utc>, Destination)>,
    pub deviations: Vec<DateTime<Utc>>,
    pub threads: u32,
}

/// Events as they are added; [`History::events`] gives the arrival order.
#[derive(Debug, Default)]
pub struct History {
    events: Vec<Event>,
    cases: usize,
}

/// How long after the instant it reports each event is sent (arrival
/// order follows occurredAt). A ready notice arrives before a discharge at
/// the same instant.
const ADMISSION_SENT: Duration = Duration::minutes(10);
const READY_SENT: Duration = Duration::minutes(3);
const DISCHARGE_SENT: Duration = Duration::minutes(5);

impl History {
    pub fn new() -> Self {
        History::default()
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        case: &str,
        inpatient: bool,
        person: usize,
        m: &'static str,
        author: Unit,
        at: DateTime<Utc>,
        what: What,
    ) {
        self.events.push(Event {
            message_id: format!("{case}-{}", self.events.len()),
            case_ref: case.to_owned(),
            inpatient,
            person,
            municipality: m,
            author,
            occurred_at: at,
            what,
        });
    }

    fn next_case(&mut self, prefix: &str) -> String {
        self.cases += 1;
        format!("{prefix}-{:06}", self.cases)
    }

    /// Adds `stay` of `person` as a new inpatient case.
    pub fn add_stay(&mut self, person: usize, stay: &Stay) {
        let case = self.next_case("GEN");
        let m = stay.municipality;
        let units = units_of(m);
        let ward = units.hospital;
        let p = person;
        let admitted = stay.admitted_at;
        self.push(
            &case,
            true,
            p,
            m,
            ward,
            admitted + ADMISSION_SENT,
            What::Admission {
                admitted_at: admitted,
            },
        );
        for ready in &stay.readies {
            self.push(
                &case,
                true,
                p,
                m,
                ward,
                *ready + READY_SENT,
                What::Ready { ready_at: *ready },
            );
        }
        if let Some(at) = stay.invitation {
            let meeting_at = stay.readies.first().copied().unwrap_or(at) + Duration::days(2);
            self.push(&case, true, p, m, ward, at, What::Invitation { meeting_at });
        }
        for (i, (at, with_patient)) in stay.plans.iter().enumerate() {
            let what = What::Plan {
                version: i as u32 + 1,
                with_patient: *with_patient,
            };
            self.push(&case, true, p, m, units.primary_care, *at, what);
        }
        for k in 0..stay.threads {
            let at = admitted + ADMISSION_SENT + Duration::minutes(7 + 97 * i64::from(k));
            self.push(&case, true, p, m, ward, at, What::Thread);
        }
        let later = stay.moved_to.unwrap_or(m);
        if let Some((out, destination)) = stay.discharge {
            let what = What::Discharge {
                discharged_at: out,
                destination,
            };
            self.push(&case, true, p, later, ward, out + DISCHARGE_SENT, what);
        }
        for at in &stay.deviations {
            let unit = units_of(later).municipal;
            self.push(&case, true, p, later, unit, *at, What::Deviation);
        }
    }

    /// An outpatient case of `person`: opened, consent, a plan, maybe a
    /// deviation, closed.
    pub fn add_outpatient(
        &mut self,
        person: usize,
        m: &'static str,
        opened: DateTime<Utc>,
        with_patient: bool,
        deviation: bool,
    ) {
        let case = self.next_case("OUT");
        let units = units_of(m);
        let pc = units.primary_care;
        self.push(&case, false, person, m, pc, opened, What::CaseOpened);
        self.push(
            &case,
            false,
            person,
            m,
            pc,
            opened + Duration::hours(1),
            What::Consent,
        );
        let what = What::Plan {
            version: 1,
            with_patient,
        };
        self.push(
            &case,
            false,
            person,
            m,
            pc,
            opened + Duration::days(3),
            what,
        );
        if deviation {
            let at = opened + Duration::days(5);
            self.push(
                &case,
                false,
                person,
                m,
                units.municipal,
                at,
                What::Deviation,
            );
        }
        self.push(
            &case,
            false,
            person,
            m,
            pc,
            opened + Duration::days(20),
            What::CaseClosed,
        );
    }

    /// The events in arrival order: by occurredAt, events at the same
    /// instant in the order they were added.
    pub fn events(mut self) -> Vec<Event> {
        self.events.sort_by_key(|e| e.occurred_at);
        self.events
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    /// Roughly how many inpatient cases (readmissions included).
    pub cases: usize,
    /// The first admissions, and over how many days they spread.
    pub start: DateTime<Utc>,
    pub days: i64,
    /// Thread messages per stay.
    pub threads: u32,
    /// Persons from this number on (so that hand-built cases of a test
    /// keep their own).
    pub first_person: usize,
}

/// Gaps between a discharge and the next admission of the same person:
/// within 30 days (720 h exactly included) and beyond.
const READMISSION_GAPS: [Duration; 7] = [
    Duration::hours(2),
    Duration::days(3),
    Duration::days(20),
    Duration::hours(720),
    Duration::seconds(720 * 3_600 + 1),
    Duration::days(45),
    Duration::days(90),
];

/// Invitation times relative to the first readyAt: before it, well within
/// a day, at the 24 h and 72 h deadlines, a minute after them.
const INVITATION_OFFSETS: [Duration; 9] = [
    Duration::hours(-3),
    Duration::hours(2),
    Duration::minutes(23 * 60 + 59),
    Duration::hours(24),
    Duration::minutes(24 * 60 + 1),
    Duration::hours(30),
    Duration::hours(72),
    Duration::minutes(72 * 60 + 1),
    Duration::days(5),
];

/// A generated history: persons with one to three stays, some readmitted,
/// some deceased, and an outpatient case every fifteenth person.
pub fn generate(p: &Params) -> Vec<Event> {
    let mut h = History::new();
    generate_into(&mut h, p);
    h.events()
}

/// [`generate`], added to `h` (after hand-built cases, say).
pub fn generate_into(h: &mut History, p: &Params) {
    let mut rng = Rng::new(p.seed);
    let mut stays = 0;
    let mut person = p.first_person;
    while stays < p.cases {
        person += 1;
        let m = rng.pick(&MUNICIPALITIES).0;
        let first = p.start + Duration::minutes(rng.below((p.days * 1_440) as u64) as i64);
        if person.is_multiple_of(15) {
            let (with_patient, deviation) = (rng.chance(60), rng.chance(30));
            h.add_outpatient(person, m, first, with_patient, deviation);
            continue;
        }
        let mut admitted = first;
        let mut m = m;
        for _ in 0..3 {
            let stay = random_stay(&mut rng, m, admitted, p.threads);
            h.add_stay(person, &stay);
            stays += 1;
            m = stay.moved_to.unwrap_or(m);
            match stay.discharge {
                Some((out, d)) if d != Destination::Deceased && rng.chance(30) => {
                    admitted = out + *rng.pick(&READMISSION_GAPS);
                }
                _ => break,
            }
        }
    }
}

fn random_stay(rng: &mut Rng, m: &'static str, admitted: DateTime<Utc>, threads: u32) -> Stay {
    let mut stay = Stay {
        municipality: m,
        moved_to: None,
        admitted_at: admitted,
        readies: Vec::new(),
        invitation: None,
        plans: Vec::new(),
        discharge: None,
        deviations: Vec::new(),
        threads,
    };
    // Never before the admission notice has arrived.
    let after_admission = admitted + ADMISSION_SENT + Duration::minutes(1);
    let mut last = admitted;
    if rng.chance(85) {
        let ready = admitted + rng.minutes(60, 12 * 1_440);
        stay.readies.push(ready);
        last = ready;
        if rng.chance(8) {
            let again = ready + rng.minutes(1_440, 4 * 1_440);
            stay.readies.push(again);
            last = again;
        }
        if rng.chance(80) {
            let at = ready + *rng.pick(&INVITATION_OFFSETS);
            stay.invitation = Some(at.max(after_admission));
        }
        if rng.chance(70) {
            let at = ready + rng.minutes(60, 3 * 1_440);
            stay.plans.push((at, rng.chance(60)));
            if rng.chance(10) {
                stay.plans.push((at + Duration::days(1), rng.chance(60)));
            }
        }
    }
    if rng.chance(92) {
        let out = if rng.chance(2) {
            // Discharged at the very instant it was declared ready.
            last
        } else {
            last + rng.minutes(30, 10 * 1_440)
        };
        let destination = match rng.below(100) {
            0..7 => Destination::Deceased,
            7..12 => Destination::OtherHospital,
            12..20 => Destination::ShortTermCare,
            20..25 => Destination::SpecialHousing,
            _ => Destination::Home,
        };
        if rng.chance(3) {
            let other = rng.pick(&MUNICIPALITIES).0;
            stay.moved_to = (other != m).then_some(other);
        }
        stay.discharge = Some((out, destination));
        if rng.chance(15) {
            stay.deviations.push(out + rng.minutes(60, 5 * 1_440));
        }
    }
    if rng.chance(5) {
        stay.deviations.push(after_admission + rng.minutes(1, 600));
    }
    stay
}
