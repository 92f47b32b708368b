//! Builds ADT messages field by field for the table-driven tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use samgate_hl7v2::{Options, Outcome, Reading, Refusal, StayUpdate, read};

/// A valid personnummer (Skatteverket's classic test number).
pub const PNR: &str = "191212121212";
/// A valid samordningsnummer (day 72 = 12 + 60).
pub const SAMNR: &str = "199001722306";

/// A message as segments of fields; field 1 of a segment is index 1.
#[derive(Clone)]
pub struct Msg {
    segments: Vec<(String, BTreeMap<usize, String>)>,
}

impl Msg {
    /// An inpatient A01, version 2.5, every field the contract reads set.
    pub fn a01() -> Self {
        Msg {
            segments: Vec::new(),
        }
        .seg(
            "MSH",
            &[
                (3, "COSMIC"),
                (4, "SE2321000131-E000000000001"),
                (5, "SAMGATE"),
                (6, "REGION"),
                (7, "202410270740"),
                (9, "ADT^A01^ADT_A01"),
                (10, "MSG0001"),
                (11, "P"),
                (12, "2.5"),
            ],
        )
        .seg("EVN", &[(1, "A01"), (2, "202410270741")])
        .seg(
            "PID",
            &[
                (1, "1"),
                (3, "191212121212^^^SKV&1.2.752.129.2.1.3.1&ISO^PN"),
                (5, "Tolvansson^Tolvan^^^^^L"),
                (11, "Storgatan 1^^Örebro^^70210^SE^H^^1880"),
            ],
        )
        .seg("PD1", &[])
        .seg(
            "PV1",
            &[
                (1, "1"),
                (2, "I"),
                (3, "SE2321000164-7381^^^SE2321000164-1004"),
                (19, "V123"),
                (44, "202410270700"),
            ],
        )
    }

    /// The same message as another trigger (MSH-9 and EVN-1).
    pub fn trigger(self, t: &str) -> Self {
        self.set("MSH", 9, &format!("ADT^{t}^ADT_{t}"))
            .set("EVN", 1, t)
    }

    pub fn seg(mut self, id: &str, fields: &[(usize, &str)]) -> Self {
        self.segments.push((
            id.to_owned(),
            fields.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        ));
        self
    }

    pub fn set(mut self, id: &str, n: usize, value: &str) -> Self {
        let seg = self
            .segments
            .iter_mut()
            .find(|(s, _)| s == id)
            .expect("segment");
        seg.1.insert(n, value.to_owned());
        self
    }

    pub fn without(mut self, id: &str) -> Self {
        self.segments.retain(|(s, _)| s != id);
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for (id, fields) in &self.segments {
            let last = fields.keys().max().copied().unwrap_or(0);
            out.push_str(id);
            if id == "MSH" {
                out.push_str("|^~\\&");
                for n in 3..=last {
                    out.push('|');
                    out.push_str(fields.get(&n).map_or("", String::as_str));
                }
            } else {
                for n in 1..=last {
                    out.push('|');
                    out.push_str(fields.get(&n).map_or("", String::as_str));
                }
            }
            out.push('\r');
        }
        out.into_bytes()
    }

    pub fn read(&self) -> Reading {
        read(&self.bytes(), &Options::default())
    }

    pub fn stay(&self) -> StayUpdate {
        match self.read().outcome {
            Outcome::Stay(s) => *s,
            other => panic!("expected a stay update, got {other:?}"),
        }
    }

    pub fn refusal(&self) -> Refusal {
        match self.read().outcome {
            Outcome::Refused(r) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

/// The severity, code and location of a refusal, as `AE 101 PID-3`.
pub fn brief(r: &Refusal) -> String {
    format!("{} {} {}", r.severity.ack_code(), r.code.code(), r.location)
}

/// A message written with the delimiters `#*!/%` instead of `|^~\&`; an `@`
/// becomes a literal `^` (content, not a delimiter, in the new set).
pub fn other_delimiters(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|b| match b {
            b'|' => b'#',
            b'^' => b'*',
            b'~' => b'!',
            b'\\' => b'/',
            b'&' => b'%',
            b'@' => b'^',
            b => *b,
        })
        .collect()
}
