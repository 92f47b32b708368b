//! Batches: `FHS`/`BHS` … messages … `BTS`/`FTS`, split into messages.
//!
//! Batches come by AMQP and on the CLI, never over MLLP (one frame is one
//! message). The headers and trailers are checked for shape only and then
//! dropped: each message is read and answered on its own. Input that
//! starts with MSH is a single message or several in a row.

use crate::error::Refusal;
use crate::message::{UTF8_BOM, lines};

/// The most messages one batch may hold: a batch is read into one list of
/// slices, and no journal system batches more than a night's ADT of one
/// ward into a file.
pub const MAX_BATCH_MESSAGES: usize = 100_000;

/// The messages of a batch (or the one message), as slices of `input`.
pub fn split(input: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    let bytes = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    let mut messages = Vec::new();
    let mut start: Option<usize> = None;
    let mut file_ended = false;
    for (index, (offset, line)) in lines(bytes).enumerate() {
        let id = line.get(..3).unwrap_or(line);
        if file_ended {
            return Err(Refusal::unreadable("a batch file goes on after its FTS"));
        }
        match id {
            b"FHS" if index == 0 => {}
            b"FHS" => return Err(Refusal::unreadable("FHS may only open a batch file")),
            b"MSH" | b"BHS" | b"BTS" | b"FTS" => {
                if let Some(s) = start.take() {
                    messages.push(&bytes[s..offset]);
                }
                if id == b"MSH" {
                    start = Some(offset);
                }
                file_ended = id == b"FTS";
                if messages.len() >= MAX_BATCH_MESSAGES {
                    return Err(Refusal::unreadable(format!(
                        "the batch holds more than {MAX_BATCH_MESSAGES} messages"
                    )));
                }
            }
            _ if start.is_some() => {}
            _ => {
                return Err(Refusal::unreadable(
                    "not an HL7 v2 message or batch: a batch holds FHS, BHS, MSH…, BTS, FTS in that order",
                ));
            }
        }
    }
    if let Some(s) = start {
        messages.push(&bytes[s..]);
    }
    if messages.is_empty() {
        return Err(Refusal::unreadable(
            "not an HL7 v2 message or batch: no MSH segment",
        ));
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_batch_and_a_single_message() {
        let batch = b"\xEF\xBB\xBFFHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|1\rPID|x\rMSH|^~\\&|2\rBTS|2\rFTS|1\r";
        let m = split(batch).unwrap();
        assert_eq!(m, [&b"MSH|^~\\&|1\rPID|x\r"[..], b"MSH|^~\\&|2\r"]);
        assert_eq!(
            split(b"MSH|^~\\&|1\nPID|x").unwrap(),
            [&b"MSH|^~\\&|1\nPID|x"[..]]
        );
    }

    #[test]
    fn refuses_what_is_not_a_batch() {
        for bad in [
            &b""[..],
            b"FHS|^~\\&\rFTS|0",
            b"PID|1\rMSH|^~\\&|1",
            b"MSH|^~\\&|1\rFTS|1\rMSH|^~\\&|2",
            b"FHS|^~\\&\rMSH|^~\\&|1\rFHS|^~\\&",
        ] {
            assert!(split(bad).is_err(), "{bad:?}");
        }
    }
}
