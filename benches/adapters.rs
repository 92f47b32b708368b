//! Decode and encode throughput of each dialect on the example corpus
//! (13 message types), and the admission notice alone, the target message
//! (≥ 100,000 decodes/s per core). Figures: benches/README.md.
//!
//! cargo bench --bench adapters

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use samgate::dialects::DialectName;

const TYPES: [&str; 13] = samgate_proto::validate::PAYLOAD_NAMES;

fn example(dialect: &str, ty: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/examples/{dialect}/{ty}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn adapters(c: &mut Criterion) {
    for d in DialectName::ALL {
        let adapter = d.adapter();
        let corpus: Vec<Vec<u8>> = TYPES.iter().map(|t| example(d.as_str(), t)).collect();
        let bytes: usize = corpus.iter().map(Vec::len).sum();
        let events: Vec<_> = corpus
            .iter()
            .map(|m| adapter.decode(m).unwrap().event)
            .collect();

        let mut group = c.benchmark_group(format!("{d}/corpus"));
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("decode", |b| {
            b.iter(|| {
                for m in &corpus {
                    std::hint::black_box(adapter.decode(std::hint::black_box(m)).unwrap());
                }
            })
        });
        group.bench_function("encode", |b| {
            b.iter(|| {
                for e in &events {
                    std::hint::black_box(adapter.encode(std::hint::black_box(e), None).unwrap());
                }
            })
        });
        group.finish();

        let admission = example(d.as_str(), "admissionNotice");
        let mut group = c.benchmark_group(format!("{d}/admissionNotice"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("decode", |b| {
            b.iter(|| adapter.decode(std::hint::black_box(&admission)).unwrap())
        });
        group.finish();
    }

    // Lifecare → Cosmic Link, the translation the XSLT comparison runs.
    let lifecare = DialectName::Lifecare.adapter();
    let cosmic = DialectName::CosmicLink.adapter();
    let batch: Vec<Vec<u8>> = ["admissionNotice", "sipPlan"]
        .iter()
        .map(|t| example("lifecare", t))
        .collect();
    let mut group = c.benchmark_group("lifecare-to-cosmic-link");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("translate", |b| {
        b.iter(|| {
            for m in &batch {
                let d = lifecare.decode(std::hint::black_box(m)).unwrap();
                std::hint::black_box(cosmic.encode(&d.event, d.extension.as_ref()).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, adapters);
criterion_main!(benches);
