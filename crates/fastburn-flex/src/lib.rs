//! fastburn's CPU fast paths on Burn's Flex backend, in one place.
//!
//! Burn's pure-Rust CPU backend (Flex) computes a ResNet's convolutions one image at a time and
//! its training BatchNorm in many passes; on the 2-core machines fastburn is measured on, that made
//! a ResNet-18 step 1.5-1.9x slower than PyTorch's. The ops here compute the same values faster
//! (docs/speed.md has the measurements), each as a Burn custom autodiff op:
//!
//! - [`conv2d`]: a convolution as matrix products over tiles of whole images (`cpu_conv.rs`'s
//!   kernels; a 1x1 one at stride 1 as one product per image, where the tensors are), and a
//!   convolution with one output position as one product over the taps that
//!   touch the input; a depthwise convolution (EfficientNet's, MobileNet's) plane by plane;
//! - [`batch_norm`]: training BatchNorm fused with the ReLU (and a ResNet block's residual add)
//!   that follows it, updating the running statistics as PyTorch does;
//! - [`step_in_place`]: an optimizer's update on the parameter's own buffer;
//! - [`keep_freed_memory`]: glibc's allocator keeps the step's freed buffers for the next step;
//! - the kernels' own loops compiled a second time for AVX2+FMA, chosen at run time
//!   (`simd.rs`), as `gemm` chooses its kernels;
//! - [`par`]: rayon's parallel loops, which run sequentially without the `parallel` feature
//!   (WebAssembly's one thread).
//!
//! Every entry point answers `None` (or hands its input back) when its inputs are not f32
//! tensors on Flex: the caller then runs Burn's own op, which is how the GPU backends run.
//! [`fast_paths`] counts, per thread, the ops that ran here, so a test can tell that a fast path
//! was taken (another test's thread cannot move the count).
//!
//! Only this crate touches Flex's primitives, and only in `interop.rs`.

mod alloc;
mod conv;
mod counters;
mod cpu_conv;
mod cpu_norm;
mod depthwise;
mod interop;
mod norm;
pub mod par;
mod simd;
mod step;
#[doc(hidden)]
pub mod testing;

pub use alloc::keep_freed_memory;
pub use conv::conv2d;
pub use counters::{FastPaths, fast_paths};
pub use cpu_conv::simd_level;
pub use norm::{Activation, batch_norm, batch_norm_inference};
pub use step::step_in_place;
