//! A small XML writer for the encoders: elements in the order the encoder
//! writes them, attributes and text escaped, nothing else.

/// Builds a document in a `String`.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    /// Open elements; `true` once the start tag's `>` is written.
    open: Vec<(String, bool)>,
}

fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            // Keep whitespace in attributes from being normalised away.
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

impl XmlWriter {
    /// Starts with an XML declaration naming `encoding`.
    pub fn new(encoding: &str) -> Self {
        let mut w = XmlWriter::default();
        w.out.push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n"
        ));
        w
    }

    fn finish_start_tag(&mut self) {
        if let Some((_, closed)) = self.open.last_mut()
            && !*closed
        {
            self.out.push('>');
            *closed = true;
        }
    }

    /// Opens an element; attributes may follow until content is written.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.finish_start_tag();
        self.out.push('<');
        self.out.push_str(name);
        self.open.push((name.to_owned(), false));
        self
    }

    /// An attribute of the element just opened, written even when empty.
    pub fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        debug_assert!(
            matches!(self.open.last(), Some((_, false))),
            "attribute after content"
        );
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_into(&mut self.out, value, true);
        self.out.push('"');
        self
    }

    /// An attribute written only when the value is not empty.
    pub fn attr_opt(&mut self, name: &str, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.attr(name, value);
        }
        self
    }

    /// Text content of the open element.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.finish_start_tag();
        escape_into(&mut self.out, text, false);
        self
    }

    /// Markup copied verbatim (an extension element's content).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.finish_start_tag();
        self.out.push_str(xml);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        let (name, closed) = self.open.pop().expect("close without open");
        if closed {
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        } else {
            self.out.push_str("/>");
        }
        self
    }

    /// `<name>text</name>`, left out when `text` is empty.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        if !text.is_empty() {
            self.open(name).text(text).close();
        }
        self
    }

    /// The document, all elements closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out.push('\n');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escaped_nested_elements() {
        let mut w = XmlWriter::new("UTF-8");
        w.open("a").attr("x", "1 \"&\" 2");
        w.leaf("b", "<&>").leaf("c", "");
        w.open("d").attr_opt("y", "").close();
        let out = w.finish();
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a x=\"1 &quot;&amp;&quot; 2\"><b>&lt;&amp;&gt;</b><d/></a>\n"
        );
    }
}
