//! A 2-D convolution on the CPU as large matrix products over **tiles of whole images**,
//! forward and backward, on f32 slices in NCHW order.
//!
//! Why: Burn's Flex convolution runs one im2col and one matrix product *per image*, after a
//! single-threaded copy of the input to NHWC. On 28x28 digits a ResNet's maps are 7x7 down to 2x2,
//! so each product is 64 x 576 x 49 or thinner and the `gemm` crate's kernels spend their time
//! on edges and packing. Here a tile puts the columns of several images side by side (about 256
//! columns: rows = kernel taps, columns = (image, output position)), so each product is well
//! shaped, and the tile's column matrix is built and consumed while it is in the core's cache:
//!
//! - forward: `Y[c_out, cols] = W[c_out, k] · col[k, cols]`, then to NCHW;
//! - weight gradient: `dW += dY[c_out, cols] · colᵀ`, summed over tiles in a fixed order;
//! - input gradient: for stride 1 and "same" padding, the convolution of `dY` with the flipped
//!   kernel (a product summing over c_out·kh·kw); otherwise `dcol = Wᵀ · dY` scattered back by
//!   `col2im`.
//!
//! Tiles run in parallel on rayon's threads; every product inside one is single-threaded. With
//! stride 1 and "same" padding, a kernel tap's row of im2col is the image shifted by a constant,
//! so it is one copy per image (`shifted_copy`). oneDNN's direct convolution in a blocked layout
//! avoids the column matrix altogether; this keeps Burn's NCHW tensors.
//! Checked against the definition here and against Burn's convolution in `conv.rs`'s tests.

use crate::par::prelude::*;

/// The SIMD level the CPU convolutions' matrix products and the kernels' own loops run at on
/// this machine. `gemm` picks its kernels at run time, the loops are dispatched the same way
/// (`simd.rs`); fastburn builds gemm without its AVX-512 kernels (`x86-v4`), which made the
/// ResNet-18 step no faster on Zen 4 (bench/README.md), so AVX2 and AVX-512 machines run the same
/// AVX2+FMA code.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma() {
            return "x86-64-v3 (AVX2+FMA)";
        }
        "x86-64 (SSE2)"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "aarch64 (NEON)"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

/// Shapes of one convolution (no groups, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    /// Padding before the first row and column (the last ones follow from the output size).
    pub pad: [usize; 2],
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// `x`: [n, c_in, h, w]; `weight`: [c_out, c_in, kh, kw]; `pad`: [top, left, bottom, right].
    /// `None` when the shapes do not make a convolution this module computes.
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> Option<Self> {
        let [n, c_in, h, w] = x;
        let [c_out, c_w, kh, kw] = weight;
        let [top, left, bottom, right] = pad;
        let (ph, pw) = (h + top + bottom, w + left + right);
        if c_w != c_in || stride.contains(&0) || ph < kh || pw < kw || kh == 0 || kw == 0 {
            return None;
        }
        let g = Geometry {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            pad: [top, left],
            oh: (ph - kh) / stride[0] + 1,
            ow: (pw - kw) / stride[1] + 1,
        };
        (g.n * g.c_in * g.c_out * g.oh * g.ow > 0).then_some(g)
    }

    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions of one image.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Stride 1 and an output of the input's size.
    fn same_size(&self) -> bool {
        self.stride == [1, 1] && self.oh == self.h && self.ow == self.w
    }

    /// A 1x1 kernel at stride 1 without padding (EfficientNet's expansions and projections, a
    /// ResNet-50 Bottleneck's outer convolutions): see [`pointwise_forward`].
    pub(crate) fn pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && (self.oh, self.ow) == (self.h, self.w)
    }

    /// The output columns `lo..hi` whose input column `ox · sx + kj - left` is inside the image.
    fn valid_run(&self, kj: usize) -> (usize, usize) {
        let (sx, left) = (self.stride[1], self.pad[1]);
        let lo = left.saturating_sub(kj).div_ceil(sx).min(self.ow);
        let hi = (self.w + left)
            .saturating_sub(kj)
            .div_ceil(sx)
            .min(self.ow)
            .max(lo);
        (lo, hi)
    }

    /// The input row of output row `oy` under kernel row `ki`, if inside the image.
    fn input_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride[0] + ki)
            .checked_sub(self.pad[0])
            .filter(|&iy| iy < self.h)
    }

    /// The input column of output column `ox` under kernel column `kj`, if inside the image.
    #[cfg(test)]
    fn input_col(&self, ox: usize, kj: usize) -> Option<usize> {
        (ox * self.stride[1] + kj)
            .checked_sub(self.pad[1])
            .filter(|&ix| ix < self.w)
    }
}

