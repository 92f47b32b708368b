//! Fuzzes the HL7 v2 reader: the MLLP decoder, the batch splitter and the
//! message reader never panic; every message read gets an ACK that is
//! itself a readable HL7 message with MSA-1 AA, AE or AR; an accepted
//! message has a JSON form and reads the same way twice.
#![no_main]

use samgate_hl7v2::ack::{self, Answer};
use samgate_hl7v2::mllp::{Decoder, Frame};
use samgate_hl7v2::{MAX_MESSAGE_BYTES, Options, Outcome, batch, message, read};

fn check_message(data: &[u8]) {
    let options = Options::default();
    let r = read(data, &options);
    let answer = match &r.outcome {
        Outcome::IncomingAck => return,
        Outcome::Refused(refusal) => Answer::Refused(refusal),
        Outcome::Stay(s) => {
            let _ = s.to_json();
            assert_eq!(read(data, &options).outcome, r.outcome);
            Answer::Accepted
        }
        Outcome::Ignored(_) => Answer::Accepted,
    };
    let now = samgate_proto::Timestamp {
        seconds: 1_730_000_000,
        nanos: 0,
    };
    let ack = ack::build(&r.context, answer, &now, "FUZZ");
    let parsed = message::parse(&ack).expect("an ACK is a readable message");
    let msa = parsed.first("MSA").expect("an ACK has MSA");
    let code = msa.field(1, &parsed.delims);
    assert!(matches!(code, b"AA" | b"AE" | b"AR"));
    assert!(
        !ack.windows(2).any(|w| w == [0x1C, 0x0D]),
        "an ACK must not end its frame early"
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_message(data);
    if let Ok(messages) = batch::split(data) {
        for m in messages {
            check_message(m);
        }
    }
    // The same bytes as a stream, in uneven pieces.
    let mut decoder = Decoder::new();
    for piece in data.chunks(7) {
        let mut rest = piece;
        while !rest.is_empty() {
            match decoder.decode(&mut rest) {
                Ok(Some(Frame::Message(m))) => {
                    assert!(m.len() <= MAX_MESSAGE_BYTES);
                    check_message(&m);
                }
                Ok(Some(Frame::Oversized { .. })) | Ok(None) => {}
                Err(_) => return,
            }
        }
        assert!(decoder.buffered() <= MAX_MESSAGE_BYTES + 1);
    }
});
