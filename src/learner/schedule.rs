//! Hyper-parameter schedules: fastai's cosine pieces and the one-cycle policy.

use std::f64::consts::PI;

/// Cosine from `start` to `end` as `pos` goes from 0 to 1 (fastai's `SchedCos`).
pub fn sched_cos(start: f64, end: f64, pos: f64) -> f64 {
    start + (1.0 + (PI * (1.0 - pos)).cos()) * (end - start) / 2.0
}

/// Cosine from `start` to `middle` over the first `pct` of training, then to `end`
/// (fastai's `combined_cos`).
pub fn combined_cos(pct: f64, start: f64, middle: f64, end: f64, pos: f64) -> f64 {
    if pos < pct {
        sched_cos(start, middle, pos / pct)
    } else {
        sched_cos(middle, end, (pos - pct) / (1.0 - pct))
    }
}

/// The one-cycle policy with fastai's defaults: the learning rate warms up from `lr_max/25` to
/// `lr_max` over the first 25% of the batches, then anneals to `lr_max/1e5`; momentum moves the
/// other way, 0.95 → 0.85 → 0.95.
///
/// ```
/// use fastburn::learner::OneCycle;
/// let s = OneCycle::new(0.1);
/// assert!((s.lr(0.0) - 0.004).abs() < 1e-12);
/// assert!((s.lr(0.25) - 0.1).abs() < 1e-12);
/// assert!((s.mom(0.25) - 0.85).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCycle {
    pub lr_max: f64,
    pub div: f64,
    pub div_final: f64,
    pub pct_start: f64,
    pub moms: (f64, f64, f64),
}

impl OneCycle {
    pub fn new(lr_max: f64) -> Self {
        Self {
            lr_max,
            div: 25.0,
            div_final: 1e5,
            pct_start: 0.25,
            moms: (0.95, 0.85, 0.95),
        }
    }

    /// Learning rate at `pct` (0 at the first batch, towards 1 at the last).
    pub fn lr(&self, pct: f64) -> f64 {
        combined_cos(
            self.pct_start,
            self.lr_max / self.div,
            self.lr_max,
            self.lr_max / self.div_final,
            pct,
        )
    }

    /// Momentum (Adam's first-moment coefficient) at `pct`.
    pub fn mom(&self, pct: f64) -> f64 {
        combined_cos(self.pct_start, self.moms.0, self.moms.1, self.moms.2, pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_matches_fastai_at_known_points() {
        let s = OneCycle::new(0.1);
        // Start, peak, end of the warm-up and of the annealing.
        assert!((s.lr(0.0) - 0.1 / 25.0).abs() < 1e-12);
        assert!((s.lr(0.25) - 0.1).abs() < 1e-12);
        assert!((s.lr(1.0) - 0.1 / 1e5).abs() < 1e-12);
        // Half-way through each phase the cosine is half-way between its ends.
        assert!((s.lr(0.125) - (0.004 + 0.1) / 2.0).abs() < 1e-12);
        assert!((s.lr(0.625) - (0.1 + 1e-6) / 2.0).abs() < 1e-12);
        // fastai: combined_cos(0.25, 0.95, 0.85, 0.95).
        assert!((s.mom(0.0) - 0.95).abs() < 1e-12);
        assert!((s.mom(0.25) - 0.85).abs() < 1e-12);
        assert!((s.mom(0.625) - 0.90).abs() < 1e-12);
        assert!((s.mom(1.0) - 0.95).abs() < 1e-12);
        // Monotone within each phase.
        let lrs: Vec<f64> = (0..=100).map(|i| s.lr(i as f64 / 100.0)).collect();
        assert!(lrs[..25].windows(2).all(|w| w[0] < w[1]));
        assert!(lrs[25..].windows(2).all(|w| w[0] > w[1]));
    }
}
