//! The ACK forms of the contract's Acknowledgements section, for 2.3 (ERR-1)
//! and 2.5 (ERR-2/3/4/8), and what an ACK must never carry.

mod support;

use samgate_hl7v2::ack::{self, AckContext, Answer};
use samgate_hl7v2::{Options, Outcome, Reading, Refusal, read};
use samgate_proto::Timestamp;
use samgate_proto::time::parse_rfc3339;
use support::{Msg, PNR};

fn now() -> Timestamp {
    parse_rfc3339("2024-10-27T07:40:00Z").unwrap()
}

/// The ACK a reading earns (as the listener will build it).
fn ack_for(r: &Reading) -> String {
    let answer = match &r.outcome {
        Outcome::Refused(refusal) => Answer::Refused(refusal),
        Outcome::IncomingAck => panic!("an ACK is never answered"),
        _ => Answer::Accepted,
    };
    String::from_utf8(ack::build(&r.context, answer, &now(), "ACK1")).unwrap()
}

const HEAD_25: &str = "MSH|^~\\&|samgate|REGION|COSMIC|SE2321000131-E000000000001|20241027084000+0100||ACK^A01^ACK|ACK1|P|2.5\r";
const HEAD_23: &str = "MSH|^~\\&|samgate|REGION|COSMIC|SE2321000131-E000000000001|20241027084000+0100||ACK^A01|ACK1|P|2.3\r";

#[test]
fn aa_in_2_5_and_2_3() {
    assert_eq!(
        ack_for(&Msg::a01().read()),
        format!("{HEAD_25}MSA|AA|MSG0001\r")
    );
    let m = Msg::a01().set("MSH", 12, "2.3");
    assert_eq!(ack_for(&m.read()), format!("{HEAD_23}MSA|AA|MSG0001\r"));
    // 2.3.1 added the message structure: three components from there on.
    let a = ack_for(&Msg::a01().set("MSH", 12, "2.3.1").read());
    assert!(a.contains("|ACK^A01^ACK|"), "{a}");
}

#[test]
fn ignored_messages_get_aa_too() {
    let m = Msg::a01().trigger("A04");
    assert!(ack_for(&m.read()).contains("|ACK^A04^ACK|ACK1|P|2.5\rMSA|AA|MSG0001\r"));
    let m = Msg::a01().set("MSH", 11, "T");
    assert!(ack_for(&m.read()).contains("|T|2.5\rMSA|AA|MSG0001\r"));
}

#[test]
fn ae_in_2_5_has_err_2_3_4_8() {
    let r = Msg::a01().set("PID", 3, "MRN1^^^HOSP^MR").read();
    assert_eq!(
        ack_for(&r),
        format!(
            "{HEAD_25}MSA|AE|MSG0001\rERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3: a Swedish personnummer or samordningsnummer (CX.4 universal id 1.2.752.129.2.1.3.1 or .3.3, or CX.5 NNSWE) is required\r"
        )
    );
}

#[test]
fn ae_in_2_3_has_err_1() {
    let r = Msg::a01().set("MSH", 12, "2.3").set("PV1", 19, "").read();
    assert_eq!(
        ack_for(&r),
        format!(
            "{HEAD_23}MSA|AE|MSG0001\rERR|PV1^1^19^101&PV1-19: the visit number (PV1-19.1) is required\r"
        )
    );
    // A location without a field.
    let r = Msg::a01().set("MSH", 12, "2.4").without("EVN").read();
    assert!(
        ack_for(&r).ends_with(
            "MSA|AE|MSG0001\rERR|EVN^1^^100&EVN: the EVN segment is required for an A01\r"
        )
    );
}

