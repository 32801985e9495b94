//! Latency samples and their percentiles.

use std::time::Duration;

use serde::Serialize;

/// Latencies in units of 10 µs (0.01 ms, the resolution we report); every sample is kept,
/// so percentiles are exact. A million samples take 4 MB.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let units = latency.as_micros() / 10;
        self.0.push(u32::try_from(units).unwrap_or(u32::MAX));
    }

    pub fn append(&mut self, other: &mut Self) {
        self.0.append(&mut other.0);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Sorts the samples and reads the percentiles.
    pub fn summary(&mut self) -> Summary {
        self.0.sort_unstable();
        let ms = |units: u32| f64::from(units) / 100.0;
        let at = |q: f64| {
            if self.0.is_empty() {
                return 0.0;
            }
            // The nearest-rank percentile: the smallest sample with at least q of all at or
            // below it.
            let rank = (q * self.0.len() as f64).ceil() as usize;
            ms(self.0[rank.clamp(1, self.0.len()) - 1])
        };
        Summary {
            count: self.0.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: self.0.last().copied().map_or(0.0, ms),
        }
    }
}

/// Percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_at_a_hundredth_of_a_millisecond() {
        let mut l = Latencies::default();
        for us in 1..=100u64 {
            l.record(Duration::from_micros(us * 1000 + 5));
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, 50.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.max, 100.0);
        assert_eq!(Latencies::default().summary().p99, 0.0);
    }
}
