//! Walking a decoded tree under the dialects' strictness rules.
//!
//! Every decoder reads its message through [`Node`], which knows the
//! dialect, the namespace and the element path, so that each refusal names
//! exactly where it happened (`/Meddelande/Patient/@id`). The rules enforced
//! here are common to all three dialects (see docs/dialects.md): children in
//! any order, a non-list child at most once, unknown elements and attributes
//! refused, text trimmed, empty leaves absent, xsi attributes ignored.

use super::XSI_NS;
use super::read::Element;
use crate::DecodeError;

/// What a walker knows of its dialect.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Dialect name for errors (`lifecare`).
    pub dialect: &'static str,
    /// The dialect's namespace URI.
    pub ns: &'static str,
    /// The prefix paths show element names with (`cl:`), whatever prefix the
    /// document itself used.
    pub prefix: &'static str,
}

/// How often a child may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// At most once.
    One,
    /// Any number of times (a list element, `*` in the dialect listings).
    Many,
}

/// An element and where it is.
///
/// The element path is not kept while walking (a valid message needs none);
/// an error finds it again from the root, so walking allocates nothing for
/// paths.
#[derive(Debug, Clone, Copy)]
pub struct Node<'d, 'a> {
    pub el: &'d Element<'a>,
    root: &'d Element<'a>,
    pub ctx: &'static Ctx,
}

/// The chain of elements from `from` down to `target`, by identity.
fn chain<'d, 'a>(
    from: &'d Element<'a>,
    target: *const Element<'a>,
    out: &mut Vec<&'d Element<'a>>,
) -> bool {
    out.push(from);
    if std::ptr::eq(from, target) {
        return true;
    }
    for child in &from.children {
        if chain(child, target, out) {
            return true;
        }
    }
    out.pop();
    false
}

impl<'d, 'a> Node<'d, 'a> {
    /// The document's root, which must be `name` in the dialect's namespace.
    pub fn root(ctx: &'static Ctx, el: &'d Element<'a>, name: &str) -> Result<Self, DecodeError> {
        let node = Node { el, root: el, ctx };
        if &*el.ns != ctx.ns {
            let found = if el.ns.is_empty() {
                "no namespace".to_owned()
            } else {
                format!("namespace {}", el.ns)
            };
            return Err(node.error(format!(
                "the root element must be in namespace {}, found {found}",
                ctx.ns
            )));
        }
        if el.local != name {
            return Err(node.error(format!("the root element must be {}{name}", ctx.prefix)));
        }
        Ok(node)
    }

    /// The element path (`/Meddelande/KallelseSIP/Kallade/Kallad[2]`): an
    /// element that has siblings of its own name gets its 1-based index.
    pub fn path(&self) -> String {
        let mut elements = Vec::new();
        chain(self.root, self.el, &mut elements);
        let mut out = String::new();
        for (i, el) in elements.iter().enumerate() {
            out.push('/');
            out.push_str(self.ctx.prefix);
            out.push_str(&el.local);
            if let Some(parent) = i.checked_sub(1).map(|p| elements[p]) {
                let same: Vec<&Element> = parent
                    .children
                    .iter()
                    .filter(|c| c.local == el.local)
                    .collect();
                if same.len() > 1 {
                    let index = same.iter().position(|c| std::ptr::eq(*c, *el)).unwrap_or(0) + 1;
                    out.push_str(&format!("[{index}]"));
                }
            }
        }
        out
    }

    /// The path of a child element that may not exist.
    pub fn child_path(&self, name: &str) -> String {
        format!("{}/{}{name}", self.path(), self.ctx.prefix)
    }

