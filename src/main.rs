//! The `samgate` binary: see `samgate --help`.

fn main() -> std::process::ExitCode {
    samgate::cli::main()
}
