//! One test per row of the contract's tables ("Fields read", the
//! disposition mapping, "Parsing"): each row's accepted forms and each of
//! its refusals, with the answer code and the location it names.

mod support;

use samgate_hl7v2::stay::Dispositions;
use samgate_hl7v2::{IgnoreReason, Options, Outcome, Trigger, read};
use samgate_proto::time::format_utc;
use samgate_proto::v1::{DischargeDestination, IdKind};
use support::{Msg, PNR, SAMNR, brief};

fn a03() -> Msg {
    Msg::a01().trigger("A03").set("PV1", 45, "202410301015")
}

// ---- idempotency key: (MSH-3, MSH-4, MSH-10), each as written; MSH-10 required

#[test]
fn idempotency_key_as_written() {
    let s = Msg::a01()
        .set("MSH", 3, "COSMIC\\T\\X")
        .set("MSH", 10, "ID\\F\\1")
        .stay();
    let k = s.key();
    assert_eq!(k.sending_application, "COSMIC\\T\\X");
    assert_eq!(k.facility, "SE2321000131-E000000000001");
    assert_eq!(k.control_id, "ID\\F\\1");
}

#[test]
fn control_id_is_required() {
    let r = Msg::a01().set("MSH", 10, "").refusal();
    assert_eq!(brief(&r), "AE 101 MSH-10");
}

// ---- message type: MSH-9

#[test]
fn acting_triggers() {
    for t in Trigger::ALL {
        let mut m = Msg::a01()
            .trigger(t.as_str())
            .set("PV1", 45, "202410301015");
        if t == Trigger::A06 {
            m = m.set("PV1", 2, "I");
        }
        let s = m.stay();
        assert_eq!(s.trigger, t);
    }
}

#[test]
fn other_adt_triggers_are_ignored_and_some_warned() {
    for (t, warn) in [
        ("A04", false),
        ("A05", false),
        ("A07", true),
        ("A40", true),
        ("A47", true),
    ] {
        match Msg::a01().trigger(t).read().outcome {
            Outcome::Ignored(i) => {
                assert_eq!(i.reason, IgnoreReason::OtherTrigger { warn }, "{t}");
                assert_eq!(i.trigger, t);
                assert_eq!(i.key.control_id, "MSG0001");
            }
            other => panic!("{t}: {other:?}"),
        }
    }
}

#[test]
fn non_adt_and_bad_triggers_are_rejected() {
    let r = Msg::a01().set("MSH", 9, "ORU^R01^ORU_R01").refusal();
    assert_eq!(brief(&r), "AR 200 MSH-9");
    for bad in ["ADT", "ADT^^ADT_A01", "ADT^X01", "ADT^A1"] {
        let r = Msg::a01().set("MSH", 9, bad).refusal();
        assert_eq!(brief(&r), "AR 201 MSH-9", "{bad}");
    }
}

#[test]
fn an_incoming_ack_is_never_answered() {
    let m = Msg::a01().set("MSH", 9, "ACK^A01^ACK").without("PV1");
    assert_eq!(m.read().outcome, Outcome::IncomingAck);
}

// ---- patient identity: PID-3

#[test]
fn identity_by_oid() {
    let s = Msg::a01().stay();
    assert_eq!(
        (s.person.id.as_str(), s.person.id_kind),
        (PNR, IdKind::Personnummer)
    );
    let s = Msg::a01()
        .set("PID", 3, &format!("{SAMNR}^^^&1.2.752.129.2.1.3.3&ISO"))
        .stay();
    assert_eq!(
        (s.person.id.as_str(), s.person.id_kind),
        (SAMNR, IdKind::Samordningsnummer)
    );
}

#[test]
fn identity_by_nnswe_day_decides_the_kind() {
    let s = Msg::a01().set("PID", 3, &format!("{PNR}^^^^NNSWE")).stay();
    assert_eq!(s.person.id_kind, IdKind::Personnummer);
    let s = Msg::a01()
        .set("PID", 3, &format!("{SAMNR}^^^^NNSWE"))
        .stay();
    assert_eq!(s.person.id_kind, IdKind::Samordningsnummer);
}

#[test]
fn identity_first_matching_repetition() {
    let s = Msg::a01()
        .set(
            "PID",
            3,
            &format!("MRN1^^^HOSP^MR~{PNR}^^^^NNSWE~{SAMNR}^^^^NNSWE"),
        )
        .stay();
    assert_eq!(s.person.id, PNR);
}

