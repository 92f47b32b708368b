//! Where a message's time goes inside samgate, for the `timings` option of
//! the e2e bench: a tracing layer that times samgate's debug spans (a
//! batch decoded and stored, the store's read and write, the relay's
//! outbox read, publish and mark) from creation to close, so each is the
//! wall time of one call, waits included. Without `timings` the layer is
//! left out and the bench's subscriber enables no span (only the relay's
//! confirm event, `confirm_times`), so the spans cost nothing measurable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Durations by span name, gathered until `take`.
#[derive(Clone, Default)]
pub struct SpanTimes(Arc<Mutex<BTreeMap<&'static str, Vec<Duration>>>>);

struct Started(Instant);

impl SpanTimes {
    /// Prints p50 / p90 / p99 / max per span name since the last call and
    /// starts again.
    pub fn print_and_reset(&self) {
        let taken = std::mem::take(&mut *self.0.lock().unwrap());
        for (name, mut times) in taken {
            times.sort();
            let at = |q: f64| super::quantile(&times, q).as_secs_f64() * 1e3;
            println!(
                "    {name:<16} {:>7} calls   p50 {:>6.2}   p90 {:>6.2}   p99 {:>6.2}   max {:>7.2} ms",
                times.len(),
                at(0.5),
                at(0.9),
                at(0.99),
                at(1.0)
            );
        }
    }
}

impl<S> Layer<S> for SpanTimes
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        self.0
            .lock()
            .unwrap()
            .entry(span.name())
            .or_default()
            .push(started.elapsed());
    }
}
