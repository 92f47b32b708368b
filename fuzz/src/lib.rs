//! What every decoder fuzz target checks: the decoder never panics, and a
//! message it accepts can be written in every dialect and read back to the
//! same event.

use samgate_adapter_core::Dialect;
use samgate_cosmic_link::CosmicLink;
use samgate_lifecare::Lifecare;
use samgate_samsa::Samsa;

pub const DIALECTS: [&dyn Dialect; 3] = [&Lifecare, &CosmicLink, &Samsa];

pub fn check(dialect: &dyn Dialect, data: &[u8]) {
    let Ok(decoded) = dialect.decode(data) else {
        return;
    };
    for target in DIALECTS {
        let encoded = target
            .encode(&decoded.event, decoded.extension.as_ref())
            .expect("an accepted event encodes");
        let mut back = target
            .decode(&encoded.bytes)
            .expect("an encoded event decodes")
            .event
            .into_inner();
        back.source_system = decoded.event.source_system;
        // Lifecare cannot tell the repeated autumn hour apart (a warning).
        if encoded.warnings.iter().all(|w| w.code != "repeated-hour") {
            assert_eq!(back, *decoded.event);
        }
    }
}