    pub fn error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(self.ctx.dialect, self.path(), reason)
    }

    pub fn attr_path(&self, name: &str) -> String {
        format!("{}/@{name}", self.path())
    }

    pub fn attr_error(&self, name: &str, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(self.ctx.dialect, self.attr_path(name), reason)
    }

    /// The element's local name.
    pub fn name(&self) -> &str {
        &self.el.local
    }

    /// Refuses attributes other than `allowed` (namespace declarations and
    /// xsi attributes aside).
    pub fn only_attributes(&self, allowed: &[&str]) -> Result<(), DecodeError> {
        for a in &self.el.attributes {
            if &*a.ns == XSI_NS {
                continue;
            }
            if !a.ns.is_empty() || !allowed.contains(&&*a.local) {
                return Err(self.attr_error(&a.local, "unknown attribute"));
            }
        }
        Ok(())
    }

    /// An attribute's trimmed value; empty counts as absent.
    pub fn attr(&self, name: &str) -> Option<&'d str> {
        self.el
            .attributes
            .iter()
            .find(|a| a.ns.is_empty() && a.local == name)
            .map(|a| a.value.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn req_attr(&self, name: &str) -> Result<&'d str, DecodeError> {
        self.attr(name)
            .ok_or_else(|| self.attr_error(name, "is required"))
    }

    /// The children, checked against `spec`: every child must be one of the
    /// named elements in the dialect's namespace, a `Card::One` child at most
    /// once; text between children must be whitespace.
    pub fn children(&self, spec: &[(&'static str, Card)]) -> Result<Kids<'d, 'a>, DecodeError> {
        if !self.el.children.is_empty() && !self.el.text.trim().is_empty() {
            return Err(self.error("text is not allowed beside child elements"));
        }
        let mut found: Vec<(&'static str, &'d Element<'a>)> =
            Vec::with_capacity(self.el.children.len());
        for child in &self.el.children {
            let in_ns = &*child.ns == self.ctx.ns;
            let Some(&(name, card)) = spec.iter().find(|(n, _)| in_ns && *n == child.local) else {
                let ns = if in_ns || child.ns.is_empty() {
                    String::new()
                } else {
                    format!(" (namespace {})", child.ns)
                };
                return Err(DecodeError::new(
                    self.ctx.dialect,
                    format!("{}/{}", self.path(), child.qname),
                    format!("unknown element{ns}"),
                ));
            };
            if card == Card::One && found.iter().any(|(n, _)| *n == name) {
                return Err(DecodeError::new(
                    self.ctx.dialect,
                    self.child_path(name),
                    "appears more than once",
                ));
            }
            found.push((name, child));
        }
        Ok(Kids {
            parent: *self,
            found,
        })
    }

    /// A leaf's trimmed text; empty counts as absent. A leaf has neither
    /// attributes nor children.
    pub fn leaf(&self) -> Result<Option<&'d str>, DecodeError> {
        self.only_attributes(&[])?;
        self.text()
    }

    /// The trimmed text of an element that may also carry attributes.
    pub fn text(&self) -> Result<Option<&'d str>, DecodeError> {
        if let Some(child) = self.el.children.first() {
            return Err(DecodeError::new(
                self.ctx.dialect,
                format!("{}/{}", self.path(), child.qname),
                "unknown element",
            ));
        }
        let t = self.el.text.trim();
        Ok((!t.is_empty()).then_some(t))
    }

    /// Refuses text in an element that the dialect gives only attributes.
    pub fn no_text(&self) -> Result<(), DecodeError> {
        if !self.el.text.trim().is_empty() {
            return Err(self.error("text is not allowed in this element"));
        }
        Ok(())
    }

    /// Checks the element is empty apart from `allowed` attributes.
    pub fn attributes_only(&self, allowed: &[&str]) -> Result<(), DecodeError> {
        self.only_attributes(allowed)?;
        self.children(&[])?;
        self.no_text()
    }
}

/// The checked children of one element.
#[derive(Debug)]
pub struct Kids<'d, 'a> {
    parent: Node<'d, 'a>,
    /// (the spec's name, the element), in document order.
    found: Vec<(&'static str, &'d Element<'a>)>,
}

impl<'d, 'a> Kids<'d, 'a> {
    fn node(&self, el: &'d Element<'a>) -> Node<'d, 'a> {
        Node {
            el,
            root: self.parent.root,
            ctx: self.parent.ctx,
        }
    }

