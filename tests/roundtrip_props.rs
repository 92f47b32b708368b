//! Property tests: random valid canonical events survive encode → decode in
//! every dialect, and every cross-dialect chain A → B → canonical.
//!
//! Generated times avoid the second occurrence of the repeated autumn hour,
//! which Lifecare cannot represent (a documented warning, tested in
//! refusals.rs).

mod common;

use proptest::prelude::*;
use samgate::dialects::DialectName;
use samgate_proto::codes::CanonicalEnum;
use samgate_proto::ids::municipalities;
use samgate_proto::time::{stockholm, to_utc};
use samgate_proto::v1::*;
use samgate_proto::{Actor, CaseEvent, Patient, Payload, Timestamp};

/// 2000-01-01 to 2040-01-01.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    (946_684_800i64..2_208_988_800)
        .prop_map(|seconds| Timestamp { seconds, nanos: 0 })
        .prop_filter("not in Lifecare's ambiguous hour", |t| {
            !stockholm::is_repeated_hour_second(to_utc(t).unwrap())
        })
}

fn date() -> impl Strategy<Value = String> {
    (2000i32..2040, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

/// Text as people write it, Swedish letters and XML's special characters
/// included; trimmed, since the dialects trim.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-zÅÄÖåäöéü0-9 &<>\"'.,:;!?€()/-]{0,24}".prop_map(|s| s.trim().to_owned())
}

fn nonempty_text() -> impl Strategy<Value = String> {
    text().prop_filter("non-empty", |s| !s.is_empty())
}

fn hsa_id() -> impl Strategy<Value = String> {
    ("[0-9]{10}", "[A-Za-z0-9]{1,12}").prop_map(|(org, local)| format!("SE{org}-{local}"))
}

fn optional<T: std::fmt::Debug + Clone + Default + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![Just(T::default()), s].boxed()
}

fn enum_value<E: CanonicalEnum + std::fmt::Debug + 'static>() -> impl Strategy<Value = i32> {
    proptest::sample::select(E::all()).prop_map(Into::into)
}

fn optional_enum<E: CanonicalEnum + std::fmt::Debug + 'static>() -> BoxedStrategy<i32> {
    prop_oneof![Just(0), enum_value::<E>()].boxed()
}

fn actor() -> impl Strategy<Value = Actor> {
    (hsa_id(), text(), enum_value::<ActorKind>()).prop_map(|(hsa_id, name, kind)| Actor {
        hsa_id,
        name,
        kind,
    })
}

fn patient() -> impl Strategy<Value = Patient> {
    let ids = prop_oneof![
        proptest::sample::select(vec![
            "194102069046",
            "191212121212",
            "200001252386",
            "189002029800"
        ])
        .prop_map(|id| (id.to_owned(), IdKind::Personnummer as i32)),
        proptest::sample::select(vec!["191500722390", "192004912388", "195102892386"])
            .prop_map(|id| (id.to_owned(), IdKind::Samordningsnummer as i32)),
        "[0-9A-Z]{1,20}".prop_map(|id| (id, IdKind::Reservnummer as i32)),
    ];
    let codes: Vec<&'static str> = municipalities().iter().map(|m| m.code).collect();
    (
        ids,
        text(),
        text(),
        optional(proptest::sample::select(codes).prop_map(str::to_owned)),
        any::<bool>(),
        optional(hsa_id()),
    )
        .prop_map(
            |(
                (id, id_kind),
                given_name,
                family_name,
                municipality_code,
                protected_identity,
                listed,
            )| Patient {
                id,
                id_kind,
                given_name,
                family_name,
                municipality_code,
                protected_identity,
                listed_unit_hsa_id: listed,
            },
        )
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(nonempty_text(), 0..3)
}

