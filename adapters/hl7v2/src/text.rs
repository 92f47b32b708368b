//! From a raw field value to text: escape sequences and the character set.
//!
//! Escape sequences are decoded only in the fields samgate reads, with
//! MSH-2's escape character: `\F\ \S\ \T\ \R\ \E\` become the delimiter
//! they name, `\P\` (2.7+) the truncation character, `\Xhh…\` the bytes it
//! spells (in the message's character set); `\H\` and `\N\` are dropped and
//! formatting sequences (`\.br\`, `\.sp\`, …) become a space. Anything else
//! is a refusal (AE 102) at the field.

use crate::error::{Location, Refusal};
use crate::message::Delimiters;

/// The character sets samgate reads (MSH-18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `ASCII`, `UNICODE UTF-8`, or nothing declared and valid UTF-8.
    Utf8,
    /// `8859/1`, or nothing declared and not valid UTF-8.
    Latin1,
}

impl Charset {
    /// Bytes to text; `None` when they are not valid in this set.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Charset::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_owned),
            Charset::Latin1 => Some(samgate_adapter_core::encoding::latin1_text(bytes)),
        }
    }
}

/// Decodes the escape sequences in `raw`, then the character set, and trims
/// surrounding spaces. `version_27` says whether `\P\` is known.
pub fn decode_value(
    raw: &[u8],
    d: &Delimiters,
    charset: Charset,
    version_27: bool,
    at: Location,
) -> Result<String, Refusal> {
    let bytes = unescape(raw, d, version_27).map_err(|why| Refusal::form(at, why))?;
    let text = charset.decode(&bytes).ok_or_else(|| {
        Refusal::form(at, "an \\X…\\ escape spells bytes that are not valid UTF-8")
    })?;
    if text.chars().any(char::is_control) {
        return Err(Refusal::form(at, "holds a control character"));
    }
    Ok(text.trim_matches([' ', '\t']).to_owned())
}

/// The escape sequences of `raw` decoded, bytes in the message's set.
fn unescape(raw: &[u8], d: &Delimiters, version_27: bool) -> Result<Vec<u8>, &'static str> {
    let esc = d.escape;
    if !raw.contains(&esc) {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.iter().position(|b| *b == esc) {
        out.extend_from_slice(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(len) = after.iter().position(|b| *b == esc) else {
            return Err("an escape sequence is not closed");
        };
        let seq = &after[..len];
        rest = &after[len + 1..];
        match seq {
            b"F" => out.push(d.field),
            b"S" => out.push(d.component),
            b"T" => out.push(d.subcomponent),
            b"R" => out.push(d.repetition),
            b"E" => out.push(d.escape),
            b"P" if version_27 => out.push(d.truncation.unwrap_or(b'#')),
            b"H" | b"N" => {}
            [b'.', ..] => out.push(b' '),
            [b'X', hex @ ..] => out.extend(hex_bytes(hex)?),
            _ => return Err("holds an escape sequence samgate does not know"),
        }
    }
    out.extend_from_slice(rest);
    Ok(out)
}

fn hex_bytes(hex: &[u8]) -> Result<Vec<u8>, &'static str> {
    const BAD: &str = "an \\X…\\ escape must hold pairs of hexadecimal digits";
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return Err(BAD);
    }
    hex.chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(BAD),
            }
        })
        .collect()
}

/// Escapes text for writing into a field with the standard delimiters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\\' => out.push_str("\\E\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Location = Location::field("PID", 5);

    fn dec(raw: &[u8], charset: Charset, v27: bool) -> Result<String, Refusal> {
        decode_value(raw, &Delimiters::STANDARD, charset, v27, AT)
    }

    #[test]
    fn every_sequence_the_contract_names() {
        let cases: [(&[u8], &str); 10] = [
            (b"A\\F\\B", "A|B"),
            (b"A\\S\\B\\T\\C\\R\\D\\E\\E", "A^B&C~D\\E"),
            (b"\\H\\bold\\N\\ text", "bold text"),
            (b"line\\.br\\next", "line next"),
            (b"a\\.sp2\\b", "a b"),
            (b"\\X41\\\\X42\\", "AB"),
            (b"\\XC3A5\\ngstr\\XC3B6\\m", "ångström"),
            (b"  padded  ", "padded"),
            (b"", ""),
            (b"\\P\\", "#"),
        ];
        for (raw, want) in cases {
            assert_eq!(dec(raw, Charset::Utf8, true).unwrap(), want, "{raw:?}");
        }
        assert_eq!(dec(b"\\XE5\\", Charset::Latin1, false).unwrap(), "å");
        assert_eq!(
            dec(b"\xC5str\xF6m", Charset::Latin1, false).unwrap(),
            "Åström"
        );
    }

    #[test]
    fn unknown_unclosed_and_bad_sequences_are_refused_at_the_field() {
        let bad: [&[u8]; 8] = [
            b"\\Z123\\",
            b"\\C2842\\",
            b"\\P\\",
            b"open\\F",
            b"\\X4\\",
            b"\\XZZ\\",
            b"\\XE5\\",
            b"\\X07\\",
        ];
        for raw in bad {
            let e = dec(raw, Charset::Utf8, false).unwrap_err();
            assert_eq!((e.location, e.code.code()), (AT, 102), "{raw:?}");
        }
    }

    #[test]
    fn a_message_escape_character_other_than_backslash() {
        let d = Delimiters {
            escape: b'/',
            ..Delimiters::STANDARD
        };
        let t = decode_value(b"a/F/b\\c", &d, Charset::Utf8, false, AT).unwrap();
        assert_eq!(t, "a|b\\c");
    }

    #[test]
    fn escaping_for_the_ack() {
        assert_eq!(
            escape("a|b^c&d~e\\f\rg"),
            "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f g"
        );
    }
}
