//! A guarded XML reader: quick-xml events to a small borrowed tree.
//!
//! The dialect messages are small (≤ 1 MiB) and decoders look at elements in
//! any order, so a tree is the simplest faithful shape. The reader refuses
//! what no dialect message contains and what hostile documents use: any
//! DOCTYPE (so no entity of any kind is ever expanded), entity references
//! other than the five predefined ones and character references, nesting
//! beyond [`MAX_DEPTH`], more than [`MAX_ATTRIBUTES`] on one element, and more
//! than one root.

use std::borrow::Cow;
use std::rc::Rc;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceError, ResolveResult};

/// The dialects nest at most 7 levels; extension content gets room to spare,
/// and the limit keeps hostile nesting from costing stack or time.
pub const MAX_DEPTH: usize = 64;
/// The dialects use at most 5 attributes on an element; the limit bounds the
/// duplicate-attribute check, which is quadratic in the count.
pub const MAX_ATTRIBUTES: usize = 64;

/// A parse failure, with the element path where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub path: String,
    pub reason: String,
}

/// One attribute, namespace resolved.
#[derive(Debug, Clone)]
pub struct Attribute<'a> {
    /// Namespace URI; empty for an unprefixed attribute.
    pub ns: Rc<str>,
    pub local: Cow<'a, str>,
    /// Unescaped value, as written (not trimmed).
    pub value: Cow<'a, str>,
}

/// One element, namespace resolved.
#[derive(Debug, Clone)]
pub struct Element<'a> {
    /// Namespace URI; empty for no namespace.
    pub ns: Rc<str>,
    pub local: Cow<'a, str>,
    /// The name as written, prefix included (for messages only).
    pub qname: Cow<'a, str>,
    pub attributes: Vec<Attribute<'a>>,
    pub children: Vec<Element<'a>>,
    /// All character data directly inside this element, unescaped.
    pub text: Cow<'a, str>,
    /// Byte range of the element's content in the source text (between the
    /// start tag's `>` and the end tag's `<`).
    pub inner: (usize, usize),
}

fn err(path: &str, reason: impl Into<String>) -> ReadError {
    ReadError {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        reason: reason.into(),
    }
}

/// The path of the open elements, for an error (built only then).
fn path_of(stack: &[Element<'_>]) -> String {
    stack.iter().map(|e| format!("/{}", e.qname)).collect()
}

/// A character XML 1.0 does not allow in a document (C0 controls other
/// than tab, line feed and carriage return), if `text` holds one.
pub fn forbidden_char(text: &str) -> Option<char> {
    text.chars()
        .find(|c| (*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
}

fn check_chars(text: &str, path: impl FnOnce() -> String) -> Result<(), ReadError> {
    match forbidden_char(text) {
        None => Ok(()),
        Some(c) => Err(err(
            &path(),
            format!("character U+{:04X} is not allowed in XML", c as u32),
        )),
    }
}

/// `part` as a slice of `source` with the source's lifetime, when `part`
/// lies inside it (quick-xml hands out borrowed slices of its input for
/// names and unescaped values).
fn borrow_from<'a>(source: &'a str, part: &str) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
    source.get(start..start.checked_add(part.len())?)
}

fn push_text<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else if !more.is_empty() {
        text.to_mut().push_str(&more);
    }
}

/// Namespace URIs seen in one document, shared by its elements: a
/// document uses one or two, so each element need not own a copy.
struct Namespaces {
    none: Rc<str>,
    /// The last URI looked up: consecutive elements almost always share it.
    last: Rc<str>,
    seen: Vec<Rc<str>>,
}

impl Default for Namespaces {
    fn default() -> Self {
        let none: Rc<str> = Rc::from("");
        Namespaces {
            last: none.clone(),
            none,
            seen: Vec::new(),
        }
    }
}

