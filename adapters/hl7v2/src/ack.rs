//! Acknowledgements in original mode: AA, AE and AR with an ERR segment.
//!
//! samgate always answers in original mode whatever MSH-15/16 ask (MSA-1 is
//! AA, AE or AR, never a commit ACK) and always with the standard
//! delimiters `|^~\&`. The header echoes the message's MSH-3, MSH-4, MSH-6,
//! MSH-10 (in MSA-2), MSH-11, MSH-12 and MSH-18, re-encoded from the
//! message's delimiters; nothing from outside MSH is ever copied, so no
//! personal data reaches an ACK. For versions before 2.5 the error goes in
//! ERR-1 (`segment^sequence^field^code&text`), from 2.5 in ERR-2/3/4/8.

use samgate_adapter_core::time::format_hl7_ts;
use samgate_proto::Timestamp;

use crate::error::Refusal;
use crate::message::{Delimiters, Segment, component, repetitions};
use crate::text::escape;

/// What an ACK echoes from the message it answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckContext {
    msh3: Vec<u8>,
    msh4: Vec<u8>,
    msh6: Vec<u8>,
    msh10: Vec<u8>,
    msh11: Vec<u8>,
    msh12: Vec<u8>,
    msh18: Vec<u8>,
    trigger: Vec<u8>,
    /// MSH-12.1 as numbers (`2.5.1` → [2, 5, 1]); empty when unreadable.
    version: Vec<u32>,
    readable: bool,
}

impl AckContext {
    /// For a message whose MSH could not be read (or a frame too large to
    /// keep): processing id `P`, everything else empty, ASCII.
    pub fn unreadable() -> Self {
        AckContext::default()
    }

    /// Reads the echoed fields from a readable MSH.
    pub(crate) fn from_msh(msh: &Segment<'_>, d: &Delimiters) -> Self {
        let echo = |n: usize| reencode(msh.field(n, d), d);
        let msh9 = msh.field(9, d);
        let version_field = component(msh.field(12, d), 1, d);
        let version = std::str::from_utf8(version_field)
            .ok()
            .and_then(|v| v.trim().split('.').map(|p| p.parse::<u32>().ok()).collect())
            .unwrap_or_default();
        AckContext {
            msh3: echo(3),
            msh4: echo(4),
            msh6: echo(6),
            msh10: echo(10),
            msh11: echo(11),
            msh12: echo(12),
            msh18: repetitions(msh.field(18, d), d)
                .next()
                .map(|r| reencode(r, d))
                .unwrap_or_default(),
            trigger: reencode(component(msh9, 2, d), d),
            version,
            readable: true,
        }
    }

    /// The declared character set is not one samgate writes: the ACK is
    /// ASCII, so only the ASCII of every echo is kept.
    pub(crate) fn ascii_only(&mut self) {
        for f in [
            &mut self.msh3,
            &mut self.msh4,
            &mut self.msh6,
            &mut self.msh10,
            &mut self.msh11,
            &mut self.msh12,
            &mut self.msh18,
            &mut self.trigger,
        ] {
            f.retain(u8::is_ascii);
        }
    }

    /// MSH-10 of the message as written (MSA-2).
    pub fn control_id(&self) -> &[u8] {
        &self.msh10
    }

    fn before(&self, major: u32, minor: u32, patch: u32) -> bool {
        let v = &self.version;
        !v.is_empty()
            && (
                v.first().copied(),
                v.get(1).copied().unwrap_or(0),
                v.get(2).copied().unwrap_or(0),
            ) < (Some(major), minor, patch)
    }

    /// Versions before 2.5 carry the error in ERR-1.
    fn err1_form(&self) -> bool {
        self.before(2, 5, 0)
    }

    /// Version 2.3 (and older) writes MSH-9 as `ACK^<trigger>`, without the
    /// message structure that 2.3.1 added.
    fn two_part_type(&self) -> bool {
        self.before(2, 3, 1)
    }
}

/// A field's bytes with the message's delimiters replaced by the standard
/// ones, standard delimiter characters that are content escaped, and
/// control bytes dropped (an ACK must never carry a frame's end block).
fn reencode(raw: &[u8], d: &Delimiters) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for &b in raw {
        match b {
            b if b == d.component => out.push(b'^'),
            b if b == d.repetition => out.push(b'~'),
            b if b == d.subcomponent => out.push(b'&'),
            b if b == d.escape => out.push(b'\\'),
            b'|' => out.extend_from_slice(b"\\F\\"),
            b'^' => out.extend_from_slice(b"\\S\\"),
            b'~' => out.extend_from_slice(b"\\R\\"),
            b'&' => out.extend_from_slice(b"\\T\\"),
            b'\\' => out.extend_from_slice(b"\\E\\"),
            b if b < 0x20 || b == 0x7F => {}
            b => out.push(b),
        }
    }
    out
}

/// The answer an ACK gives.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// AA: applied, or recorded as ignored.
    Accepted,
    /// AE or AR with an ERR segment (AR 207 when the store cannot commit:
    /// [`Refusal::cannot_commit`]).
    Refused(&'a Refusal),
}

/// Builds the ACK for a message. `now` goes into MSH-7 and `control_id`
/// (samgate's own, new for each ACK) into MSH-10.
pub fn build(ctx: &AckContext, answer: Answer<'_>, now: &Timestamp, control_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"MSH|^~\\&|samgate|");
    for f in [&ctx.msh6, &ctx.msh3, &ctx.msh4] {
        out.extend_from_slice(f);
        out.push(b'|');
    }
    out.extend_from_slice(format_hl7_ts(now).as_bytes());
    out.extend_from_slice(b"||ACK^");
    out.extend_from_slice(&ctx.trigger);
    if !ctx.two_part_type() {
        out.extend_from_slice(b"^ACK");
    }
    out.push(b'|');
    out.extend_from_slice(escape(control_id).as_bytes());
    out.push(b'|');
    if ctx.readable {
        out.extend_from_slice(&ctx.msh11);
    } else {
        out.push(b'P');
    }
    out.push(b'|');
    out.extend_from_slice(&ctx.msh12);
    if !ctx.msh18.is_empty() {
        out.extend_from_slice(b"||||||");
        out.extend_from_slice(&ctx.msh18);
    }
    out.extend_from_slice(b"\rMSA|");
    let refusal = match answer {
        Answer::Accepted => None,
        Answer::Refused(r) => Some(r),
    };
    out.extend_from_slice(refusal.map_or("AA", |r| r.severity.ack_code()).as_bytes());
    out.push(b'|');
    out.extend_from_slice(&ctx.msh10);
    out.push(b'\r');
    if let Some(r) = refusal {
        out.extend_from_slice(err_segment(ctx, r).as_bytes());
        out.push(b'\r');
    }
    out
}

fn err_segment(ctx: &AckContext, r: &Refusal) -> String {
    let text = escape(&r.to_string());
    if ctx.err1_form() {
        let field = r.location.field.map(|f| f.to_string()).unwrap_or_default();
        format!(
            "ERR|{}^1^{field}^{}&{text}",
            r.location.segment,
            r.code.code()
        )
    } else {
        format!(
            "ERR||{}|{}^{}^HL70357|E||||{text}",
            r.location.erl(),
            r.code.code(),
            r.code.text()
        )
    }
}
