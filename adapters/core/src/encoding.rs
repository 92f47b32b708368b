//! Text encodings of the dialects: the XML declaration's label, ISO-8859-1
//! in and out (Lifecare), UTF-8 (Cosmic Link, SAMSA).

/// What the XML declaration says about the document's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// No declaration or no encoding in it: UTF-8 by XML's own rule.
    Utf8Default,
    Utf8,
    Latin1,
    /// Any other label.
    Other,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads the encoding label of the XML declaration, if any. Labels are
/// compared without case; ISO-8859-1, ISO8859-1 and latin1 mean ISO-8859-1.
pub fn declared_encoding(input: &[u8]) -> (Declared, Option<String>) {
    let input = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    if input.starts_with(b"\xFE\xFF") || input.starts_with(b"\xFF\xFE") {
        return (Declared::Other, Some("UTF-16".into()));
    }
    if !input.starts_with(b"<?xml") {
        return (Declared::Utf8Default, None);
    }
    let Some(end) = input.windows(2).position(|w| w == b"?>") else {
        return (Declared::Utf8Default, None);
    };
    let decl = String::from_utf8_lossy(&input[..end]);
    let Some(at) = decl.find("encoding") else {
        return (Declared::Utf8Default, None);
    };
    let rest = decl[at + "encoding".len()..].trim_start();
    let Some(rest) = rest.strip_prefix('=') else {
        return (Declared::Other, None);
    };
    let rest = rest.trim_start();
    let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return (Declared::Other, None);
    };
    let value: String = rest[1..].chars().take_while(|c| *c != quote).collect();
    let kind = match value.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Declared::Utf8,
        "iso-8859-1" | "iso8859-1" | "latin1" => Declared::Latin1,
        _ => Declared::Other,
    };
    (kind, Some(value))
}

/// UTF-8 bytes as text, without a byte-order mark.
pub fn utf8_text(input: &[u8]) -> Result<&str, String> {
    let input = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    std::str::from_utf8(input).map_err(|e| {
        format!(
            "the document is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        )
    })
}

/// ISO-8859-1 bytes as text: every byte is the code point of the same value.
pub fn latin1_text(input: &[u8]) -> String {
    encoding_rs::mem::decode_latin1(input).into_owned()
}

/// Text as ISO-8859-1 bytes; a character ISO-8859-1 cannot hold is written
/// as a character reference (`&#8364;`). Only valid where a reference is (in
/// text and attribute values): element names here are ASCII.
pub fn to_latin1_with_refs(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let code = u32::from(c);
        if code <= 0xFF {
            out.push(code as u8);
        } else {
            out.extend_from_slice(format!("&#{code};").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_declared_labels() {
        let cases: [(&[u8], Declared); 7] = [
            (
                b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
                Declared::Latin1,
            ),
            (
                b"<?xml version='1.0' encoding='latin1'?><a/>",
                Declared::Latin1,
            ),
            (
                b"<?xml version=\"1.0\" encoding=\"iso8859-1\"?><a/>",
                Declared::Latin1,
            ),
            (
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>",
                Declared::Utf8,
            ),
            (b"<?xml version=\"1.0\"?><a/>", Declared::Utf8Default),
            (b"<a/>", Declared::Utf8Default),
            (
                b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a/>",
                Declared::Other,
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(
                declared_encoding(doc).0,
                want,
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn latin1_round_trip_and_references() {
        assert_eq!(latin1_text(b"\xC5str\xF6m"), "Åström");
        assert_eq!(to_latin1_with_refs("Åström €"), b"\xC5str\xF6m &#8364;");
    }
}
