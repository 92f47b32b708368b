//! The guarded structural reader: bytes to delimiters and segments, nothing
//! decoded yet.
//!
//! Structure is read on the raw bytes: the delimiters are ASCII, and in both
//! character sets samgate accepts (UTF-8 and ISO-8859-1) an ASCII byte is
//! always that character, so splitting before decoding is safe. Only the
//! fields samgate reads are decoded later ([`crate::read`]). The reader
//! refuses (AR 100) what is not an HL7 message: more than
//! [`crate::MAX_MESSAGE_BYTES`], no `MSH` first, delimiters that are not
//! five distinct punctuation characters, a segment that does not start with
//! a segment id, more than [`MAX_SEGMENTS`] segments. It keeps one range per
//! segment and nothing else, so memory is bounded by the segment limit.

use crate::error::Refusal;
use crate::{MAX_MESSAGE_BYTES, MAX_SEGMENTS};

/// The byte-order mark some senders put before `MSH`; skipped.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The message's delimiters, from MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: u8,
    pub component: u8,
    pub repetition: u8,
    pub escape: u8,
    pub subcomponent: u8,
    /// The truncation character (MSH-2's fifth, 2.7+), if given.
    pub truncation: Option<u8>,
}

impl Delimiters {
    /// The delimiters HL7 recommends and samgate writes: `|^~\&`.
    pub const STANDARD: Delimiters = Delimiters {
        field: b'|',
        component: b'^',
        repetition: b'~',
        escape: b'\\',
        subcomponent: b'&',
        truncation: None,
    };

    /// Reads MSH-1 and MSH-2 from the start of a segment `MSH|^~\&…`.
    fn from_msh(segment: &[u8]) -> Result<Self, Refusal> {
        let Some(&field) = segment.get(3) else {
            return Err(Refusal::unreadable(
                "the message ends before MSH-1 (the field separator)",
            ));
        };
        let rest = segment.get(4..).unwrap_or_default();
        let chars = rest.split(|b| *b == field).next().unwrap_or_default();
        if !(4..=5).contains(&chars.len()) {
            return Err(Refusal::unreadable(
                "MSH-2 must hold the four encoding characters (five from 2.7)",
            ));
        }
        let mut all = vec![field];
        all.extend_from_slice(chars);
        for (i, c) in all.iter().enumerate() {
            if !c.is_ascii_punctuation() {
                return Err(Refusal::unreadable(
                    "the delimiters in MSH-1 and MSH-2 must be punctuation characters",
                ));
            }
            if all[..i].contains(c) {
                return Err(Refusal::unreadable(
                    "the delimiters in MSH-1 and MSH-2 must all differ",
                ));
            }
        }
        Ok(Delimiters {
            field,
            component: chars[0],
            repetition: chars[1],
            escape: chars[2],
            subcomponent: chars[3],
            truncation: chars.get(4).copied(),
        })
    }

    /// Whether `b` is one of the structural delimiters (field, component,
    /// repetition, subcomponent) or the escape character.
    pub fn is_delimiter(&self, b: u8) -> bool {
        b == self.field
            || b == self.component
            || b == self.repetition
            || b == self.escape
            || b == self.subcomponent
    }
}

/// One segment: its id and its bytes (without the terminator).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The three-character segment id (ASCII).
    pub id: &'a [u8],
    pub raw: &'a [u8],
    /// Byte offset of the segment in the message (after the BOM).
    pub offset: usize,
}

impl<'a> Segment<'a> {
    /// Field `n` (1-based, as HL7 numbers them), raw; empty when absent.
    /// In MSH, field 1 is the field separator itself and field 2 the
    /// encoding characters.
    pub fn field(&self, n: usize, d: &Delimiters) -> &'a [u8] {
        let is_msh = self.id == b"MSH";
        if is_msh && n == 1 {
            return self.raw.get(3..4).unwrap_or_default();
        }
        let index = if is_msh { n.saturating_sub(1) } else { n };
        if n == 0 {
            return &[];
        }
        self.raw
            .split(|b| *b == d.field)
            .nth(index)
            .unwrap_or_default()
    }

    /// The number of the field that holds byte `offset` of the segment.
    fn field_at(&self, offset: usize, d: &Delimiters) -> usize {
        let separators = self.raw[..offset.min(self.raw.len())]
            .iter()
            .filter(|b| **b == d.field)
            .count();
        if self.id == b"MSH" {
            separators + 1
        } else {
            separators
        }
    }
}

/// A message split into segments.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The message without a leading byte-order mark.
    pub bytes: &'a [u8],
    pub delims: Delimiters,
    /// All segments in order; the first is MSH. Blank lines are not
    /// segments.
    pub segments: Vec<Segment<'a>>,
}

/// Splits bytes into lines at CR, LF or CRLF, skipping lines that are blank
/// (empty or spaces and tabs only), with each line's offset.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut offset = 0;
    bytes
        .split(|b| *b == b'\r' || *b == b'\n')
        .map(move |line| {
            let at = offset;
            offset += line.len() + 1;
            (at, line)
        })
        .filter(|(_, line)| line.iter().any(|b| *b != b' ' && *b != b'\t'))
}