#[test]
fn identity_refusals() {
    let cases = [
        ("MRN1^^^HOSP^MR", "AE 101 PID-3"),
        ("", "AE 101 PID-3"),
        ("19121212-1212^^^^NNSWE", "AE 102 PID-3"),
        ("1212121212^^^^NNSWE", "AE 102 PID-3"),
        ("191212121213^^^^NNSWE", "AE 102 PID-3"),
        ("191213121212^^^^NNSWE", "AE 102 PID-3"),
        ("191212721212^^^&1.2.752.129.2.1.3.1", "AE 102 PID-3"),
        // The first Swedish repetition decides, even when a later one is valid.
        (
            &format!("191212121213^^^^NNSWE~{PNR}^^^^NNSWE"),
            "AE 102 PID-3",
        ),
    ];
    for (pid3, want) in cases {
        let r = Msg::a01().set("PID", 3, pid3).refusal();
        assert_eq!(brief(&r), want, "{pid3}");
        assert!(
            !r.reason.contains("1912"),
            "the reason repeats the number: {}",
            r.reason
        );
    }
}

// ---- name: PID-5

#[test]
fn name_legal_repetition_else_first() {
    let s = Msg::a01()
        .set("PID", 5, "Smeknamn^Tolle^^^^^N~Tolvansson&van^Tolvan^^^^^L")
        .stay();
    assert_eq!(s.person.family_name.as_deref(), Some("Tolvansson"));
    assert_eq!(s.person.given_name.as_deref(), Some("Tolvan"));
    let s = Msg::a01().set("PID", 5, "Först^Anna~Andra^Berit").stay();
    assert_eq!(s.person.family_name.as_deref(), Some("Först"));
    assert_eq!(s.person.given_name.as_deref(), Some("Anna"));
    let s = Msg::a01().set("PID", 5, "").stay();
    assert_eq!((s.person.family_name, s.person.given_name), (None, None));
}

// ---- home municipality: PID-11.9

#[test]
fn municipality_l_then_h_then_first() {
    let m = |pid11: &str| {
        Msg::a01()
            .set("PID", 11, pid11)
            .stay()
            .person
            .municipality_code
    };
    assert_eq!(m("^^^^^^H^^1880~^^^^^^L^^0180").as_deref(), Some("0180"));
    assert_eq!(m("^^^^^^M^^1880~^^^^^^H^^0180").as_deref(), Some("0180"));
    assert_eq!(m("^^^^^^M^^1880~^^^^^^C^^0180").as_deref(), Some("1880"));
    assert_eq!(m("^^^^^^H^^1880&Örebro").as_deref(), Some("1880"));
    assert_eq!(m("^^^^^^H"), None);
    assert_eq!(m(""), None);
}

#[test]
fn municipality_refusals() {
    let r = Msg::a01().set("PID", 11, "^^^^^^H^^188").refusal();
    assert_eq!(brief(&r), "AE 102 PID-11");
    let r = Msg::a01().set("PID", 11, "^^^^^^H^^Örebro").refusal();
    assert_eq!(brief(&r), "AE 102 PID-11");
    let r = Msg::a01().set("PID", 11, "^^^^^^H^^9999").refusal();
    assert_eq!(brief(&r), "AE 103 PID-11");
}

#[test]
fn municipality_only_from_a01_a03_a08() {
    let bad = "^^^^^^H^^9999";
    for t in ["A02", "A06", "A11", "A12", "A13"] {
        let s = Msg::a01().trigger(t).set("PID", 11, bad).stay();
        assert_eq!(s.person.municipality_code, None, "{t}");
    }
    for t in ["A08", "A03"] {
        let m = Msg::a01().trigger(t).set("PV1", 45, "202410301015");
        assert_eq!(m.set("PID", 11, bad).refusal().code.code(), 103, "{t}");
    }
}

// ---- death: PID-30

#[test]
fn death_indicator() {
    let d = |v: &str| Msg::a01().set("PID", 30, v).stay().person.deceased;
    assert_eq!(d("Y"), Some(true));
    assert_eq!(d("N"), None);
    assert_eq!(d(""), None);
    // Values outside Y/N (a real feed writes NO) change nothing.
    assert_eq!(d("NO"), None);
}

// ---- protected identity: PD1-12