#[test]
fn ar_forms() {
    // Not HL7: MSH unreadable, empty MSA-2, P, ASCII.
    let r = read(b"garbage", &Options::default());
    assert_eq!(
        ack_for(&r),
        "MSH|^~\\&|samgate||||20241027084000+0100||ACK^^ACK|ACK1|P|\rMSA|AR|\rERR||MSH^1|100^Segment sequence error^HL70357|E||||MSH: not an HL7 v2 message: it does not start with an MSH segment\r"
    );
    let r = Msg::a01().set("MSH", 12, "2.9").read();
    assert!(
        ack_for(&r)
            .contains("|2.9\rMSA|AR|MSG0001\rERR||MSH^1^12|203^Unsupported version id^HL70357|E|")
    );
    let r = Msg::a01().set("MSH", 11, "D").read();
    assert!(ack_for(&r).contains("MSA|AR|MSG0001\rERR||MSH^1^11|202^"));
    let r = Msg::a01().set("MSH", 9, "ORU^R01").read();
    assert!(ack_for(&r).contains("||ACK^R01^ACK|ACK1|P|2.5\rMSA|AR|MSG0001\rERR||MSH^1^9|200^"));
    // An unknown character set: echoed, the ACK in ASCII.
    let r = Msg::a01().set("MSH", 18, "ISO IR87").read();
    let a = ack_for(&r);
    assert!(
        a.contains("|2.5||||||ISO IR87\rMSA|AR|MSG0001\rERR||MSH^1^18|103^"),
        "{a}"
    );
}

#[test]
fn ar_207_and_ae_205_from_the_store() {
    let r = Msg::a01().read();
    let a = ack::build(
        &r.context,
        Answer::Refused(&Refusal::cannot_commit()),
        &now(),
        "ACK2",
    );
    let a = String::from_utf8(a).unwrap();
    assert!(
        a.contains("MSA|AR|MSG0001\rERR||MSH^1|207^Application internal error^HL70357|E|"),
        "{a}"
    );
    let a = ack::build(
        &r.context,
        Answer::Refused(&Refusal::duplicate_key()),
        &now(),
        "ACK3",
    );
    let a = String::from_utf8(a).unwrap();
    assert!(
        a.contains("MSA|AE|MSG0001\rERR||MSH^1^10|205^Duplicate key identifier^HL70357|E|"),
        "{a}"
    );
}

#[test]
fn original_mode_whatever_msh_15_16_say() {
    let r = Msg::a01().set("MSH", 15, "NE").set("MSH", 16, "NE").read();
    assert!(ack_for(&r).contains("MSA|AA|MSG0001"));
}

#[test]
fn msh_18_is_echoed_in_msh_18() {
    let r = Msg::a01().set("MSH", 18, "UNICODE UTF-8").read();
    let a = ack_for(&r);
    let msh: Vec<&str> = a.split('\r').next().unwrap().split('|').collect();
    assert_eq!(msh[17], "UNICODE UTF-8");
    assert_eq!(msh.len(), 18);
}

#[test]
fn echoes_are_reencoded_in_the_standard_delimiters() {
    // The message uses # * ! / %, and MSH-3 holds two components, the
    // second with a literal '^' (written @ here, swapped in after mapping).
    let m = Msg::a01().set("MSH", 3, "APP^X@Y").bytes();
    let mapped = support::other_delimiters(&m);
    let text = String::from_utf8(mapped).unwrap();
    let r = read(text.as_bytes(), &Options::default());
    assert!(matches!(r.outcome, Outcome::Stay(_)), "{:?}", r.outcome);
    let a = ack_for(&r);
    assert!(
        a.starts_with("MSH|^~\\&|samgate|REGION|APP^X\\S\\Y|"),
        "{a}"
    );
}

#[test]
fn an_ack_never_carries_personal_data() {
    let bad = [
        Msg::a01().set("PID", 3, "191212121213^^^^NNSWE"),
        Msg::a01().set("PID", 11, "^^^^^^H^^9999"),
        Msg::a01().set("PID", 5, "Tolvansson\\Z\\^Tolvan"),
        Msg::a01().set("PV1", 44, "20241327"),
        Msg::a01().set("PD1", 12, "Tolvan"),
    ];
    for m in bad {
        let r = m.read();
        assert!(matches!(r.outcome, Outcome::Refused(_)));
        let a = ack_for(&r);
        for secret in [PNR, "121212", "Tolvan", "9999", "20241327", "Storgatan"] {
            assert!(!a.contains(secret), "{secret} in {a}");
        }
    }
}

#[test]
fn every_ack_is_a_readable_message() {
    for r in [
        Msg::a01().read(),
        Msg::a01().set("MSH", 12, "2.3").set("PID", 3, "").read(),
        read(b"\x00\x01", &Options::default()),
    ] {
        let a = ack_for(&r);
        let parsed = samgate_hl7v2::message::parse(a.as_bytes()).unwrap();
        assert_eq!(parsed.segments[1].id, b"MSA");
    }
    let _ = AckContext::unreadable();
}
