//! The kernels' own loops at the CPU's SIMD width.
//!
//! fastburn is built for the baseline of its target (x86-64: SSE2, four floats a vector), as a
//! crate others build must be; `gemm` picks its AVX2+FMA kernels at run time, and the loops here
//! (depthwise convolutions, BatchNorm) ran at the baseline's width. [`vectorized`] runs a closure
//! compiled a second time for AVX2 (eight floats a vector) when the CPU has it, std's
//! `#[target_feature]` with run-time detection. (`pulp`, the crate gemm dispatches with, would do
//! the same through its `x86-v3` feature, which changes pulp's build and so gemm's and all of
//! Burn's above it.) The arithmetic is the same at both widths (Rust does not fuse a multiply and
//! an add on its own), so the results are too.

/// `f()`, compiled for AVX2+FMA when this CPU has them, else as it is. What `f` calls runs at
/// that width only where it is inlined into `f`: the kernels mark their per-plane functions
/// `#[inline(always)]`.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        #[cfg(test)]
        WIDE_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the CPU has the features `avx2` is compiled for (checked just above).
        return unsafe { avx2(f) };
    }
    f()
}

/// How many [`vectorized`] calls took the AVX2 branch (tests only: whether it is taken at all).
#[cfg(test)]
pub(crate) static WIDE_CALLS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Whether this CPU has AVX2 and FMA (cached by std after the first call).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma")]
#[inline]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    /// A kernel's loop gives the same bits dispatched and at the baseline width: wider vectors
    /// change the speed, not the sums (here 8-lane f64 sums and a clamped affine map, as the
    /// BatchNorm kernels compute them).
    #[test]
    fn dispatched_loops_give_the_baseline_bits() {
        let x: Vec<f32> = (0..10_007)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 9.0)
            .collect();
        let kernel = || {
            let mut lanes = [0f64; 8];
            for c in x.chunks_exact(8) {
                for l in 0..8 {
                    lanes[l] += f64::from(c[l] * 1.5 - 0.25);
                }
            }
            let y: Vec<f32> = x
                .iter()
                .map(|&v| (v * 0.75 + 0.5).clamp(0.0, 6.0))
                .collect();
            (lanes, y)
        };
        let before = super::WIDE_CALLS.load(Ordering::Relaxed);
        let (a, b) = (super::vectorized(kernel), kernel());
        let wide = super::WIDE_CALLS.load(Ordering::Relaxed) > before;
        assert_eq!(a.0.map(f64::to_bits), b.0.map(f64::to_bits));
        assert_eq!(a.1, b.1);
        // The wide branch is taken exactly when Linux says the CPU has AVX2 and FMA (other
        // tests beside this one only add calls where it has them, so `wide` is this call's).
        if let Some(flags) = cpu_flags() {
            let has = |f: &str| flags.iter().any(|g| g == f);
            assert_eq!(wide, has("avx2") && has("fma"), "CPU flags {flags:?}");
        }
    }

    /// The CPU's feature flags as Linux lists them on x86 (`None` elsewhere): read apart from
    /// std's detection, which the dispatch uses.
    fn cpu_flags() -> Option<Vec<String>> {
        let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("flags"))?;
        Some(
            line.split(':')
                .nth(1)?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        )
    }
}