/// Whether `line` starts with a segment id (three of `A-Z0-9`, the first a
/// letter) followed by the field separator or the end of the line.
pub fn segment_id(line: &[u8], field: u8) -> Option<&[u8]> {
    let id = line.get(..3)?;
    let ok = id[0].is_ascii_uppercase()
        && id[1..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && line.get(3).is_none_or(|b| *b == field);
    ok.then_some(id)
}

/// Reads the structure of one message (not a batch).
pub fn parse(input: &[u8]) -> Result<Message<'_>, Refusal> {
    if input.len() > MAX_MESSAGE_BYTES {
        return Err(Refusal::unreadable(format!(
            "the message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            input.len()
        )));
    }
    let bytes = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    if !bytes.starts_with(b"MSH") {
        return Err(Refusal::unreadable(
            "not an HL7 v2 message: it does not start with an MSH segment",
        ));
    }
    let delims = Delimiters::from_msh(bytes)?;
    let mut segments = Vec::new();
    for (offset, line) in lines(bytes) {
        if segments.len() == MAX_SEGMENTS {
            return Err(Refusal::unreadable(format!(
                "the message has more than {MAX_SEGMENTS} segments"
            )));
        }
        let Some(id) = segment_id(line, delims.field) else {
            return Err(Refusal::unreadable(format!(
                "segment {} does not start with a segment id",
                segments.len() + 1
            )));
        };
        if id == b"MSH" && !segments.is_empty() {
            return Err(Refusal::unreadable(
                "a second MSH segment: a batch must be split before it is read",
            ));
        }
        segments.push(Segment {
            id,
            raw: line,
            offset,
        });
    }
    Ok(Message {
        bytes,
        delims,
        segments,
    })
}

impl<'a> Message<'a> {
    /// The MSH segment.
    pub fn msh(&self) -> &Segment<'a> {
        &self.segments[0]
    }

    /// The first segment with this id.
    pub fn first(&self, id: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.id == id.as_bytes())
    }

    /// The segments after MSH, each ended by CR: what a resend must repeat
    /// exactly (terminators normalised, so a resend with LF still matches).
    pub fn content_after_msh(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.segments[1..] {
            out.extend_from_slice(s.raw);
            out.push(b'\r');
        }
        out
    }

    /// The segment id and field number holding byte `offset` of the
    /// message, for a refusal about a byte (such as invalid UTF-8).
    pub fn position_of(&self, offset: usize) -> Option<(&'a [u8], usize)> {
        let s = self
            .segments
            .iter()
            .take_while(|s| s.offset <= offset)
            .last()?;
        Some((s.id, s.field_at(offset - s.offset, &self.delims)))
    }
}

/// The repetitions of a field.
pub fn repetitions<'a>(field: &'a [u8], d: &Delimiters) -> impl Iterator<Item = &'a [u8]> {
    let rep = d.repetition;
    field.split(move |b| *b == rep)
}

/// Component `n` (1-based) of a value; empty when absent.
pub fn component<'a>(value: &'a [u8], n: usize, d: &Delimiters) -> &'a [u8] {
    nth_part(value, n, d.component)
}

/// Subcomponent `n` (1-based) of a component; empty when absent.
pub fn subcomponent<'a>(value: &'a [u8], n: usize, d: &Delimiters) -> &'a [u8] {
    nth_part(value, n, d.subcomponent)
}

fn nth_part(value: &[u8], n: usize, sep: u8) -> &[u8] {
    if n == 0 {
        return &[];
    }
    value.split(|b| *b == sep).nth(n - 1).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_end_with_cr_lf_or_crlf_and_blank_lines_are_skipped() {
        let m = parse(b"\xEF\xBB\xBFMSH|^~\\&|A\r\nEVN|A01\n\nPID|1\r \rPV1").unwrap();
        let ids: Vec<&[u8]> = m.segments.iter().map(|s| s.id).collect();
        assert_eq!(ids, [&b"MSH"[..], b"EVN", b"PID", b"PV1"]);
        assert_eq!(m.msh().field(3, &m.delims), b"A");
        assert_eq!(m.msh().field(1, &m.delims), b"|");
        assert_eq!(m.msh().field(2, &m.delims), b"^~\\&");
        assert_eq!(m.first("PID").unwrap().field(1, &m.delims), b"1");
        assert_eq!(m.first("PID").unwrap().field(9, &m.delims), b"");
        assert_eq!(m.content_after_msh(), b"EVN|A01\rPID|1\rPV1\r");
    }

    #[test]
    fn other_delimiters_are_read_from_msh() {
        let m = parse(b"MSH#*!/%#A*B!C%D").unwrap();
        let d = m.delims;
        assert_eq!(
            (d.field, d.component, d.repetition, d.escape, d.subcomponent),
            (b'#', b'*', b'!', b'/', b'%')
        );
        let f = m.msh().field(3, &d);
        let reps: Vec<&[u8]> = repetitions(f, &d).collect();
        assert_eq!(reps, [&b"A*B"[..], b"C%D"]);
        assert_eq!(component(reps[0], 2, &d), b"B");
        assert_eq!(subcomponent(component(reps[1], 1, &d), 2, &d), b"D");
        assert_eq!(component(reps[0], 3, &d), b"");
    }

    #[test]
    fn refuses_what_is_not_hl7() {
        let cases: [&[u8]; 8] = [
            b"",
            b"MSH",
            b"MSHH0\r",
            b"MSH|^~\\|A",
            b"MSH|^~^&|A",
            b"MSH|^~00|A",
            b"MSH|^~\\&|A\r0|x",
            b"MSH|^~\\&|A\rMSH|^~\\&|B",
        ];
        for c in cases {
            let e = parse(c).unwrap_err();
            assert_eq!(e.location, crate::error::Location::MESSAGE, "{c:?}");
            assert_eq!(e.code.code(), 100);
        }
    }

    #[test]
    fn segment_limit() {
        let mut m = b"MSH|^~\\&|A".to_vec();
        for _ in 1..MAX_SEGMENTS {
            m.extend_from_slice(b"\rZZZ|1");
        }
        assert!(parse(&m).is_ok());
        m.extend_from_slice(b"\rZZZ|1");
        assert!(parse(&m).unwrap_err().reason.contains("more than 1000"));
    }
}
