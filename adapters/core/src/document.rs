//! The steps every decoder takes over a document, the same way in each
//! dialect: the size limit, the text encoding, parsing, choosing the
//! payload element, the extension element, and the model's check at the
//! end; and the check an encoder's caller makes on an event that did not
//! come checked.

use std::borrow::Cow;

use samgate_proto::CaseEvent;
use samgate_proto::validate::{Checked, check_event};

use crate::encoding::{Declared, declared_encoding, latin1_text, utf8_text};
use crate::fields::element_path;
use crate::xml::read::{self, Element};
use crate::xml::walk::{Ctx, Kids, Node};
use crate::{DecodeError, EncodeError, Extension, MAX_MESSAGE_BYTES};

/// The document's text in UTF-8: checks the size limit and the declared
/// encoding (UTF-8 always; ISO-8859-1 only where `latin1_allowed`).
pub fn document_text<'i>(
    ctx: Ctx,
    input: &'i [u8],
    latin1_allowed: bool,
) -> Result<Cow<'i, str>, DecodeError> {
    if input.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::new(
            ctx.dialect,
            "/",
            format!("the message is larger than the limit of {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    match declared_encoding(input) {
        (Declared::Latin1, _) if latin1_allowed => Ok(Cow::Owned(latin1_text(input))),
        (Declared::Utf8 | Declared::Utf8Default, _) => utf8_text(input)
            .map(Cow::Borrowed)
            .map_err(|e| DecodeError::new(ctx.dialect, "/", e)),
        (_, label) => Err(DecodeError::new(
            ctx.dialect,
            "/",
            format!(
                "encoding {} is refused; {} is accepted",
                label.unwrap_or_default(),
                if latin1_allowed {
                    "ISO-8859-1 or UTF-8"
                } else {
                    "only UTF-8"
                }
            ),
        )),
    }
}

/// Parses the document into its tree.
pub fn parse_document<'t>(ctx: Ctx, text: &'t str) -> Result<Element<'t>, DecodeError> {
    read::parse(text).map_err(|e| DecodeError::new(ctx.dialect, e.path, e.reason))
}

/// The one payload element among the children of `parent`: exactly one of
/// `payload_elements` must be present, and it must be `expected` (the one
/// the message type names).
pub fn payload_element<'d, 'a>(
    kids: &Kids<'d, 'a>,
    payload_elements: &[&str],
    expected: &str,
    type_path: &str,
) -> Result<Node<'d, 'a>, DecodeError> {
    let parent = kids.parent();
    let present: Vec<&str> = kids
        .present()
        .filter(|n| payload_elements.contains(n))
        .collect();
    match present.as_slice() {
        [] => Err(parent.error(format!(
            "the payload element {}{expected} is missing",
            parent.ctx.prefix
        ))),
        [one] if *one == expected => Ok(kids.one(one).expect("present")),
        [one] => Err(DecodeError::new(
            parent.ctx.dialect,
            parent.child_path(one),
            format!(
                "does not match the message type at {type_path} (expected {}{expected})",
                parent.ctx.prefix
            ),
        )),
        [_, second, ..] => Err(DecodeError::new(
            parent.ctx.dialect,
            parent.child_path(second),
            "more than one payload element",
        )),
    }
}

/// The extension element's content, kept verbatim; it must be the last
/// child of the root.
pub fn extension(
    kids: &Kids<'_, '_>,
    name: &str,
    text: &str,
) -> Result<Option<Extension>, DecodeError> {
    let Some(node) = kids.one(name) else {
        return Ok(None);
    };
    if kids.last() != Some(name) {
        return Err(node.error("the extension element must be the last child of the root"));
    }
    let (start, end) = node.el.inner;
    Ok(Some(Extension {
        dialect: node.ctx.dialect,
        inner_xml: text.get(start..end).unwrap_or_default().to_owned(),
    }))
}

/// Checks a decoded event against the model's rules, naming the element
/// that holds a failing field.
pub fn check_decoded(
    ctx: Ctx,
    event: CaseEvent,
    paths: &[(&str, &str)],
    root: &str,
) -> Result<Checked<CaseEvent>, DecodeError> {
    check_event(event)
        .map_err(|e| DecodeError::new(ctx.dialect, element_path(&e.field, paths, root), e.reason))
}

/// Checks an event that did not come checked (from a caller of the
/// translation API, say) before it is encoded in `dialect`.
pub fn check_for_encoding(
    dialect: &'static str,
    event: CaseEvent,
) -> Result<Checked<CaseEvent>, EncodeError> {
    check_event(event).map_err(|e| EncodeError::new(dialect, e.field, e.reason))
}