fn sip_plan() -> impl Strategy<Value = Payload> {
    let goal = (text(), strings()).prop_map(|(text, sub_goals)| Goal { text, sub_goals });
    let intervention = (text(), optional(hsa_id()), text()).prop_map(
        |(text, responsible_hsa_id, responsible_name)| Intervention {
            text,
            responsible_hsa_id,
            responsible_name,
        },
    );
    let follow_up = prop_oneof![Just((String::new(), String::new())), (date(), text()),];
    (
        1i32..50,
        proptest::collection::vec(goal, 1..3),
        text(),
        proptest::collection::vec(intervention, 0..3),
        strings(),
        hsa_id(),
        follow_up,
        any::<bool>(),
    )
        .prop_map(
            |(
                version,
                goals,
                person_expectations,
                interventions,
                other_measures,
                coordinator,
                (d, n),
                p,
            )| {
                Payload::SipPlan(SipPlan {
                    version,
                    goals,
                    person_expectations,
                    interventions,
                    other_measures,
                    coordinator_hsa_id: coordinator,
                    follow_up_date: d,
                    follow_up_note: n,
                    patient_participated: p,
                })
            },
        )
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (
            timestamp(),
            text(),
            optional(date()),
            optional_enum::<Residence>(),
            text()
        )
            .prop_map(|(t, r, d, res, n)| {
                Payload::AdmissionNotice(AdmissionNotice {
                    admitted_at: Some(t),
                    reason: r,
                    expected_discharge_date: d,
                    residence: res,
                    assessed_needs: n,
                })
            }),
        (optional_enum::<Residence>(), strings(), text(), text()).prop_map(
            |(residence, s, phone, note)| {
                Payload::InNotice(InNotice {
                    residence,
                    current_services: s,
                    contact_phone: phone,
                    note,
                })
            }
        ),
        (hsa_id(), nonempty_text(), text(), text()).prop_map(|(hsa_id, name, role, phone)| {
            Payload::CareContactAssigned(CareContactAssigned {
                contact: Some(CareContact {
                    hsa_id,
                    name,
                    role,
                    phone,
                }),
            })
        }),
        (timestamp(), text()).prop_map(|(t, by)| Payload::DischargeReady(DischargeReady {
            ready_at: Some(t),
            assessed_by: by,
        })),
        (
            timestamp(),
            optional_enum::<MeetingPlace>(),
            proptest::collection::vec(actor(), 0..3),
            text()
        )
            .prop_map(
                |(t, place, invitees, note)| Payload::SipInvitation(SipInvitation {
                    meeting_at: Some(t),
                    place,
                    invitees,
                    note,
                })
            ),
        sip_plan(),
        (timestamp(), enum_value::<DischargeDestination>()).prop_map(|(t, d)| {
            Payload::DischargeNotice(DischargeNotice {
                discharged_at: Some(t),
                destination: d,
            })
        }),
        (text(), text(), nonempty_text()).prop_map(|(thread, subject, body)| {
            Payload::ThreadMessage(ThreadMessage {
                thread,
                subject,
                body,
            })
        }),
        (enum_value::<ConsentDecision>(), text(), text()).prop_map(
            |(decision, scope, recorded_by)| {
                Payload::Consent(Consent {
                    decision,
                    scope,
                    recorded_by,
                })
            }
        ),
        text().prop_map(|reason| Payload::CaseOpened(CaseOpened { reason })),
        enum_value::<CloseReason>().prop_map(|reason| Payload::CaseClosed(CaseClosed { reason })),
        text().prop_map(|reason| Payload::CaseReopened(CaseReopened { reason })),
        (enum_value::<DeviationCategory>(), text()).prop_map(|(category, description)| {
            Payload::Deviation(Deviation {
                category,
                description,
            })
        }),
    ]
}

fn event() -> impl Strategy<Value = CaseEvent> {
    (
        "[A-Za-z0-9-]{1,20}",
        timestamp(),
        "[A-Za-z0-9-]{1,20}",
        enum_value::<CareProcess>(),
        actor(),
        patient(),
        payload(),
    )
        .prop_map(
            |(id, at, case_ref, process, author, patient, payload)| CaseEvent {
                source_system: SourceSystem::Native as i32,
                source_message_id: id,
                occurred_at: Some(at),
                case_ref,
                process,
                author: Some(author),
                patient: Some(patient),
                payload: Some(payload),
            },
        )
}

fn through(d: DialectName, event: &CaseEvent) -> CaseEvent {
    let bytes = d
        .adapter()
        .encode(
            &samgate_proto::validate::check_event(event.clone()).unwrap(),
            None,
        )
        .unwrap_or_else(|e| panic!("{d}: {e}"))
        .bytes;
    let mut back = d
        .adapter()
        .decode(&bytes)
        .unwrap_or_else(|e| panic!("{d}: {e}\n{}", String::from_utf8_lossy(&bytes)))
        .event
        .into_inner();
    back.source_system = event.source_system;
    back
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_dialect_round_trips(event in event()) {
        samgate_proto::validate::check_event(event.clone()).unwrap();
        for d in DialectName::ALL {
            prop_assert_eq!(&through(d, &event), &event, "{}", d);
        }
    }

    #[test]
    fn every_cross_dialect_pair_round_trips(event in event()) {
        for a in DialectName::ALL {
            for b in DialectName::ALL {
                if a != b {
                    let back = through(b, &through(a, &event));
                    prop_assert_eq!(&back, &event, "{} -> {}", a, b);
                }
            }
        }
    }

    #[test]
    fn canonical_json_round_trips(event in event()) {
        let text = samgate_proto::canonical::to_string_pretty(&event);
        prop_assert_eq!(samgate_proto::canonical::from_str(&text).unwrap(), event);
    }
}
