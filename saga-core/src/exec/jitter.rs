//! The random source for retry jitter: SplitMix64 over an atomic counter,
//! lock-free and seedable so tests are reproducible.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct JitterSource(AtomicU64);

impl JitterSource {
    pub(crate) fn new(seed: u64) -> Self {
        JitterSource(AtomicU64::new(seed))
    }

    pub(crate) fn from_entropy() -> Self {
        Self::new(uuid::Uuid::new_v4().as_u64_pair().0)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn next_unit(&self) -> f64 {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_in_range_and_reproducible() {
        let a = JitterSource::new(7);
        let b = JitterSource::new(7);
        for _ in 0..1000 {
            let x = a.next_unit();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, b.next_unit());
        }
    }
}