/// Columns per tile: a tile's column matrix (up to 576 x 256 floats for a 64-channel 3x3 layer)
/// stays in the core's L2 cache between im2col and the matrix product that reads it.
const TILE_COLUMNS: usize = 256;

/// Images per tile: whole images (so a tile's input gradient touches images no other tile does),
/// about `TILE_COLUMNS` columns, and at least two tiles per thread when the batch allows.
fn images_per_tile(g: &Geometry) -> usize {
    let threads = crate::par::current_num_threads().max(1);
    (TILE_COLUMNS / g.positions())
        .min(g.n.div_ceil(2 * threads))
        .clamp(1, g.n)
}

/// `lhs[m, k] · rhs[k, n]` as a new row-major `[m, n]`, each operand given by (column stride,
/// row stride) so transposes cost nothing; `parallel` lets `gemm` use every core on large ones.
pub(crate) fn product(
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rhs_strides: (isize, isize),
    parallel: bool,
) -> Vec<f32> {
    if k == 0 {
        return vec![0.0; m * n];
    }
    // Not zeroed first: with `read_dst = false` gemm writes every element without reading any
    // (its kernels branch on alpha = 0), and zeroing a large result cost a serial memset.
    let mut dst: Vec<f32> = Vec::with_capacity(m * n);
    product_into(
        &mut dst.spare_capacity_mut()[..m * n],
        false,
        (m, n, k),
        (lhs, lhs_strides),
        (rhs, rhs_strides),
        parallel,
    );
    // SAFETY: `product_into` wrote all m·n elements.
    unsafe { dst.set_len(m * n) };
    dst
}

