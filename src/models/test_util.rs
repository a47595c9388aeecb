//! Helpers shared by the kernel tests: compare a fast op's tensors with Burn's.

use burn::prelude::*;

/// A tensor's values as f32, in row-major order.
pub(super) fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The largest absolute difference between two equally long slices.
pub(super) fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
