//! Fuzzes the canonical JSON reader: no panic, and an accepted event prints
//! and reads back unchanged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(event) = samgate_proto::canonical::from_str(text) {
        let printed = samgate_proto::canonical::to_string_pretty(&event);
        assert_eq!(samgate_proto::canonical::from_str(&printed).unwrap(), event);
    }
});