/// `dst = lhs[m, k] · rhs[k, n]` (row-major `[m, n]`), or `dst += ...` with `accumulate`; each
/// operand given by (column stride, row stride). Without `accumulate` `dst` may be uninitialised:
/// every element is written, none read.
fn product_into(
    dst: &mut [std::mem::MaybeUninit<f32>],
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    (lhs, lhs_strides): (&[f32], (isize, isize)),
    (rhs, rhs_strides): (&[f32], (isize, isize)),
    parallel: bool,
) {
    let extent = |(cs, rs): (isize, isize), rows: usize, cols: usize| {
        (rows.max(1) - 1) * rs.unsigned_abs() + (cols.max(1) - 1) * cs.unsigned_abs() + 1
    };
    assert!(lhs.len() >= extent(lhs_strides, m, k));
    assert!(rhs.len() >= extent(rhs_strides, k, n));
    assert_eq!(dst.len(), m * n);
    assert!(k > 0);
    #[cfg(feature = "parallel")]
    let parallelism = if parallel && m * n * k >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[cfg(not(feature = "parallel"))]
    let parallelism = {
        let _ = parallel; // one thread: nothing to spread over
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index gemm computes from these strides in bounds;
    // `dst` is an exclusive row-major m x n slice, which gemm reads only with `accumulate` (when
    // the caller has initialised it) and otherwise only writes, every element of it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.0,
            lhs_strides.1,
            rhs.as_ptr(),
            rhs_strides.0,
            rhs_strides.1,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A 1x1 convolution at stride 1 without padding is, image by image, one product
/// `y_b[c_out, h·w] = w[c_out, c_in] · x_b[c_in, h·w]`, with both operands where they already
/// are: no column matrix (which would be a copy of the input), no copy of the output from
/// (channel, image) order back to NCHW. The images go to rayon's threads; with fewer images than
/// threads, the products spread instead.
fn pointwise_forward(x: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let (p, ci, co) = (g.positions(), g.c_in, g.c_out);
    let spread = g.n < crate::par::current_num_threads();
    let mut y: Vec<f32> = Vec::with_capacity(g.n * co * p);
    y.spare_capacity_mut()
        .par_chunks_mut(co * p)
        .zip(x.par_chunks(ci * p))
        .for_each(|(y_b, x_b)| {
            let (w, x_b) = ((weight, (1, ci as isize)), (x_b, (1, p as isize)));
            product_into(y_b, false, (co, p, ci), w, x_b, spread);
        });
    // SAFETY: every image's products wrote all of its c_out·h·w values.
    unsafe { y.set_len(g.n * co * p) };
    y
}

/// The gradients of [`pointwise_forward`], each only when asked: the input's image by image
/// (`dx_b = wᵀ · dy_b`, the transpose by strides), the kernel's `dw = Σ_b dy_b · x_bᵀ` with its
/// rows split among the threads and the images summed in order (the same result however threads
/// took the rows).
fn pointwise_backward(
    dy: &[f32],
    x: &[f32],
    weight: &[f32],
    g: &Geometry,
    want: (bool, bool),
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (p, ci, co) = (g.positions(), g.c_in, g.c_out);
    let threads = crate::par::current_num_threads();
    let spread = g.n < threads;
    let dx = want.0.then(|| {
        let mut dx: Vec<f32> = Vec::with_capacity(g.n * ci * p);
        dx.spare_capacity_mut()
            .par_chunks_mut(ci * p)
            .zip(dy.par_chunks(co * p))
            .for_each(|(dx_b, dy_b)| {
                let (wt, dy_b) = ((weight, (ci as isize, 1)), (dy_b, (1, p as isize)));
                product_into(dx_b, false, (ci, p, co), wt, dy_b, spread);
            });
        // SAFETY: every image's product wrote all of its c_in·h·w values.
        unsafe { dx.set_len(g.n * ci * p) };
        dx
    });
    let dw = want.1.then(|| {
        let rows = co.div_ceil(2 * threads).max(1);
        let mut dw: Vec<f32> = Vec::with_capacity(co * ci);
        dw.spare_capacity_mut()
            .par_chunks_mut(rows * ci)
            .enumerate()
            .for_each(|(t, dw_rows)| {
                let (r0, m) = (t * rows, dw_rows.len() / ci);
                for b in 0..g.n {
                    let dy_rows = (&dy[(b * co + r0) * p..], (1, p as isize));
                    let x_t = (&x[b * ci * p..][..ci * p], (p as isize, 1));
                    product_into(dw_rows, b > 0, (m, ci, p), dy_rows, x_t, false);
                }
            });
        // SAFETY: the first image's product wrote all c_out·c_in values (n ≥ 1: Geometry).
        unsafe { dw.set_len(co * ci) };
        dw
    });
    (dx, dw)
}

/// `vec![0.0; len]`, zeroed by every core when large. The layers' outputs and gradients are
/// allocated on the thread that drives the graph, while the others wait: zeroing (and first
/// touching) a few megabytes there was a visible serial part of each step.
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    if len < 1 << 16 {
        return vec![0.0; len];
    }
    let mut v: Vec<f32> = Vec::with_capacity(len);
    v.spare_capacity_mut()
        .par_chunks_mut(1 << 14)
        .for_each(|c| c.fill(std::mem::MaybeUninit::new(0.0)));
    // SAFETY: all `len` elements were just written.
    unsafe { v.set_len(len) };
    v
}

/// The column matrix `[k, nb·p]` of images `b0..b0 + nb`: row (c, ki, kj), column (image, oy, ox)
/// holds `x[image, c, oy·sy + ki - top, ox·sx + kj - left]`, or 0 in the padding.
fn im2col(x: &[f32], g: &Geometry, b0: usize, nb: usize) -> Vec<f32> {
    let (p, hw) = (g.positions(), g.h * g.w);
    let cols = nb * p;
    let (sx, left) = (g.stride[1], g.pad[1]);
    let mut col = vec![0.0f32; g.k() * cols];
    for (r, row) in col.chunks_mut(cols).enumerate() {
        let (c, ki, kj) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
        let (lo, hi) = g.valid_run(kj);
        for (bl, out) in row.chunks_mut(p).enumerate() {
            let plane = &x[((b0 + bl) * g.c_in + c) * hw..][..hw];
            if g.same_size() {
                shifted_copy(plane, out, g, ki, kj, (lo, hi));
                continue;
            }
            for (oy, dst) in out.chunks_mut(g.ow).enumerate() {
                let Some(iy) = g.input_row(oy, ki) else {
                    continue; // stays 0
                };
                let src = &plane[iy * g.w..][..g.w];
                let first = (lo * sx + kj).wrapping_sub(left);
                for (t, d) in dst[lo..hi].iter_mut().enumerate() {
                    *d = src[first + t * sx];
                }
            }
        }
    }
    col
}

/// One row of im2col for one image when the output has the input's size (stride 1, "same"
/// padding): the kernel tap (ki, kj) reads the plane shifted by a constant offset, so the valid
/// rows are one contiguous copy; the columns that wrapped around the row edges are then zeroed.
/// (Copying 7 values at a time was most of im2col's time on 7x7 maps.)
fn shifted_copy(
    plane: &[f32],
    out: &mut [f32],
    g: &Geometry,
    ki: usize,
    kj: usize,
    run: (usize, usize),
) {
    let w = g.w;
    // Output rows whose input row oy + ki - top is inside the image.
    let oy_lo = g.pad[0].saturating_sub(ki).min(g.oh);
    let oy_hi = (g.h + g.pad[0]).saturating_sub(ki).min(g.oh).max(oy_lo);
    if oy_lo == oy_hi {
        return;
    }
    // out[i] = plane[i + shift] for i in the valid rows, where shift = (ki - top)·w + kj - left.
    let shift = (ki * w + kj) as isize - (g.pad[0] * w + g.pad[1]) as isize;
    let (mut start, end) = (oy_lo * w, oy_hi * w);
    if (start as isize) + shift < 0 {
        start = (-shift) as usize; // only wrapped columns are skipped; they are zeroed below
    }
    let end = end.min((plane.len() as isize - shift) as usize);
    if start < end {
        let from = (start as isize + shift) as usize;
        out[start..end].copy_from_slice(&plane[from..from + (end - start)]);
    }
    let (lo, hi) = run;
    for row in out[oy_lo * w..oy_hi * w].chunks_mut(w) {
        // One or two values at each edge for ResNet's kernels: a call to memset each cost more.
        match lo {
            0 => {}
            1 => row[0] = 0.0,
            _ => row[..lo].fill(0.0),
        }
        match w - hi {
            0 => {}
            1 => row[w - 1] = 0.0,
            _ => row[hi..].fill(0.0),
        }
    }
}

/// The input gradient of images `b0..b0 + nb` (`dx`, NCHW, zeroed) from their column matrix's
/// gradient: each column value goes back to the pixel it was read from.
fn col2im(dcol: &[f32], g: &Geometry, nb: usize, dx: &mut [f32]) {
    let (p, hw) = (g.positions(), g.h * g.w);
    let cols = nb * p;
    let (sx, left) = (g.stride[1], g.pad[1]);
    for (plane_idx, plane) in dx.chunks_mut(hw).enumerate() {
        let (bl, c) = (plane_idx / g.c_in, plane_idx % g.c_in);
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (c * g.kh + ki) * g.kw + kj;
                let src = &dcol[r * cols + bl * p..][..p];
                let (lo, hi) = g.valid_run(kj);
                let first = (lo * sx + kj).wrapping_sub(left);
                for (oy, srow) in src.chunks(g.ow).enumerate() {
                    let Some(iy) = g.input_row(oy, ki) else {
                        continue;
                    };
                    let drow = &mut plane[iy * g.w..][..g.w];
                    for (t, s) in srow[lo..hi].iter().enumerate() {
                        drow[first + t * sx] += s;
                    }
                }
            }
        }
    }
}

