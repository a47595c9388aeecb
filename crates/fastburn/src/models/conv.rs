//! A convolution as `Conv2d::forward` computes it, on the CPU through fastburn's fast path.

use burn::nn::conv::Conv2d;
use burn::prelude::*;

/// `conv.forward(x)`: on Flex the batched convolution of [`fastburn_flex::conv2d`], elsewhere
/// (GPUs, and convolutions it does not compute) Burn's.
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    fastburn_flex::conv2d(conv, &x).unwrap_or_else(|| conv.forward(x))
}
