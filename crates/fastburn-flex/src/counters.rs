//! How many ops ran on the fast paths, counted per thread.
//!
//! Each entry point counts on the thread that called it (a training step's forward and backward
//! passes run on the caller's thread; only the kernels inside spread over rayon's), so a test
//! reads what its own code did: a process-wide count could be moved by another test running at
//! the same time and pass when the path was not taken.

use std::cell::Cell;

/// The fast-path ops this thread has run so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FastPaths {
    /// Convolutions computed as batched matrix products (forward passes, on Flex).
    pub conv: usize,
    /// Of those, 1x1 convolutions at stride 1 computed as products image by image, where the
    /// tensors are (no column matrix).
    pub pointwise: usize,
    /// Convolutions with a single output position computed over their live taps.
    pub single_position: usize,
    /// Depthwise convolutions (one group per channel) computed plane by plane.
    pub depthwise: usize,
    /// Training BatchNorms computed as one fused op.
    pub norm: usize,
    /// Inference BatchNorms (with their activation) computed as one pass.
    pub norm_inference: usize,
    /// Optimizer steps applied to a parameter's own buffer.
    pub step_in_place: usize,
    /// In-place steps that had to copy the parameter first, because a clone of the model shared
    /// its buffer: each costs a copy of the parameter, and fastburn's Learner causes none.
    pub step_copied: usize,
}

thread_local! {
    static COUNTS: Cell<FastPaths> = const { Cell::new(FastPaths {
        conv: 0,
        pointwise: 0,
        single_position: 0,
        depthwise: 0,
        norm: 0,
        norm_inference: 0,
        step_in_place: 0,
        step_copied: 0,
    }) };
}

/// What this thread has run on the fast paths so far.
///
/// ```
/// use burn::nn::{PaddingConfig2d, conv::Conv2dConfig};
/// use burn::prelude::*;
/// let dev = Device::flex();
/// let conv = Conv2dConfig::new([1, 2], [3, 3])
///     .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
///     .with_bias(false)
///     .init(&dev);
/// let before = fastburn_flex::fast_paths().conv;
/// fastburn_flex::conv2d(&conv, &Tensor::zeros([1, 1, 5, 5], &dev)).expect("f32 on Flex");
/// assert_eq!(fastburn_flex::fast_paths().conv, before + 1);
/// ```
pub fn fast_paths() -> FastPaths {
    COUNTS.with(Cell::get)
}

pub(crate) fn count(f: impl FnOnce(&mut FastPaths)) {
    COUNTS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}