#[test]
fn protection_indicator() {
    let p = |t: &str, v: &str| {
        Msg::a01()
            .trigger(t)
            .set("PV1", 45, "202410301015")
            .set("PD1", 12, v)
            .stay()
            .person
            .protected_identity
    };
    for t in ["A01", "A03", "A08"] {
        assert_eq!(p(t, "Y"), Some(true), "{t}");
        assert_eq!(p(t, ""), None, "{t}");
    }
    assert_eq!(p("A08", "N"), Some(false));
    assert_eq!(p("A01", "N"), None);
    assert_eq!(p("A03", "N"), None);
    assert_eq!(p("A02", "Y"), None);
    let s = Msg::a01().without("PD1").stay();
    assert_eq!(s.person.protected_identity, None);
    let r = Msg::a01().set("PD1", 12, "J").refusal();
    assert_eq!(brief(&r), "AE 103 PD1-12");
}

// ---- patient class: PV1-2

#[test]
fn patient_class_decides_whether_a_stay_is_touched() {
    let s = Msg::a01().stay();
    assert!(s.touches_stay());
    // An outpatient A01/A03/A08 updates the person register only: the
    // stay's fields are neither required nor read.
    for t in ["A01", "A03", "A08"] {
        let s = Msg::a01()
            .trigger(t)
            .set("PV1", 2, "O")
            .set("PV1", 3, "")
            .set("PV1", 19, "")
            .set("PV1", 44, "")
            .stay();
        assert!(!s.touches_stay(), "{t}");
        assert_eq!((s.ward, s.visit_number, s.admitted_at), (None, None, None));
    }
    for t in ["A02", "A06", "A11", "A12", "A13"] {
        match Msg::a01().trigger(t).set("PV1", 2, "E").read().outcome {
            Outcome::Ignored(i) => assert_eq!(i.reason, IgnoreReason::NotInpatient, "{t}"),
            other => panic!("{t}: {other:?}"),
        }
    }
}

// ---- ward PV1-3.1, hospital PV1-3.4

#[test]
fn ward_and_hospital() {
    let s = Msg::a01().stay();
    assert_eq!(s.ward.as_deref(), Some("SE2321000164-7381"));
    assert_eq!(s.hospital.as_deref(), Some("SE2321000164-1004"));
    // From 2.7, PL.1 and PL.4 are HD: their first part is read.
    let s = Msg::a01()
        .set("MSH", 12, "2.8")
        .set(
            "PV1",
            3,
            "SE2321000164-7381&1.2.3&ISO^^^SE2321000164-1004&1.2.3&ISO",
        )
        .stay();
    assert_eq!(s.ward.as_deref(), Some("SE2321000164-7381"));
    assert_eq!(s.hospital.as_deref(), Some("SE2321000164-1004"));
    // An HSA-id longer than PL.1's 20 characters is read whole.
    let long = "SE2321000164-ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    assert_eq!(
        Msg::a01().set("PV1", 3, long).stay().ward.as_deref(),
        Some(long)
    );
    let s = Msg::a01().set("PV1", 3, "SE2321000164-7381").stay();
    assert_eq!(s.hospital, None);
}

#[test]
fn ward_required_for_a01_and_a02() {
    for t in ["A01", "A02"] {
        let r = Msg::a01()
            .trigger(t)
            .set("PV1", 3, "^^^SE2321000164-1004")
            .refusal();
        assert_eq!(brief(&r), "AE 101 PV1-3", "{t}");
    }
    let s = a03().set("PV1", 3, "").stay();
    assert_eq!(s.ward, None);
}

// ---- visit number: PV1-19

#[test]
fn visit_number_required_except_a08() {
    assert_eq!(Msg::a01().stay().visit_number.as_deref(), Some("V123"));
    assert_eq!(
        Msg::a01()
            .set("PV1", 19, "V9^^^HOSP^VN")
            .stay()
            .visit_number
            .as_deref(),
        Some("V9")
    );
    for t in ["A01", "A02", "A03", "A06", "A11", "A12", "A13"] {
        let r = Msg::a01()
            .trigger(t)
            .set("PV1", 45, "202410301015")
            .set("PV1", 19, "")
            .refusal();
        assert_eq!(brief(&r), "AE 101 PV1-19", "{t}");
    }
    let s = Msg::a01().trigger("A08").set("PV1", 19, "").stay();
    assert_eq!(s.visit_number, None);
}