/// The convolution's output (NCHW). Tiles of whole images run in parallel; each builds its
/// columns in cache, multiplies, and writes its images' outputs.
/// The column matrices kept for the weight gradient only while all of a layer's fit in this many
/// values (64 MiB): on 28x28 digits every ResNet layer does, and the backward pass skips one
/// im2col; on large images they are built again per tile instead.
const KEEP_COLUMNS_MAX: usize = 16 << 20;

/// The column matrix of each tile, kept from the forward pass for the weight gradient.
pub(crate) type Columns = Vec<Vec<f32>>;

/// The convolution's output (NCHW). Tiles of whole images run in parallel; each builds its
/// columns in cache, multiplies, and writes its images' outputs. With `keep`, also the tiles'
/// column matrices when they are small enough (see [`KEEP_COLUMNS_MAX`]).
pub(crate) fn forward(
    x: &[f32],
    weight: &[f32],
    g: &Geometry,
    keep: bool,
) -> (Vec<f32>, Option<Columns>) {
    assert_eq!(x.len(), g.n * g.c_in * g.h * g.w);
    assert_eq!(weight.len(), g.c_out * g.k());
    if g.pointwise() {
        return (pointwise_forward(x, weight, g), None);
    }
    let (p, k, per) = (g.positions(), g.k(), images_per_tile(g));
    let keep = keep && k * g.n * p <= KEEP_COLUMNS_MAX;
    let one_tile = per == g.n;
    let mut y = zeros(g.n * g.c_out * p);
    let cols: Vec<Option<Vec<f32>>> = y
        .par_chunks_mut(per * g.c_out * p)
        .enumerate()
        .map(|(t, y_tile)| {
            let nb = y_tile.len() / (g.c_out * p);
            let cols = nb * p;
            let col = im2col(x, g, t * per, nb);
            let out = product(
                (g.c_out, cols, k),
                weight,
                (1, k as isize),
                &col,
                (1, cols as isize),
                one_tile,
            );
            // [c_out, (image, position)] to NCHW.
            for (bl, img) in y_tile.chunks_mut(g.c_out * p).enumerate() {
                for (c, dst) in img.chunks_mut(p).enumerate() {
                    dst.copy_from_slice(&out[c * cols + bl * p..][..p]);
                }
            }
            keep.then_some(col)
        })
        .collect();
    let kept = keep.then(|| cols.into_iter().flatten().collect());
    (y, kept)
}

