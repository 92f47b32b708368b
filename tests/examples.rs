//! Every spec example, in every dialect: decode to its canonical JSON,
//! encode back to an equivalent document, and translate through every other
//! dialect and back to the same event (the reviewers' check, in-repo).

mod common;

use common::*;
use samgate::dialects::DialectName;
use samgate_proto::canonical;
use samgate_proto::v1::SourceSystem;

fn adapter(name: &str) -> &'static dyn samgate_adapter_core::Dialect {
    DialectName::parse(name).unwrap().adapter()
}

#[test]
fn every_example_decodes_to_its_canonical_event() {
    for d in DIALECTS {
        for ty in TYPES {
            let decoded = adapter(d)
                .decode(&example_bytes(d, ty))
                .unwrap_or_else(|e| panic!("{d}/{ty}: {e}"));
            let mut want = canonical_example(ty);
            want.source_system = adapter(d).source_system() as i32;
            assert_eq!(*decoded.event, want, "{d}/{ty}");
            assert!(
                decoded.warnings.is_empty(),
                "{d}/{ty}: {:?}",
                decoded.warnings
            );
        }
    }
}

#[test]
fn every_canonical_example_encodes_to_the_example_document() {
    for d in DIALECTS {
        for ty in TYPES {
            let encoded = adapter(d)
                .encode(&checked(&canonical_example(ty)), None)
                .unwrap();
            assert_eq!(
                xml_tree(&encoded.bytes),
                xml_tree(&example_bytes(d, ty)),
                "{d}/{ty}"
            );
        }
    }
}

#[test]
fn every_example_survives_every_cross_dialect_round_trip() {
    for from in DIALECTS {
        for to in DIALECTS {
            if from == to {
                continue;
            }
            for ty in TYPES {
                let first = adapter(from).decode(&example_bytes(from, ty)).unwrap();
                let middle = adapter(to)
                    .encode(&first.event, first.extension.as_ref())
                    .unwrap();
                let mut back = adapter(to)
                    .decode(&middle.bytes)
                    .unwrap()
                    .event
                    .into_inner();
                back.source_system = first.event.source_system;
                assert_eq!(back, *first.event, "{from} -> {to} / {ty}");
            }
        }
    }
}

#[test]
fn canonical_examples_print_back_unchanged() {
    for ty in TYPES {
        let text = String::from_utf8(example_bytes("canonical", ty)).unwrap();
        let event = canonical::from_str(&text).unwrap();
        let printed: serde_json::Value =
            serde_json::from_str(&canonical::to_string_pretty(&event)).unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(printed, original, "{ty}");
        assert_eq!(event.source_system, SourceSystem::Native as i32);
    }
}

#[test]
fn lifecare_writes_latin1_and_keeps_names_through_the_round_trip() {
    let event = canonical_example("admissionNotice");
    let bytes = adapter("lifecare")
        .encode(&checked(&event), None)
        .unwrap()
        .bytes;
    assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"));
    // "Åström" in ISO-8859-1.
    assert!(bytes.windows(6).any(|w| w == b"\xC5str\xF6m"));
    let mut euro = event.clone();
    euro.patient.as_mut().unwrap().family_name = "Åström €".into();
    let bytes = adapter("lifecare")
        .encode(&checked(&euro), None)
        .unwrap()
        .bytes;
    assert!(bytes.windows(7).any(|w| w == b"&#8364;"));
    assert_eq!(
        adapter("lifecare").decode(&bytes).unwrap().event.patient,
        euro.patient
    );
}