// ---- discharge disposition: PV1-36 and the default mapping

#[test]
fn disposition_default_mapping() {
    use DischargeDestination::*;
    let rows = [
        ("01", Home),
        ("06", Home),
        ("07", Home),
        ("02", OtherHospital),
        ("03", ShortTermCare),
        ("04", ShortTermCare),
        ("05", SpecialHousing),
        ("20", Deceased),
        ("40", Deceased),
        ("41", Deceased),
        ("42", Deceased),
    ];
    for (code, want) in rows {
        let s = a03().set("PV1", 36, code).stay();
        assert_eq!(s.destination, Some(want), "{code}");
        // 2.7+ makes PV1-36 a CWE: its first part is read.
        let s = a03().set("PV1", 36, &format!("{code}^Text^HL70112")).stay();
        assert_eq!(s.destination, Some(want), "{code}");
    }
    assert_eq!(a03().stay().destination, Some(Home));
    assert_eq!(a03().set("PID", 30, "Y").stay().destination, Some(Deceased));
    assert_eq!(
        brief(&a03().set("PV1", 36, "99").refusal()),
        "AE 103 PV1-36"
    );
}

#[test]
fn disposition_mapping_is_configuration() {
    let options = Options {
        dispositions: Dispositions::new(
            [("99".to_owned(), DischargeDestination::SpecialHousing)].into(),
        ),
        ..Options::default()
    };
    let m = a03().set("PV1", 36, "99").bytes();
    match read(&m, &options).outcome {
        Outcome::Stay(s) => assert_eq!(s.destination, Some(DischargeDestination::SpecialHousing)),
        other => panic!("{other:?}"),
    }
    let m = a03().set("PV1", 36, "01").bytes();
    assert!(matches!(read(&m, &options).outcome, Outcome::Refused(r) if r.code.code() == 103));
}

// ---- admitted at PV1-44, discharged at PV1-45

#[test]
fn admitted_at() {
    let s = Msg::a01().stay();
    assert_eq!(format_utc(&s.admitted_at.unwrap()), "2024-10-27T06:00:00Z");
    let s = Msg::a01()
        .set("PV1", 44, "20241027070000+0100^S~20241028000000")
        .stay();
    assert_eq!(format_utc(&s.admitted_at.unwrap()), "2024-10-27T06:00:00Z");
    for t in ["A01", "A06"] {
        let r = Msg::a01().trigger(t).set("PV1", 44, "").refusal();
        assert_eq!(brief(&r), "AE 101 PV1-44", "{t}");
    }
    assert_eq!(
        Msg::a01()
            .trigger("A02")
            .set("PV1", 44, "")
            .stay()
            .admitted_at,
        None
    );
    assert_eq!(
        brief(&Msg::a01().set("PV1", 44, "20241027").refusal()),
        "AE 102 PV1-44"
    );
    assert_eq!(
        brief(&Msg::a01().set("PV1", 44, "202403310230").refusal()),
        "AE 102 PV1-44"
    );
}

#[test]
fn discharged_at() {
    let s = a03().stay();
    assert_eq!(
        format_utc(&s.discharged_at.unwrap()),
        "2024-10-30T09:15:00Z"
    );
    assert_eq!(brief(&a03().set("PV1", 45, "").refusal()), "AE 101 PV1-45");
    assert_eq!(
        brief(&a03().set("PV1", 45, "2024103010").refusal()),
        "AE 102 PV1-45"
    );
    // Only an A03 sets it.
    let s = Msg::a01()
        .trigger("A13")
        .set("PV1", 45, "202410301015")
        .stay();
    assert_eq!(s.discharged_at, None);
}

// ---- event time: EVN-6, else EVN-2, else MSH-7

#[test]
fn event_time_order() {
    let t = |m: Msg| format_utc(&m.stay().event_at);
    assert_eq!(
        t(Msg::a01().set("EVN", 6, "202410271000")),
        "2024-10-27T09:00:00Z"
    );
    assert_eq!(t(Msg::a01()), "2024-10-27T06:41:00Z");
    assert_eq!(t(Msg::a01().set("EVN", 2, "")), "2024-10-27T06:40:00Z");
    assert_eq!(
        brief(&Msg::a01().set("EVN", 6, "2024").refusal()),
        "AE 102 EVN-6"
    );
    let r = Msg::a01().set("EVN", 2, "").set("MSH", 7, "").refusal();
    assert_eq!(brief(&r), "AE 101 MSH-7");
}