/// Gradients of the input (NCHW) and of the weight (`[c_out, c_in, kh, kw]`) from the output's
/// gradient `dy` (NCHW), the input and the weight; each only when asked. Per tile: the columns
/// again (in cache, instead of keeping the whole batch's), the tile's share of the weight
/// gradient, and its images' input gradient. The shares are summed in tile order, so the result
/// does not depend on how threads took the tiles.
pub(crate) fn backward(
    dy: &[f32],
    x: &[f32],
    columns: Option<&Columns>,
    weight: &[f32],
    g: &Geometry,
    want: (bool, bool),
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (p, k, per) = (g.positions(), g.k(), images_per_tile(g));
    assert_eq!(dy.len(), g.n * g.c_out * p);
    if g.pointwise() {
        return pointwise_backward(dy, x, weight, g, want);
    }
    // With stride 1 and "same" padding the input gradient is itself such a convolution, of the
    // output gradient with the kernel flipped and its channels swapped: one product with the
    // long dimension (c_out·kh·kw) as the sum, instead of a product into the columns (summing over
    // c_out only) and a scatter back.
    let transposed = (want.0 && g.same_size()).then(|| {
        let gt = Geometry {
            c_in: g.c_out,
            c_out: g.c_in,
            pad: [g.kh - 1 - g.pad[0], g.kw - 1 - g.pad[1]],
            ..*g
        };
        forward(dy, &flipped(weight, g), &gt, false).0
    });
    let want = (want.0 && transposed.is_none(), want.1);
    if !want.0 && !want.1 {
        return (transposed, None);
    }
    let one_tile = per == g.n;
    let chw = g.c_in * g.h * g.w;
    let mut dx = zeros(if want.0 { g.n * chw } else { 0 });
    let tiles = g.n.div_ceil(per);
    let dx_tiles: Vec<Option<&mut [f32]>> = if want.0 {
        dx.chunks_mut(per * chw).map(Some).collect()
    } else {
        (0..tiles).map(|_| None).collect()
    };
    let dw_parts: Vec<Vec<f32>> = dx_tiles
        .into_par_iter()
        .enumerate()
        .map(|(t, dx_tile)| {
            let (b0, nb) = (t * per, per.min(g.n - t * per));
            let cols = nb * p;
            // The tile's output gradient as [c_out, (image, position)].
            let mut dyt = vec![0.0f32; g.c_out * cols];
            for bl in 0..nb {
                for c in 0..g.c_out {
                    dyt[c * cols + bl * p..][..p]
                        .copy_from_slice(&dy[((b0 + bl) * g.c_out + c) * p..][..p]);
                }
            }
            let mut dw = Vec::new();
            if want.1 {
                let built;
                let col = match columns {
                    Some(kept) => &kept[t],
                    None => {
                        built = im2col(x, g, b0, nb);
                        &built
                    }
                };
                dw = product(
                    (g.c_out, k, cols),
                    &dyt,
                    (1, cols as isize),
                    col,
                    (cols as isize, 1),
                    one_tile,
                );
            }
            if let Some(dx_tile) = dx_tile {
                let dcol = product(
                    (k, cols, g.c_out),
                    weight,
                    (k as isize, 1),
                    &dyt,
                    (1, cols as isize),
                    one_tile,
                );
                col2im(&dcol, g, nb, dx_tile);
            }
            dw
        })
        .collect();
    let dw = want.1.then(|| {
        let mut dw = zeros(g.c_out * k);
        dw.par_chunks_mut(4096).enumerate().for_each(|(i, out)| {
            for part in &dw_parts {
                for (o, v) in out.iter_mut().zip(&part[i * 4096..]) {
                    *o += v;
                }
            }
        });
        dw
    });
    (transposed.or(want.0.then_some(dx)), dw)
}

