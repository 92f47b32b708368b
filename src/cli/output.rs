//! Standard output for the commands that print (`demo`, `case`, `sip`,
//! `validate`), through the `outln!` macro of `cli`.
//!
//! `println!` panics when the reader has gone away (`samgate demo | head`).
//! Here a closed pipe ends the process quietly and successfully, as the
//! default SIGPIPE ends a C program; any other write error is reported and
//! ends it with status 1.

use std::io::{ErrorKind, Write};

pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}
