//! HL7 v2 ADT on the command line: `validate --dialect hl7v2` and
//! `translate --from hl7v2 --to json`.
//!
//! An ADT message is not a case event, so it does not go through the
//! dialects' `Decoded` path: each input (one message, several in a row, or
//! an FHS/BHS batch) is split into messages and each is read on its own by
//! `samgate-hl7v2`, with the contract's defaults (no training messages, the
//! default `[hl7.disposition]` mapping). Every line printed about a message
//! names its segment, field, reason and HL7 answer, never its content: the
//! crate's refusals and the notes below carry no personal data.

use samgate_adapter_core::DecodeError;
use samgate_hl7v2::{IgnoreReason, Options, Outcome, Refusal, StayUpdate, batch, read};

/// What one message of an input is, as the command line reports it.
pub(super) enum Verdict {
    /// An acting trigger, read into its stay update (answered AA).
    Stay(Box<StayUpdate>),
    /// Answered AA but changing nothing: why, in words free of content.
    Ignored(String),
    /// Answered AE or AR: location, reason and code.
    Refused(String),
}

/// The messages of `input`, each read, in order. `Err` when the input as
/// a whole is refused (over the message limit, not HL7, a malformed batch).
pub(super) fn read_all(input: &[u8]) -> Result<Vec<Verdict>, String> {
    if input.len() > samgate_hl7v2::MAX_MESSAGE_BYTES {
        return Err(describe(&Refusal::unreadable(format!(
            "more than {} bytes (the message limit, for a batch file too)",
            samgate_hl7v2::MAX_MESSAGE_BYTES
        ))));
    }
    let messages = batch::split(input).map_err(|r| describe(&r))?;
    let options = Options::default();
    Ok(messages
        .into_iter()
        .map(|m| verdict(read(m, &options).outcome))
        .collect())
}

fn verdict(outcome: Outcome) -> Verdict {
    match outcome {
        Outcome::Stay(update) => Verdict::Stay(update),
        Outcome::Refused(r) => Verdict::Refused(describe(&r)),
        Outcome::IncomingAck => {
            Verdict::Ignored("an acknowledgement: samgate never answers it".into())
        }
        // The trigger is checked to be `A` and two digits before a message
        // is ignored, so it is never content.
        Outcome::Ignored(i) => Verdict::Ignored(match i.reason {
            IgnoreReason::OtherTrigger { .. } => format!(
                "ADT^{}: samgate does not act on it: acknowledged AA and recorded as ignored",
                i.trigger
            ),
            IgnoreReason::Training => format!(
                "ADT^{}: a training message (processing id T): acknowledged AA and recorded as ignored",
                i.trigger
            ),
            IgnoreReason::NotInpatient => format!(
                "ADT^{}: a patient class other than I (inpatient): acknowledged AA and recorded as ignored",
                i.trigger
            ),
        }),
    }
}

/// `hl7v2: PID-3: <reason> (AE 101)`: the dialects' error form, and the
/// answer the gateway would give.
fn describe(r: &Refusal) -> String {
    format!(
        "{} ({} {})",
        DecodeError::from(r.clone()),
        r.severity.ack_code(),
        r.code.code()
    )
}

/// The lines `validate` prints for one file: `ok FILE`, `ok FILE (note)`
/// or `refused FILE: reason`, one per message (`FILE message N` when the
/// file holds more than one); and whether any was refused.
pub(super) fn validate(file: &str, input: std::io::Result<Vec<u8>>) -> (Vec<String>, bool) {
    let verdicts = input
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|bytes| read_all(&bytes));
    let verdicts = match verdicts {
        Ok(v) => v,
        Err(e) => return (vec![format!("refused {file}: {e}")], true),
    };
    let several = verdicts.len() > 1;
    let mut refused = false;
    let lines = verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let name = if several {
                format!("{file} message {}", i + 1)
            } else {
                file.to_owned()
            };
            match v {
                Verdict::Stay(_) => format!("ok {name}"),
                Verdict::Ignored(note) => format!("ok {name} ({note})"),
                Verdict::Refused(e) => {
                    refused = true;
                    format!("refused {name}: {e}")
                }
            }
        })
        .collect();
    (lines, refused)
}

/// `translate --from hl7v2 --to json`: one stay update a line (JSON Lines,
/// the contract's object), and a note for each ignored message. `Err` with
/// every refusal when any message is refused: then nothing is written.
pub(super) fn to_json(input: &[u8]) -> Result<(Vec<u8>, Vec<String>), String> {
    let verdicts = read_all(input)?;
    let several = verdicts.len() > 1;
    let label = |i: usize| {
        if several {
            format!("message {}: ", i + 1)
        } else {
            String::new()
        }
    };
    let mut output = Vec::new();
    let mut notes = Vec::new();
    let mut refusals = Vec::new();
    for (i, v) in verdicts.into_iter().enumerate() {
        match v {
            Verdict::Stay(update) => {
                output.extend_from_slice(update.to_json().to_string().as_bytes());
                output.push(b'\n');
            }
            Verdict::Ignored(note) => notes.push(format!("note: {}{note}", label(i))),
            Verdict::Refused(e) => refusals.push(format!("{}{e}", label(i))),
        }
    }
    if refusals.is_empty() {
        Ok((output, notes))
    } else {
        Err(refusals.join("\nerror: "))
    }
}
