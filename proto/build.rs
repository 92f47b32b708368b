//! Compiles `samgate/v1/*.proto` into Rust at build time with `protox`, a
//! pure-Rust protobuf compiler, so no `protoc` is needed on anyone's machine.
//! The encoded descriptor set is kept in OUT_DIR for gRPC server reflection.

use std::path::PathBuf;

use protox::prost::Message as _;

const PROTOS: &[&str] = &[
    "samgate/v1/event.proto",
    "samgate/v1/case.proto",
    "samgate/v1/service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("samgate_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
