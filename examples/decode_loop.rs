//! Decodes the example admission notice in a loop: a target for profilers
//! (`perf record target/release/examples/decode_loop lifecare`).

use samgate::dialects::DialectName;

fn main() {
    let dialect = std::env::args().nth(1).unwrap_or_else(|| "lifecare".into());
    let d = DialectName::parse(&dialect).expect("lifecare, cosmic-link or samsa");
    let path = format!(
        "{}/tests/data/examples/{dialect}/admissionNotice.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(path).unwrap();
    let n = 200_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(d.adapter().decode(std::hint::black_box(&bytes)).unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{dialect}: {:.0} decodes/s", n as f64 / secs);
}
