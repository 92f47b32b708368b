//! Helpers the integration tests share: the test data and an XML tree
//! comparison like the reviewers' checker (namespace URI + local name,
//! attributes, trimmed text, child order; prefixes and whitespace between
//! elements do not matter).

#![allow(dead_code)]

use std::path::PathBuf;

use samgate_adapter_core::xml::read::{Element, parse};
use samgate_proto::{CaseEvent, canonical};

pub const DIALECTS: [&str; 3] = ["lifecare", "cosmic-link", "samsa"];
pub const TYPES: [&str; 13] = [
    "admissionNotice",
    "inNotice",
    "careContactAssigned",
    "dischargeReady",
    "sipInvitation",
    "sipPlan",
    "dischargeNotice",
    "threadMessage",
    "consent",
    "caseOpened",
    "caseClosed",
    "caseReopened",
    "deviation",
];

pub fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

pub fn example_bytes(dialect: &str, ty: &str) -> Vec<u8> {
    let ext = if dialect == "canonical" {
        "json"
    } else {
        "xml"
    };
    std::fs::read(data(&format!("examples/{dialect}/{ty}.{ext}"))).unwrap()
}

pub fn canonical_example(ty: &str) -> CaseEvent {
    canonical::from_str(&String::from_utf8(example_bytes("canonical", ty)).unwrap()).unwrap()
}

/// A comparable form of an XML element.
#[derive(Debug, PartialEq, Eq)]
pub struct Tree {
    pub ns: String,
    pub local: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Tree>,
}

fn tree_of(e: &Element) -> Tree {
    let mut attrs: Vec<(String, String)> = e
        .attributes
        .iter()
        .map(|a| (a.local.to_string(), a.value.trim().to_string()))
        .collect();
    attrs.sort();
    Tree {
        ns: e.ns.to_string(),
        local: e.local.to_string(),
        attrs,
        text: e.text.trim().to_string(),
        children: e.children.iter().map(tree_of).collect(),
    }
}

/// Parses XML bytes (ISO-8859-1 when declared so) into a comparable tree.
pub fn xml_tree(bytes: &[u8]) -> Tree {
    let text = match samgate_adapter_core::encoding::declared_encoding(bytes).0 {
        samgate_adapter_core::encoding::Declared::Latin1 => {
            samgate_adapter_core::encoding::latin1_text(bytes)
        }
        _ => String::from_utf8(bytes.to_vec()).unwrap(),
    };
    tree_of(&parse(&text).unwrap())
}
