//! Fuzzes the samsa decoder (see fuzz/src/lib.rs for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samgate_fuzz::check(&samgate_samsa::Samsa, data);
});
