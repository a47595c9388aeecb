//! An optimizer's update on a parameter's own buffer.

use burn::backend::Flex;
use burn::tensor::Tensor;

use crate::counters::count;
use crate::interop::{floats, plain};

/// Runs `step(param, grad)` on a Flex parameter's own buffer and returns the updated parameter;
/// hands `param` back unchanged (`Err`) when it or `grad` is not an f32 tensor on Flex without
/// autodiff (the caller then steps it through host vectors).
///
/// The buffer is updated where it lies unless a clone of the model still shares it: then it is
/// copied first, and [`FastPaths::step_copied`](crate::FastPaths::step_copied) counts the copy,
/// so that a test can tell a training loop that keeps clones (and copies every parameter at every
/// step) from one that does not.
///
/// ```
/// use burn::prelude::*;
/// let dev = Device::flex();
/// let p = Tensor::<1>::from_floats([1.0, 2.0], &dev);
/// let g = Tensor::<1>::from_floats([0.5, 0.5], &dev);
/// let p = fastburn_flex::step_in_place(p, &g, |p, g| {
///     p.iter_mut().zip(g).for_each(|(p, g)| *p -= 0.1 * g)
/// })
/// .expect("f32 on Flex");
/// assert_eq!(p.into_data().to_vec::<f32>().unwrap(), [0.95, 1.95]);
/// ```
#[allow(clippy::result_large_err)] // the Err hands the parameter back, unchanged
pub fn step_in_place<const D: usize>(
    param: Tensor<D>,
    grad: &Tensor<D>,
    step: impl FnOnce(&mut [f32], &[f32]),
) -> Result<Tensor<D>, Tensor<D>> {
    // Checked on a clone that is dropped at once, so the parameter's buffer stays unshared and
    // `storage_mut` below updates it without copying.
    if plain(param.clone()).is_none() {
        return Err(param);
    }
    let Some(g) = plain(grad.clone()) else {
        return Err(param);
    };
    let Some(mut p) = plain(param) else {
        unreachable!("the parameter was just converted")
    };
    let n = p.layout().num_elements();
    if p.layout().contiguous_offsets() != Some((0, n)) {
        p = p.to_contiguous();
    }
    let copied = p.try_storage_mut::<f32>().is_none();
    step(&mut p.storage_mut::<f32>()[..n], &floats(&g));
    count(|c| {
        c.step_in_place += 1;
        c.step_copied += usize::from(copied);
    });
    Ok(Tensor::from_primitive::<Flex>(p))
}