impl Namespaces {
    fn get(&mut self, uri: &str) -> Rc<str> {
        if uri.is_empty() {
            return self.none.clone();
        }
        if &*self.last == uri {
            return self.last.clone();
        }
        let ns = match self.seen.iter().find(|n| &***n == uri) {
            Some(ns) => ns.clone(),
            None => {
                let ns: Rc<str> = Rc::from(uri);
                self.seen.push(ns.clone());
                ns
            }
        };
        self.last = ns.clone();
        ns
    }
}

fn resolved_uri<'r>(
    resolved: ResolveResult<'r>,
    path: impl FnOnce() -> String,
) -> Result<&'r str, ReadError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(ns.into_inner()),
        ResolveResult::Unbound => Ok(""),
        ResolveResult::Unknown(p) => {
            Err(err(&path(), format!("undeclared namespace prefix '{p}'")))
        }
    }
}

/// The reason for a document quick-xml cannot read, in samgate's words
/// where quick-xml's would name its own API (its namespace limit).
fn malformed(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Namespace(NamespaceError::TooManyBindings(limit)) => {
            format!("malformed XML: more than {limit} namespace declarations in scope")
        }
        other => format!("malformed XML: {other}"),
    }
}

/// Parses a whole document held in `source` (already decoded to UTF-8).
/// Element names and plain text are borrowed from `source`.
pub fn parse(source: &str) -> Result<Element<'_>, ReadError> {
    let mut reader = NsReader::from_str(source);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut namespaces = Namespaces::default();
    let mut stack: Vec<Element<'_>> = Vec::new();
    let mut root: Option<Element<'_>> = None;

    loop {
        // Events are contiguous: the source between two positions is the
        // event's own markup, which lets names and text borrow from it.
        let before = reader.buffer_position() as usize;
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| err(&path_of(&stack), malformed(&e)))?;
        let uri = resolved_uri(resolved, || path_of(&stack))?;
        let ns = match event {
            Event::Start(_) | Event::Empty(_) => namespaces.get(uri),
            _ => namespaces.none.clone(),
        };
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(err(&path_of(&stack), "more than one root element"));
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                let is_empty = matches!(event, Event::Empty(_));
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        &path_of(&stack),
                        format!("nested deeper than {MAX_DEPTH} elements"),
                    ));
                }
                let name_len = start.name().as_ref().len();
                // `<` then the name.
                let qname = source
                    .get(before + 1..before + 1 + name_len)
                    .unwrap_or_default();
                let element = open(
                    source,
                    &reader,
                    &mut namespaces,
                    start,
                    ns,
                    qname,
                    &stack,
                    after,
                )?;
                if is_empty {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let mut element = stack
                    .pop()
                    .ok_or_else(|| err(&path_of(&stack), "unexpected end tag"))?;
                element.inner.1 = before;
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let raw = source.get(before..after).unwrap_or_default();
                // Plain text is its own source; only line ends need work.
                let text = if raw.contains('\r') {
                    Cow::Owned(t.xml10_content().into_owned())
                } else {
                    Cow::Borrowed(raw)
                };
                check_chars(&text, || path_of(&stack))?;
                match stack.last_mut() {
                    Some(el) => push_text(&mut el.text, text),
                    None if text.trim().is_empty() => {}
                    None => return Err(err(&path_of(&stack), "text outside the root element")),
                }
            }
            Event::CData(c) => {
                let text = Cow::Owned((*c).to_owned());
                check_chars(&text, || path_of(&stack))?;
                match stack.last_mut() {
                    Some(el) => push_text(&mut el.text, text),
                    None => return Err(err(&path_of(&stack), "CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| {
                            err(&path_of(&stack), format!("bad character reference: {e}"))
                        })?
                        .map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r).map(String::from)
                };
                if let Some(r) = &resolved {
                    check_chars(r, || path_of(&stack))?;
                }
                let Some(resolved) = resolved else {
                    return Err(err(
                        &path_of(&stack),
                        format!("entity reference &{}; is not allowed", &*r),
                    ));
                };
                match stack.last_mut() {
                    Some(el) => push_text(&mut el.text, Cow::Owned(resolved)),
                    None => {
                        return Err(err(&path_of(&stack), "reference outside the root element"));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(err(
                    &path_of(&stack),
                    "DOCTYPE declarations are refused (no entities are expanded)",
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err(&path_of(&stack), "the document ends inside an element"));
    }
    root.ok_or_else(|| err("", "no root element"))
}

#[allow(clippy::too_many_arguments)]
fn open<'a>(
    source: &'a str,
    reader: &NsReader<&'a [u8]>,
    namespaces: &mut Namespaces,
    start: &BytesStart<'a>,
    ns: Rc<str>,
    qname: &'a str,
    stack: &[Element<'a>],
    content_start: usize,
) -> Result<Element<'a>, ReadError> {
    let local = qname.rsplit(':').next().unwrap_or(qname);
    let here = || format!("{}/{qname}", path_of(stack));
    let mut attributes = Vec::new();
    for (i, attr) in start.attributes().with_checks(true).enumerate() {
        if i >= MAX_ATTRIBUTES {
            return Err(err(
                &here(),
                format!("more than {MAX_ATTRIBUTES} attributes"),
            ));
        }
        let attr = attr.map_err(|e| err(&here(), format!("malformed attribute: {e}")))?;
        let key = attr.key;
        // Namespace declarations are not attributes of the message.
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local_name) = reader.resolver().resolve_attribute(key);
        let attr_ns = namespaces.get(resolved_uri(resolved, here)?);
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| err(&here(), format!("attribute {}: {e}", key.as_ref())))?;
        check_chars(&value, here)?;
        let value = match borrow_from(source, &value) {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(value.into_owned()),
        };
        let local = match borrow_from(source, local_name.as_ref()) {
            Some(l) => Cow::Borrowed(l),
            None => Cow::Owned(local_name.as_ref().to_owned()),
        };
        attributes.push(Attribute {
            ns: attr_ns,
            local,
            value,
        });
    }
    Ok(Element {
        ns,
        local: Cow::Borrowed(local),
        qname: Cow::Borrowed(qname),
        attributes,
        children: Vec::new(),
        text: Cow::Borrowed(""),
        inner: (content_start, content_start),
    })
}

