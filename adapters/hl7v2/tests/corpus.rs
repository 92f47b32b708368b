//! The shared corpus (tests/data/hl7v2, see its SOURCES.md): every real
//! message is read, refused only for want of a Swedish identity (AE 101 at
//! PID-3); with a Swedish identity put in, each is accepted; every
//! fuzzer-found input is refused, each within a measured second, without a
//! panic, by the reader, the batch splitter and the MLLP decoder.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use samgate_hl7v2::ack::{self, Answer};
use samgate_hl7v2::mllp::{self, Decoder, Frame};
use samgate_hl7v2::{ErrorCode, Location, Options, Outcome, batch, read};
use samgate_proto::time::parse_rfc3339;
use support::PNR;

/// The time a hostile input may take to be refused.
const BOUND: Duration = Duration::from_secs(1);

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/hl7v2")
        .join(dir)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn ack_text(r: &samgate_hl7v2::Reading) -> Option<String> {
    let now = parse_rfc3339("2024-10-27T07:40:00Z").unwrap();
    let answer = match &r.outcome {
        Outcome::Refused(refusal) => Answer::Refused(refusal),
        Outcome::IncomingAck => return None,
        _ => Answer::Accepted,
    };
    Some(String::from_utf8_lossy(&ack::build(&r.context, answer, &now, "A1")).into_owned())
}

#[test]
fn every_real_message_is_read_and_refused_only_for_the_swedish_identity() {
    let paths = files(&data("real"));
    assert_eq!(paths.len(), 13);
    let mut read_count = 0;
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        for m in batch::split(&bytes).unwrap() {
            read_count += 1;
            let r = read(m, &Options::default());
            let ack = ack_text(&r).unwrap();
            match &r.outcome {
                Outcome::Ignored(_) => assert!(ack.contains("\rMSA|AA|"), "{path:?}"),
                Outcome::Refused(e) => {
                    assert_eq!(
                        (e.code, e.location),
                        (ErrorCode::RequiredFieldMissing, Location::field("PID", 3)),
                        "{path:?}: {e}"
                    );
                    assert!(ack.contains("\rMSA|AE|"), "{path:?}");
                    assert!(
                        ack.contains("PID^1^3") && ack.contains("101"),
                        "{path:?}: {ack}"
                    );
                }
                other => panic!("{path:?}: {other:?}"),
            }
        }
    }
    assert_eq!(read_count, 13);
}

/// The message with PID-3 replaced by a Swedish personnummer.
fn with_swedish_identity(m: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(m.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(m)).into_owned();
    let mut out = String::new();
    for line in text.split_inclusive(['\r', '\n']) {
        if let Some(rest) = line.strip_prefix("PID|") {
            let mut fields: Vec<String> = rest.split('|').map(str::to_owned).collect();
            while fields.len() < 3 {
                fields.push(String::new());
            }
            fields[2] = format!("{PNR}^^^^NNSWE");
            out.push_str("PID|");
            out.push_str(&fields.join("|"));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

#[test]
fn every_real_message_is_accepted_with_a_swedish_identity() {
    let mut stays = 0;
    for path in files(&data("real")) {
        let bytes = std::fs::read(&path).unwrap();
        for m in batch::split(&bytes).unwrap() {
            let r = read(&with_swedish_identity(m), &Options::default());
            match &r.outcome {
                Outcome::Stay(s) => {
                    stays += 1;
                    assert_eq!(s.person.id, PNR);
                    // The JSON form is complete enough to print.
                    assert!(s.to_json().get("trigger").is_some());
                }
                Outcome::Ignored(_) => {}
                other => panic!("{path:?}: {other:?}"),
            }
        }
    }
    assert!(stays >= 5, "{stays}");
}

#[test]
fn every_hostile_input_is_refused_in_time_without_a_panic() {
    let paths = files(&data("hostile"));
    assert_eq!(paths.len(), 37);
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let r = read(&bytes, &Options::default());
        assert!(
            matches!(r.outcome, Outcome::Refused(_)),
            "{path:?}: {:?}",
            r.outcome
        );
        let _ = ack_text(&r);
        // As a batch (AMQP, CLI): refused whole, or each message refused.
        if let Ok(messages) = batch::split(&bytes) {
            for m in messages {
                let r = read(m, &Options::default());
                assert!(matches!(r.outcome, Outcome::Refused(_)), "{path:?}");
            }
        }
        // Over MLLP, in one frame, fed a byte at a time.
        let framed = mllp::encode(&bytes);
        let mut decoder = Decoder::new();
        let mut frames = Vec::new();
        for b in framed.chunks(1) {
            let mut rest = b;
            while !rest.is_empty() {
                if let Some(f) = decoder.decode(&mut rest).unwrap() {
                    frames.push(f);
                }
            }
        }
        for f in frames {
            if let Frame::Message(m) = f {
                assert!(matches!(
                    read(&m, &Options::default()).outcome,
                    Outcome::Refused(_)
                ));
            }
        }
        let took = started.elapsed();
        assert!(took < BOUND, "{path:?} took {took:?}");
    }
}

#[test]
fn large_hostile_inputs_are_refused_in_time() {
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    let limit = samgate_hl7v2::MAX_MESSAGE_BYTES;
    let head = support::Msg::a01().without("PID").bytes();
    let grow = |fill: &[u8]| {
        let mut m = head.clone();
        m.extend_from_slice(b"PID|");
        while m.len() + fill.len() <= limit {
            m.extend_from_slice(fill);
        }
        m
    };
    inputs.push(grow(b"^"));
    inputs.push(grow(b"~"));
    inputs.push(grow(b"&"));
    inputs.push(grow(b"\\"));
    inputs.push(grow(b"\\X41"));
    inputs.push(grow(b"|"));
    inputs.push(grow(b"\r"));
    inputs.push(grow(b"\rZZZ|"));
    inputs.push(grow(b"\xFF"));
    inputs.push(vec![b'|'; limit]);
    inputs.push([b"MSH|^~\\&|".as_slice(), &vec![b'A'; limit - 9]].concat());
    for (i, input) in inputs.iter().enumerate() {
        assert!(input.len() <= limit);
        let started = Instant::now();
        let r = read(input, &Options::default());
        let _ = ack_text(&r);
        let took = started.elapsed();
        assert!(took < BOUND, "input {i} took {took:?}");
        assert!(!matches!(r.outcome, Outcome::Stay(_)), "input {i}");
    }
}

#[test]
fn truncated_and_mutated_real_messages_never_panic() {
    for path in files(&data("real")) {
        let bytes = std::fs::read(&path).unwrap();
        let step = (bytes.len() / 150).max(1);
        for end in (0..bytes.len()).step_by(step) {
            let _ = ack_text(&read(&bytes[..end], &Options::default()));
            let _ = batch::split(&bytes[..end]);
        }
        for at in (0..bytes.len()).step_by(step) {
            for b in [0x00, b'|', b'^', b'\\', b'\r', 0x0B, 0x1C, 0xC3, 0xFF] {
                let mut m = bytes.clone();
                m[at] = b;
                let _ = ack_text(&read(&m, &Options::default()));
            }
        }
    }
}