// ---- parsing: segments, limits, character sets, versions, processing id

#[test]
fn required_segments() {
    for seg in ["EVN", "PID", "PV1"] {
        let r = Msg::a01().without(seg).refusal();
        assert_eq!(brief(&r), format!("AE 100 {seg}"));
    }
    // Other segments, Z-segments included, are skipped; only the first of a
    // repeated segment is read.
    let s = Msg::a01()
        .seg("ZXY", &[(1, "\\Zanything\\")])
        .seg("PV1", &[(2, "I"), (3, "OTHER"), (19, "V999")])
        .stay();
    assert_eq!(s.visit_number.as_deref(), Some("V123"));
}

#[test]
fn field_limit() {
    let big = "x".repeat(samgate_hl7v2::MAX_FIELD_BYTES + 1);
    let r = Msg::a01().set("PID", 5, &big).refusal();
    assert_eq!(brief(&r), "AE 102 PID-5");
    // A big field in a segment samgate skips is not read.
    Msg::a01().seg("OBX", &[(5, &big)]).stay();
}

#[test]
fn character_sets() {
    let latin1 = |m: &Msg| {
        m.bytes()
            .into_iter()
            .flat_map(|b| if b < 0x80 { vec![b] } else { vec![] })
            .collect::<Vec<u8>>()
    };
    let name = "Åström^Örjan^^^^^L";
    // Declared ISO-8859-1.
    let mut bytes = latin1(&Msg::a01().set("PID", 5, "XNAME").set("MSH", 18, "8859/1"));
    let at = bytes.windows(5).position(|w| w == b"XNAME").unwrap();
    bytes.splice(at..at + 5, b"\xC5str\xF6m^\xD6rjan^^^^^L".iter().copied());
    match read(&bytes, &Options::default()).outcome {
        Outcome::Stay(s) => {
            assert_eq!(s.person.family_name.as_deref(), Some("Åström"));
            assert_eq!(s.person.given_name.as_deref(), Some("Örjan"));
        }
        other => panic!("{other:?}"),
    }
    // Nothing declared and not UTF-8: ISO-8859-1.
    let mut undeclared = bytes.clone();
    let at = undeclared.windows(7).position(|w| w == b"|8859/1").unwrap();
    undeclared.drain(at + 1..at + 7);
    assert!(
        matches!(read(&undeclared, &Options::default()).outcome, Outcome::Stay(s) if s.person.family_name.as_deref() == Some("Åström"))
    );
    // UTF-8, declared or not.
    for label in ["", "UNICODE UTF-8", "ASCII", "UNICODE UTF-8~8859/1"] {
        let s = Msg::a01().set("MSH", 18, label).set("PID", 5, name).stay();
        assert_eq!(s.person.family_name.as_deref(), Some("Åström"), "{label}");
    }
    // Declared UTF-8 but not UTF-8: AR 102 where the bad byte is.
    let mut bad = bytes.clone();
    let at = bad.windows(7).position(|w| w == b"|8859/1").unwrap();
    bad.splice(at + 1..at + 7, b"UNICODE UTF-8".iter().copied());
    match read(&bad, &Options::default()).outcome {
        Outcome::Refused(r) => assert_eq!(brief(&r), "AR 102 PID-5"),
        other => panic!("{other:?}"),
    }
    for label in ["8859/15", "UNICODE", "ISO IR87"] {
        let r = Msg::a01().set("MSH", 18, label).refusal();
        assert_eq!(brief(&r), "AR 103 MSH-18", "{label}");
    }
}

#[test]
fn versions() {
    for v in [
        "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
    ] {
        Msg::a01().set("MSH", 12, v).stay();
        Msg::a01().set("MSH", 12, &format!("{v}^SWE")).stay();
    }
    for v in ["2.2", "2.9", "3.0", "", "2.5.2", "2.8.10000000000"] {
        let r = Msg::a01().set("MSH", 12, v).refusal();
        assert_eq!(brief(&r), "AR 203 MSH-12", "{v}");
    }
}