    /// The child of that name, if present.
    pub fn one(&self, name: &str) -> Option<Node<'d, 'a>> {
        self.found
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, el)| self.node(el))
    }

    /// The child of that name, or an error naming where it is missing.
    pub fn req(&self, name: &str) -> Result<Node<'d, 'a>, DecodeError> {
        self.one(name).ok_or_else(|| {
            DecodeError::new(
                self.parent.ctx.dialect,
                self.parent.child_path(name),
                "is required",
            )
        })
    }

    /// The trimmed text of a leaf child, if present and not empty.
    pub fn leaf(&self, name: &str) -> Result<Option<&'d str>, DecodeError> {
        match self.one(name) {
            Some(n) => n.leaf(),
            None => Ok(None),
        }
    }

    /// A leaf child's text as an owned string (empty when absent).
    pub fn string(&self, name: &str) -> Result<String, DecodeError> {
        Ok(self.leaf(name)?.unwrap_or_default().to_owned())
    }

    /// All children of that name, in document order.
    pub fn many(&self, name: &str) -> Vec<Node<'d, 'a>> {
        self.found
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, el)| self.node(el))
            .collect()
    }

    /// The names of the children present, in document order.
    pub fn present(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.found.iter().map(|(n, _)| *n)
    }

    /// The name of the last child, if any.
    pub fn last(&self) -> Option<&'static str> {
        self.found.last().map(|(n, _)| *n)
    }

    pub fn parent(&self) -> &Node<'d, 'a> {
        &self.parent
    }
}

/// Looks a dialect code up in a table of (code, value) pairs.
pub fn code<T: Copy>(table: &[(&str, T)], value: &str) -> Option<T> {
    table.iter().find(|(c, _)| *c == value).map(|(_, v)| *v)
}

/// The dialect code of a value, if the table has it.
pub fn code_of<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> Option<&'static str> {
    table.iter().find(|(_, v)| *v == value).map(|(c, _)| *c)
}

impl<'d, 'a> Node<'d, 'a> {
    /// A coded attribute, looked up in the dialect's table.
    pub fn coded_attr<T: Copy>(
        &self,
        name: &str,
        table: &[(&str, T)],
        what: &str,
    ) -> Result<Option<T>, DecodeError> {
        self.attr(name)
            .map(|v| {
                code(table, v)
                    .ok_or_else(|| self.attr_error(name, format!("'{v}' is not a {what} code")))
            })
            .transpose()
    }

    /// An attribute read by `parse`, whose error becomes the refusal reason.
    pub fn parsed_attr<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, DecodeError> {
        self.attr(name)
            .map(|v| parse(v).map_err(|e| self.attr_error(name, e)))
            .transpose()
    }

    /// A leaf's text read by `parse`.
    pub fn parsed_text<T>(
        &self,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, DecodeError> {
        self.leaf()?
            .map(|v| parse(v).map_err(|e| self.error(e)))
            .transpose()
    }
}

impl<'d, 'a> Kids<'d, 'a> {
    /// A coded leaf child, looked up in the dialect's table.
    pub fn coded_leaf<T: Copy>(
        &self,
        name: &str,
        table: &[(&str, T)],
        what: &str,
    ) -> Result<Option<T>, DecodeError> {
        let Some(node) = self.one(name) else {
            return Ok(None);
        };
        node.leaf()?
            .map(|v| {
                code(table, v).ok_or_else(|| node.error(format!("'{v}' is not a {what} code")))
            })
            .transpose()
    }

    /// A leaf child read by `parse`.
    pub fn parsed_leaf<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, DecodeError> {
        match self.one(name) {
            Some(n) => n.parsed_text(parse),
            None => Ok(None),
        }
    }

    /// The texts of a list of leaf children (empty items are kept out).
    pub fn leaf_list(&self, name: &str) -> Result<Vec<String>, DecodeError> {
        let mut out = Vec::new();
        for n in self.many(name) {
            if let Some(t) = n.leaf()? {
                out.push(t.to_owned());
            }
        }
        Ok(out)
    }
}