fn close<'a>(stack: &mut [Element<'a>], root: &mut Option<Element<'a>>, element: Element<'a>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_namespaces_and_text() {
        let doc = r#"<?xml version="1.0"?><cl:a xmlns:cl="urn:x" k=" v &amp; w "><cl:b>one &lt;two&gt; &#229;</cl:b><c/></cl:a>"#;
        let root = parse(doc).unwrap();
        assert_eq!((&*root.ns, &*root.local), ("urn:x", "a"));
        assert_eq!(root.attributes.len(), 1);
        assert_eq!(root.attributes[0].value, " v & w ");
        assert_eq!(root.children[0].text, "one <two> å");
        assert_eq!(&*root.children[1].ns, "");
        let (s, e) = root.inner;
        assert!(doc[s..e].starts_with("<cl:b>") && doc[s..e].ends_with("<c/>"));
    }

    #[test]
    fn refuses_doctype_entities_depth_and_floods() {
        assert!(
            parse("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>")
                .unwrap_err()
                .reason
                .contains("DOCTYPE")
        );
        assert!(
            parse("<a>&x;</a>")
                .unwrap_err()
                .reason
                .contains("not allowed")
        );
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&deep).unwrap_err().reason.contains("deeper"));
        let attrs: String = (0..100).map(|i| format!(" a{i}=\"x\"")).collect();
        assert!(
            parse(&format!("<a{attrs}/>"))
                .unwrap_err()
                .reason
                .contains("attributes")
        );
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<p:a/>").unwrap_err().reason.contains("prefix"));
        assert!(
            parse("<a>x\u{0}y</a>")
                .unwrap_err()
                .reason
                .contains("U+0000")
        );
        assert!(
            parse("<a b=\"\u{1}\"/>")
                .unwrap_err()
                .reason
                .contains("U+0001")
        );
        assert!(parse("<a>&#1;</a>").is_err());
        assert!(parse("<a>\t\r\n</a>").is_ok());
    }
}
