//! Repeated runs for the e2e bench's `rounds=N` option: every part runs
//! once per round, the parts alternating, and the summary gives each
//! figure's median with its range. One run is not enough on a two-core
//! machine shared with the broker: the raw rate alone moves by 70 % from
//! one run to the next, so a single run's "percent of raw" says more about
//! that run's raw figure than about samgate. The ratios are taken round by
//! round (samgate against the raw run just before it), then summarised.

use std::time::Duration;

use super::Figures;

/// The raw path's label, the denominator of every "of raw" ratio.
pub const RAW: &str = "raw RabbitMQ, publish+confirm+consume";
/// The same broker work as samgate's with one recipient, without samgate.
pub const FORWARD: &str = "raw RabbitMQ, consume + 1 confirmed copy";
/// The same broker work as samgate's with three recipients.
pub const FANOUT: &str = "raw RabbitMQ, consume + 3 confirmed copies";

/// Every part's figures, round by round, in the order the parts ran.
#[derive(Default)]
pub struct Rounds {
    parts: Vec<(String, Vec<Figures>)>,
}

impl Rounds {
    /// Records one run of the part `what`.
    pub fn add(&mut self, what: &str, figures: Figures) {
        match self.parts.iter_mut().find(|(label, _)| label == what) {
            Some((_, runs)) => runs.push(figures),
            None => self.parts.push((what.to_string(), vec![figures])),
        }
    }

    fn runs(&self, what: &str) -> Option<&[Figures]> {
        self.parts
            .iter()
            .find(|(label, _)| label == what)
            .map(|(_, runs)| runs.as_slice())
    }

    /// Prints each part's median and range, then how samgate's rates
    /// compare with the raw path's and with the same broker work without
    /// samgate, round by round.
    pub fn print_summary(&self) {
        let Some(rounds) = self.parts.first().map(|(_, runs)| runs.len()) else {
            return;
        };
        println!("\nmedian (min–max) over {rounds} rounds\n");
        for (what, runs) in &self.parts {
            let rate = spread(runs.iter().map(|f| f.per_second).collect());
            let p50 = spread(runs.iter().map(|f| ms(f.p50)).collect());
            let p99 = spread(runs.iter().map(|f| ms(f.p99)).collect());
            println!(
                "{what:<50} {:>6.0} msg/s ({:.0}–{:.0})   p50 {:.2} ms   p99 {:.2} ms ({:.2}–{:.2})",
                rate.median, rate.min, rate.max, p50.median, p99.median, p99.min, p99.max
            );
            let from: Vec<_> = runs.iter().filter_map(|f| f.from_queue).collect();
            if !from.is_empty() {
                let p50 = spread(from.iter().map(|(p50, _)| ms(*p50)).collect());
                let p99 = spread(from.iter().map(|(_, p99)| ms(*p99)).collect());
                println!(
                    "{:<50} from the inbound queue: p50 {:.2} ms   p99 {:.2} ms ({:.2}–{:.2})",
                    "", p50.median, p99.median, p99.min, p99.max
                );
            }
        }
        for (what, runs) in self.parts.iter().filter(|(w, _)| w.starts_with("samgate")) {
            if what.contains("at 1,000") {
                continue;
            }
            let baseline = if what.ends_with("one recipient") {
                (FORWARD, "forward")
            } else {
                (FANOUT, "fan-out")
            };
            let mut line = format!("{what}:");
            for (against, name) in [(RAW, "raw"), baseline] {
                if let Some(base) = self.runs(against) {
                    let ratios: Vec<f64> = runs
                        .iter()
                        .zip(base)
                        .map(|(s, b)| 100.0 * s.per_second / b.per_second)
                        .collect();
                    let r = spread(ratios);
                    line += &format!(
                        "  {:.0} % of {name} ({:.0}–{:.0} %)",
                        r.median, r.min, r.max
                    );
                }
            }
            println!("{line}");
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

/// The median, least and greatest of `values` (not empty).
fn spread(mut values: Vec<f64>) -> Spread {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Spread {
        median,
        min: values[0],
        max: values[n - 1],
    }
}