#[test]
fn processing_id() {
    Msg::a01().stay();
    match Msg::a01().set("MSH", 11, "T").read().outcome {
        Outcome::Ignored(i) => assert_eq!(i.reason, IgnoreReason::Training),
        other => panic!("{other:?}"),
    }
    let options = Options {
        accept_training: true,
        ..Options::default()
    };
    let m = Msg::a01().set("MSH", 11, "T").bytes();
    assert!(matches!(read(&m, &options).outcome, Outcome::Stay(_)));
    for p in ["D", "", "p"] {
        let r = Msg::a01().set("MSH", 11, p).refusal();
        assert_eq!(brief(&r), "AR 202 MSH-11", "{p}");
    }
}

#[test]
fn escapes_in_fields_read() {
    let s = Msg::a01()
        .set("PID", 5, "Af\\T\\Berg^Anna\\.br\\Lisa^^^^^L")
        .stay();
    assert_eq!(s.person.family_name.as_deref(), Some("Af&Berg"));
    assert_eq!(s.person.given_name.as_deref(), Some("Anna Lisa"));
    let r = Msg::a01().set("PID", 5, "Berg\\Z1\\^Anna").refusal();
    assert_eq!(brief(&r), "AE 102 PID-5");
    // \P\ is known from 2.7.
    let r = Msg::a01().set("PID", 5, "A\\P\\B").refusal();
    assert_eq!(brief(&r), "AE 102 PID-5");
    let s = Msg::a01()
        .set("MSH", 12, "2.7")
        .set("PID", 5, "A\\P\\B")
        .stay();
    assert_eq!(s.person.family_name.as_deref(), Some("A#B"));
}

#[test]
fn terminators_bom_and_delimiters() {
    let base = Msg::a01().bytes();
    let with = |sep: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        for b in &base {
            if *b == b'\r' {
                out.extend_from_slice(sep);
            } else {
                out.push(*b);
            }
        }
        out
    };
    let want = Msg::a01().stay();
    for sep in [&b"\r"[..], b"\n", b"\r\n"] {
        let mut m = with(sep);
        assert!(
            matches!(read(&m, &Options::default()).outcome, Outcome::Stay(ref s) if **s == want)
        );
        // No terminator after the last segment.
        m.truncate(m.len() - sep.len());
        assert!(
            matches!(read(&m, &Options::default()).outcome, Outcome::Stay(ref s) if **s == want)
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(&m);
        assert!(
            matches!(read(&bom, &Options::default()).outcome, Outcome::Stay(ref s) if **s == want)
        );
    }
    // Other delimiters, from MSH-1 and MSH-2.
    let other = support::other_delimiters(&base);
    assert!(
        matches!(read(&other, &Options::default()).outcome, Outcome::Stay(ref s) if **s == want)
    );
}

#[test]
fn message_limits() {
    let mut m = Msg::a01().bytes();
    m.resize(samgate_hl7v2::MAX_MESSAGE_BYTES + 1, b'x');
    let r = match read(&m, &Options::default()).outcome {
        Outcome::Refused(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(brief(&r), "AR 100 MSH");
    let mut m = Msg::a01();
    for _ in 0..samgate_hl7v2::MAX_SEGMENTS {
        m = m.seg("ZZZ", &[(1, "x")]);
    }
    assert_eq!(brief(&m.refusal()), "AR 100 MSH");
}

// ---- the stay update as JSON

#[test]
fn json_form() {
    let s = a03()
        .set("PV1", 36, "03")
        .set("PD1", 12, "Y")
        .set("EVN", 6, "202410301016")
        .stay();
    let want = serde_json::json!({
        "trigger": "A03",
        "facility": "SE2321000131-E000000000001",
        "visitNumber": "V123",
        "messageControlId": "MSG0001",
        "eventAt": "2024-10-30T09:16:00Z",
        "patientClass": "I",
        "person": {
            "id": PNR,
            "idKind": "PERSONNUMMER",
            "familyName": "Tolvansson",
            "givenName": "Tolvan",
            "municipalityCode": "1880",
            "protectedIdentity": true
        },
        "ward": "SE2321000164-7381",
        "hospital": "SE2321000164-1004",
        "admittedAt": "2024-10-27T06:00:00Z",
        "dischargedAt": "2024-10-30T09:15:00Z",
        "destination": "SHORT_TERM_CARE"
    });
    assert_eq!(s.to_json(), want);
    let keys: Vec<String> = s.to_json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys[..4],
        ["trigger", "facility", "visitNumber", "messageControlId"]
    );
}