/// `w'[ci, co, ki, kj] = w[co, ci, kh-1-ki, kw-1-kj]`: the kernel of the transposed convolution.
fn flipped(weight: &[f32], g: &Geometry) -> Vec<f32> {
    // Blocks of 16 input channels per task, read output channel by output channel: going
    // through all output channels for one input channel reads the kernel at a stride of
    // c_in·kh·kw floats (9 KB for 256 channels), which lands in 4 of L1's 64 sets and missed
    // on every read (3% of a step).
    const CI_BLOCK: usize = 16;
    let taps = g.kh * g.kw;
    let mut out = zeros(weight.len());
    out.par_chunks_mut(CI_BLOCK * g.c_out * taps)
        .enumerate()
        .for_each(|(b, block)| {
            let (ci0, nci) = (b * CI_BLOCK, block.len() / (g.c_out * taps));
            for co in 0..g.c_out {
                let src = &weight[(co * g.c_in + ci0) * taps..][..nci * taps];
                for (j, s) in src.chunks_exact(taps).enumerate() {
                    let d = &mut block[(j * g.c_out + co) * taps..][..taps];
                    for (t, d) in d.iter_mut().enumerate() {
                        *d = s[taps - 1 - t];
                    }
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition, in f64.
    fn naive(x: &[f32], w: &[f32], g: &Geometry) -> Vec<f64> {
        let mut y = vec![0.0f64; g.n * g.c_out * g.positions()];
        for b in 0..g.n {
            for o in 0..g.c_out {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut s = 0.0f64;
                        for c in 0..g.c_in {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let (Some(iy), Some(ix)) =
                                        (g.input_row(oy, ki), g.input_col(ox, kj))
                                    else {
                                        continue;
                                    };
                                    s += f64::from(x[((b * g.c_in + c) * g.h + iy) * g.w + ix])
                                        * f64::from(w[((o * g.c_in + c) * g.kh + ki) * g.kw + kj]);
                                }
                            }
                        }
                        y[((b * g.c_out + o) * g.oh + oy) * g.ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                ((i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 2000) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    /// Forward by definition, and both gradients through the adjoint identity
    /// `<conv(x), r> = <x, dX(r)> = <w, dW(r)>`, checked value by value against the naive
    /// convolution of unit inputs, for strides, paddings (also uneven) and non-square kernels.
    #[test]
    fn forward_and_gradients_match_the_definition() {
        let cases = [
            ([2, 3, 5, 6], [4, 3, 3, 3], [1, 1], [1, 1, 1, 1]),
            ([3, 2, 7, 7], [5, 2, 3, 3], [2, 2], [1, 1, 1, 1]),
            ([2, 1, 9, 8], [3, 1, 7, 7], [2, 2], [3, 3, 3, 3]),
            ([2, 4, 6, 6], [3, 4, 1, 1], [2, 2], [0, 0, 0, 0]),
            ([1, 2, 5, 7], [2, 2, 2, 3], [1, 2], [0, 1, 1, 2]),
            // Pointwise (1x1, stride 1, no padding): products where the tensors are.
            ([3, 5, 4, 3], [6, 5, 1, 1], [1, 1], [0, 0, 0, 0]),
            ([1, 7, 2, 5], [3, 7, 1, 1], [1, 1], [0, 0, 0, 0]),
        ];
        for (xs, ws, stride, pad) in cases {
            let g = Geometry::new(xs, ws, stride, pad).unwrap();
            let x = values(xs.iter().product(), 1);
            let w = values(ws.iter().product(), 2);
            let (y, kept) = forward(&x, &w, &g, true);
            let expected = naive(&x, &w, &g);
            for (a, b) in y.iter().zip(&expected) {
                assert!((f64::from(*a) - b).abs() < 1e-4, "{g:?}: {a} vs {b}");
            }
            let r = values(y.len(), 3);
            let (dx, dw) = backward(&r, &x, None, &w, &g, (true, true));
            // With the kept columns: the same gradients.
            let (dx2, dw2) = backward(&r, &x, kept.as_ref(), &w, &g, (true, true));
            // A pointwise convolution reads its input where it is: no columns to keep.
            assert_eq!(kept.is_some(), !g.pointwise(), "{g:?}");
            assert_eq!((&dx, &dw), (&dx2, &dw2));
            let (dx, dw) = (dx.unwrap(), dw.unwrap());
            // dX[i] = <conv(e_i, w), r>, dW[j] = <conv(x, e_j), r>.
            let dot = |y: &[f64]| {
                y.iter()
                    .zip(&r)
                    .map(|(a, b)| a * f64::from(*b))
                    .sum::<f64>()
            };
            for i in 0..x.len() {
                let mut e = vec![0.0; x.len()];
                e[i] = 1.0;
                let want = dot(&naive(&e, &w, &g));
                assert!((f64::from(dx[i]) - want).abs() < 1e-4, "{g:?}: dx[{i}]");
            }
            for j in 0..w.len() {
                let mut e = vec![0.0; w.len()];
                e[j] = 1.0;
                let want = dot(&naive(&x, &e, &g));
                assert!((f64::from(dw[j]) - want).abs() < 1e-3, "{g:?}: dw[{j}]");
            }
        }
    }

    /// The flipped kernel by its definition, with input channels that fill one block of 16,
    /// then a partial one.
    #[test]
    fn flipped_kernel_is_the_definition() {
        for (c_out, c_in, kh, kw) in [(3, 20, 3, 3), (5, 16, 1, 1), (2, 33, 3, 2)] {
            let g = Geometry::new([1, c_in, 6, 6], [c_out, c_in, kh, kw], [1, 1], [0; 4]).unwrap();
            let w: Vec<f32> = (0..c_out * c_in * kh * kw).map(|i| i as f32).collect();
            let f = flipped(&w, &g);
            for co in 0..c_out {
                for ci in 0..c_in {
                    for ki in 0..kh {
                        for kj in 0..kw {
                            let want = w[((co * c_in + ci) * kh + kh - 1 - ki) * kw + kw - 1 - kj];
                            assert_eq!(f[((ci * c_out + co) * kh + ki) * kw + kj], want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_shapes_it_does_not_compute() {
        assert!(Geometry::new([1, 3, 4, 4], [2, 1, 3, 3], [1, 1], [1; 4]).is_none()); // groups
        assert!(Geometry::new([1, 1, 2, 2], [2, 1, 5, 5], [1, 1], [0; 4]).is_none()); // too big
        assert!(Geometry::new([1, 1, 4, 4], [2, 1, 3, 3], [0, 1], [1; 4]).is_none());
        let g = Geometry::new([2, 1, 28, 28], [64, 1, 7, 7], [2, 2], [3; 4]).unwrap();
        assert_eq!((g.oh, g.ow, g.k(), g.positions()), (14, 14, 49, 196));
    }
}
