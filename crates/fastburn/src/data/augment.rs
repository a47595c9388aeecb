//! fastai's `aug_transforms`: the default data augmentation of `vision_learner`, applied per item
//! on the CPU. Each item gets its own flip, rotation, zoom and perspective warp, composed into ONE
//! homography and resampled ONCE (interpolating twice blurs the image twice), then its own
//! brightness and contrast change in logit space (so pixels stay in 0..=1). Everything is drawn
//! from a seeded rng per item, so a batch is augmented in parallel and still reproducibly.

use fastburn_flex::par::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Mat3 = [[f64; 3]; 3];
const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
/// fastai's `logit` clamps before taking the log; 1e-6 rather than its 1e-7 because `1 - 1e-7` is
/// barely representable in f32.
const EPS: f32 = 1e-6;

/// How pixels outside the source image are filled (fastai's `PadMode`). Rotating or warping an
/// image uncovers corners that have no source pixels; fastai's default, `Reflection`, fills them
/// with mirrored content, so the model never learns "black corners mean augmented".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum PadMode {
    /// Outside is 0 (black).
    Zeros,
    /// Outside repeats the nearest edge pixel.
    Border,
    /// Outside mirrors the image about its edge pixels (PyTorch's `grid_sample` `reflection`).
    #[default]
    Reflection,
}

/// fastai's `aug_transforms(...)` parameters: what random changes a training item may get. The
/// changes are the ones that keep the label true for natural photos (a mirrored, slightly rotated,
/// zoomed, tilted or darker cat is still a cat); set `do_flip` to false for digits or text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugTransforms {
    /// Random flip with p = 0.5: horizontal only, or any of the 8 dihedral flips/rotations when
    /// `flip_vert` is set (fastai's `Flip` / `Dihedral`).
    pub do_flip: bool,
    /// Also flip vertically and rotate by multiples of 90° (for images with no "up": satellite,
    /// microscopy). Only used when `do_flip` is set.
    pub flip_vert: bool,
    /// Rotation by uniform(-max_rotate, max_rotate) degrees.
    pub max_rotate: f32,
    /// Zoom in by uniform(min_zoom, max_zoom) (below 1 zooms out, padding with `pad_mode`).
    pub min_zoom: f32,
    /// See `min_zoom`.
    pub max_zoom: f32,
    /// Perspective warp: corners moved by uniform(-max_warp, max_warp) in normalised units.
    pub max_warp: f32,
    /// Brightness and contrast change (in 0..1).
    pub max_lighting: f32,
    /// Probability that each affine part (rotate, zoom, warp x, warp y) is applied.
    pub p_affine: f32,
    /// Probability that each lighting part (brightness, contrast) is applied.
    pub p_lighting: f32,
    /// How uncovered pixels are filled.
    pub pad_mode: PadMode,
    /// Presizing (fastai's `aug_transforms(size=..., min_scale=...)`): when items are larger than
    /// the input (an [`ItemTfms`](super::ItemTfms) with a `presize`), training crops each at
    /// random, `min_scale` to all of its area, at the input's aspect, and the crop and the parts
    /// above become one resampling to the input size. 1 takes the whole item.
    #[serde(default = "one")]
    pub min_scale: f32,
}

fn one() -> f32 {
    1.0
}

/// fastai's defaults, exactly: `do_flip=True, flip_vert=False, max_rotate=10., min_zoom=1.,
/// max_zoom=1.1, max_warp=0.2, max_lighting=0.2, p_affine=0.75, p_lighting=0.75,
/// pad_mode=PadMode.Reflection`. These are what fastai found to help on most photo data sets
/// without changing what the image shows.
///
/// ```
/// use fastburn::data::{AugTransforms, aug_transforms};
/// let tfms = aug_transforms();
/// let (n, c, h, w) = (4, 1, 28, 28);
/// let orig: Vec<f32> = (0..n * c * h * w).map(|i| (i % 255) as f32 / 255.0).collect();
/// let mut batch = orig.clone();
/// tfms.apply_batch(&mut batch, n, c, h, w, 42);
/// assert_ne!(batch, orig);
/// // Same seed, same augmentation, whatever the thread count.
/// let mut again = orig.clone();
/// tfms.apply_batch(&mut again, n, c, h, w, 42);
/// assert_eq!(batch, again);
/// // Validation items are left alone.
/// let mut valid = orig.clone();
/// AugTransforms::none().apply_batch(&mut valid, n, c, h, w, 42);
/// assert_eq!(valid, orig);
/// ```
pub fn aug_transforms() -> AugTransforms {
    AugTransforms {
        do_flip: true,
        flip_vert: false,
        max_rotate: 10.0,
        min_zoom: 1.0,
        max_zoom: 1.1,
        max_warp: 0.2,
        max_lighting: 0.2,
        p_affine: 0.75,
        p_lighting: 0.75,
        pad_mode: PadMode::Reflection,
        min_scale: 1.0,
    }
}

impl Default for AugTransforms {
    /// fastai's defaults ([`aug_transforms`]).
    fn default() -> Self {
        aug_transforms()
    }
}

/// The rng of item `i` of a batch augmented with `seed`: what [`AugTransforms::apply_batch`]
/// uses, so one item's augmentation can be reproduced alone and does not depend on which thread
/// ran it. `seed` and `i` are mixed with splitmix64 so neighbouring seeds and items do not share
/// streams.
pub fn item_rng(seed: u64, i: usize) -> StdRng {
    StdRng::seed_from_u64(splitmix64(
        splitmix64(seed) ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uniform(rng: &mut StdRng, a: f64, b: f64) -> f64 {
    a + (b - a) * rng.random::<f64>()
}

fn fires(rng: &mut StdRng, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// fastai's `_draw_mask`: uniform(lo, hi) with probability `p`, else the `neutral` value.
fn draw(rng: &mut StdRng, p: f32, (lo, hi): (f64, f64), neutral: f64) -> f64 {
    if fires(rng, p) {
        uniform(rng, lo, hi)
    } else {
        neutral
    }
}

fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// The homography taking each `from[k]` to `to[k]` (the 8x8 system of fastai's `find_coeffs`,
/// solved by Gaussian elimination with partial pivoting).
fn perspective(from: &[[f64; 2]; 4], to: &[[f64; 2]; 4]) -> Mat3 {
    let mut a = [[0.0f64; 9]; 8];
    for k in 0..4 {
        let ([x, y], [u, v]) = (from[k], to[k]);
        a[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let piv = (col..8)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, piv);
        for row in 0..8 {
            if row != col && a[col][col] != 0.0 {
                let f = a[row][col] / a[col][col];
                let pivot_row = a[col];
                for (v, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let s: Vec<f64> = (0..8).map(|i| a[i][8] / a[i][i]).collect();
    [[s[0], s[1], s[2]], [s[3], s[4], s[5]], [s[6], s[7], 1.0]]
}

/// fastai's `dihedral_mat`: element `k` of the 8 flips/quarter turns (0 is the identity).
fn dihedral(k: usize) -> Mat3 {
    let xs = [1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0][k];
    let ys = [1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0, 1.0][k];
    let (m0, m1) = if k < 4 { (1.0, 0.0) } else { (0.0, 1.0) };
    [
        [xs * m0, xs * m1, 0.0],
        [ys * m1, ys * m0, 0.0],
        [0.0, 0.0, 1.0],
    ]
}

impl AugTransforms {
    /// Nothing applied (all off): the identity, bit for bit. For validation data, and as the base
    /// to switch single parts on (`AugTransforms { do_flip: true, ..AugTransforms::none() }`).
    pub fn none() -> Self {
        Self {
            do_flip: false,
            flip_vert: false,
            max_rotate: 0.0,
            min_zoom: 1.0,
            max_zoom: 1.0,
            max_warp: 0.0,
            max_lighting: 0.0,
            p_affine: 0.0,
            p_lighting: 0.0,
            pad_mode: PadMode::Reflection,
            min_scale: 1.0,
        }
    }

    /// Augment item `img` (`[c, h, w]`, values 0..=1) with `rng`; returns the new item (same
    /// shape). The item's own draw, so every item of a batch is changed differently.
    ///
    /// Panics when `img.len() != c * h * w`.
    pub fn apply_item(
        &self,
        img: &[f32],
        c: usize,
        h: usize,
        w: usize,
        rng: &mut StdRng,
    ) -> Vec<f32> {
        let mut out = img.to_vec();
        self.augment(&mut out, [c, h, w], rng, &mut Vec::new());
        out
    }

    /// Augment every item of the batch `x` (`[n, c, h, w]`) in place, in parallel (one item per
    /// rayon task). Item `i` uses [`item_rng`]`(seed, i)`, so the result depends only on `seed`
    /// and the batch, never on thread scheduling; pass a new seed per batch and epoch.
    ///
    /// Panics when `x.len() != n * c * h * w`.
    pub fn apply_batch(&self, x: &mut [f32], n: usize, c: usize, h: usize, w: usize, seed: u64) {
        let len = c * h * w;
        assert_eq!(x.len(), n * len, "batch is not [{n}, {c}, {h}, {w}]");
        if len == 0 {
            return;
        }
        x.par_chunks_mut(len)
            .enumerate()
            .for_each_init(Vec::new, |buf, (i, item)| {
                self.augment(item, [c, h, w], &mut item_rng(seed, i), buf);
            });
    }

    /// Presizing's batch step: every item of `x` (`[n, c, h, w]`, larger than the input) cropped
    /// at random ([`min_scale`](Self::min_scale)) and augmented, resampled once to `out` =
    /// `(height, width)`; returns `[n, c, out.0, out.1]`. Item `i` draws from
    /// [`item_rng`]`(seed, i)`, as [`apply_batch`](Self::apply_batch).
    ///
    /// Panics when `x.len() != n * c * h * w`.
    ///
    /// ```
    /// use fastburn::data::aug_transforms;
    /// let tfms = aug_transforms().min_scale(0.75);
    /// let x = vec![0.5f32; 2 * 3 * 46 * 46];
    /// let out = tfms.apply_batch_to(&x, 2, 3, (46, 46), (22, 22), 7);
    /// assert_eq!(out.len(), 2 * 3 * 22 * 22);
    /// ```
    pub fn apply_batch_to(
        &self,
        x: &[f32],
        n: usize,
        c: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        seed: u64,
    ) -> Vec<f32> {
        let (len, olen) = (c * h * w, c * oh * ow);
        assert_eq!(x.len(), n * len, "batch is not [{n}, {c}, {h}, {w}]");
        let mut out = vec![0f32; n * olen];
        if len == 0 || olen == 0 {
            return out;
        }
        out.par_chunks_mut(olen)
            .zip(x.par_chunks(len))
            .enumerate()
            .for_each(|(i, (dst, src))| {
                let rng = &mut item_rng(seed, i);
                let crop = self.draw_crop(rng, (h, w), (oh, ow));
                let m = self.draw_coords(rng).map_or(crop, |m| mul(&m, &crop));
                warp_into(src, [c, h, w], dst, (oh, ow), &m, self.pad_mode);
                if let Some((b, s)) = self.draw_lighting(rng) {
                    lighting(dst, b, s);
                }
            });
        out
    }

    /// This augmentation with presizing's random crops down to `min_scale` of an item's area.
    pub fn min_scale(self, min_scale: f32) -> Self {
        Self { min_scale, ..self }
    }

    /// fastai's `RandomResizedCropGPU` in training with `ratio` fixed to the output's aspect:
    /// a region of uniform(`min_scale`, 1) of the item's area at `out`'s aspect, anywhere inside,
    /// as the output→item map in normalised coordinates (`align_corners=True`). When it does
    /// not fit (an item of another aspect), the largest region of that aspect in the centre.
    fn draw_crop(&self, rng: &mut StdRng, (h, w): (usize, usize), out: (usize, usize)) -> Mat3 {
        let aspect = out.1 as f64 / out.0.max(1) as f64;
        let (hf, wf) = (h as f64, w as f64);
        if self.min_scale < 1.0 {
            let area = uniform(rng, f64::from(self.min_scale.max(0.0)), 1.0) * hf * wf;
            let (nw, nh) = (
                (area * aspect).sqrt().round(),
                (area / aspect).sqrt().round(),
            );
            if nw <= wf && nh <= hf && nw >= 1.0 && nh >= 1.0 {
                let top = rng.random_range(0..=(hf - nh) as usize) as f64;
                let left = rng.random_range(0..=(wf - nw) as usize) as f64;
                return region((top, left), (nh, nw), (h, w));
            }
        }
        centre_region((h, w), out)
    }
}

/// The largest region of `out`'s aspect in the centre of an `(h, w)` item, as a map from the
/// output's normalised coordinates to the item's: fastai's `RandomResizedCropGPU` on validation.
fn centre_region((h, w): (usize, usize), out: (usize, usize)) -> Mat3 {
    let aspect = out.1 as f64 / out.0.max(1) as f64;
    let (hf, wf) = (h as f64, w as f64);
    let (nh, nw) = if wf / hf > aspect {
        (hf, (hf * aspect).round().max(1.0))
    } else {
        ((wf / aspect).round().max(1.0), wf)
    };
    region(
        (((hf - nh) / 2.0).floor(), ((wf - nw) / 2.0).floor()),
        (nh, nw),
        (h, w),
    )
}

/// The map from an output's normalised coordinates onto pixels `top..top+nh`, `left..left+nw` of
/// an `(h, w)` item, in the item's normalised coordinates (`align_corners=True`: -1 and 1 are the
/// centres of the region's first and last pixels).
fn region((top, left): (f64, f64), (nh, nw): (f64, f64), (h, w): (usize, usize)) -> Mat3 {
    let axis = |start: f64, len: f64, n: usize| {
        let half = (n.max(2) - 1) as f64 / 2.0;
        (
            (len - 1.0) / 2.0 / half,
            (start + (len - 1.0) / 2.0) / half - 1.0,
        )
    };
    let (sx, tx) = axis(left, nw, w);
    let (sy, ty) = axis(top, nh, h);
    [[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]]
}

/// Validation's (and `predict`'s) batch step of presizing: the centre of `img` (`[c, h, w]`) at
/// `out`'s aspect, resampled to `out` (bilinear, fastai's `RandomResizedCropGPU` on validation).
pub fn centre_resize(
    img: &[f32],
    c: usize,
    (h, w): (usize, usize),
    out: (usize, usize),
) -> Vec<f32> {
    let mut dst = vec![0f32; c * out.0 * out.1];
    let m = centre_region((h, w), out);
    warp_into(img, [c, h, w], &mut dst, out, &m, PadMode::Border);
    dst
}

impl AugTransforms {
    fn augment(
        &self,
        item: &mut [f32],
        [c, h, w]: [usize; 3],
        rng: &mut StdRng,
        buf: &mut Vec<f32>,
    ) {
        assert_eq!(item.len(), c * h * w, "item is not [{c}, {h}, {w}]");
        if let Some(m) = self.draw_coords(rng) {
            buf.clear();
            buf.extend_from_slice(item);
            warp_into(buf, [c, h, w], item, (h, w), &m, self.pad_mode);
        }
        if let Some((b, s)) = self.draw_lighting(rng) {
            lighting(item, b, s);
        }
    }

    /// The item's output→source homography in normalised coordinates, or `None` for the
    /// identity (nothing fired: the item is then copied, not resampled). Affine parts compose as
    /// fastai's `flip @ rotate @ zoom`; the warp is applied to their grid (`warp ∘ affine`).
    /// Parts that cannot change anything (e.g. `max_rotate` 0) draw nothing from the rng.
    fn draw_coords(&self, rng: &mut StdRng) -> Option<Mat3> {
        let mut m = IDENTITY;
        if self.do_flip && fires(rng, 0.5) {
            // fastai's `Dihedral` (k = 0 is the identity) or `Flip` (k = 1).
            let k = if self.flip_vert {
                rng.random_range(0..8)
            } else {
                1
            };
            m = mul(&m, &dihedral(k));
        }
        let p = self.p_affine;
        if self.max_rotate != 0.0 && fires(rng, p) {
            let r = f64::from(self.max_rotate);
            let (s, c) = uniform(rng, -r, r).to_radians().sin_cos();
            m = mul(&m, &[[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]);
        }
        if (self.min_zoom != 1.0 || self.max_zoom != 1.0) && fires(rng, p) {
            let s = 1.0 / uniform(rng, f64::from(self.min_zoom), f64::from(self.max_zoom));
            let (col, row) = (rng.random::<f64>(), rng.random::<f64>());
            let (tx, ty) = ((1.0 - s) * (2.0 * col - 1.0), (1.0 - s) * (2.0 * row - 1.0));
            m = mul(&m, &[[s, 0.0, tx], [0.0, s, ty], [0.0, 0.0, 1.0]]);
        }
        if self.max_warp != 0.0 {
            let mw = f64::from(self.max_warp);
            let (xt, yt) = (draw(rng, p, (-mw, mw), 0.0), draw(rng, p, (-mw, mw), 0.0));
            if xt != 0.0 || yt != 0.0 {
                let from = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]];
                let to = [
                    [-1.0 - yt, -1.0 - xt],
                    [-1.0 + yt, 1.0 + xt],
                    [1.0 + yt, -1.0 + xt],
                    [1.0 - yt, 1.0 - xt],
                ];
                m = mul(&perspective(&from, &to), &m);
            }
        }
        (m != IDENTITY).then_some(m)
    }

    /// `(brightness, contrast)` of the item, or `None` when neither fired.
    fn draw_lighting(&self, rng: &mut StdRng) -> Option<(f32, f32)> {
        let ml = f64::from(self.max_lighting).clamp(0.0, 0.999);
        if ml == 0.0 {
            return None;
        }
        let p = self.p_lighting;
        let b = draw(rng, p, (0.5 * (1.0 - ml), 0.5 * (1.0 + ml)), 0.5);
        let lo = (1.0 - ml).ln();
        let s = draw(rng, p, (lo, -lo), 0.0).exp();
        (b != 0.5 || s != 1.0).then_some((b as f32, s as f32))
    }
}

/// fastai's `Brightness` then `Contrast`, merged as its `LightingTfm` does: one logit, add
/// `logit(b)`, multiply by `s`, one sigmoid.
fn lighting(x: &mut [f32], b: f32, s: f32) {
    let lb = (b / (1.0 - b)).ln();
    for v in x {
        let p = v.clamp(EPS, 1.0 - EPS);
        let l = ((p / (1.0 - p)).ln() + lb) * s;
        *v = 1.0 / (1.0 + (-l).exp());
    }
}

/// Resample `img` (`[c, h, w]`) through the map from output to source coordinates given by the
/// 3x3 homography `m`: output point `(x, y)` samples the source at `(X/W, Y/W)` where
/// `[X, Y, W] = m · [x, y, 1]`. Coordinates are normalised as PyTorch's `affine_grid` with
/// `align_corners=True` (fastai's choice): -1 and 1 are the centres of the first and last pixels,
/// 0 the image centre, x right, y down. Bilinear, with `pad` outside the image. This is the one
/// interpolation of an augmented item; `m` = identity returns the image unchanged.
pub fn warp(img: &[f32], c: usize, h: usize, w: usize, m: [[f32; 3]; 3], pad: PadMode) -> Vec<f32> {
    assert_eq!(img.len(), c * h * w, "image is not [{c}, {h}, {w}]");
    let m = m.map(|row| row.map(f64::from));
    let mut out = vec![0.0; img.len()];
    warp_into(img, [c, h, w], &mut out, (h, w), &m, pad);
    out
}

/// `m` in pixel coordinates: output pixels → normalised (of an `out` image), `m`, normalised →
/// source pixels (of a `src` image).
fn to_pixels(m: &Mat3, src: (usize, usize), out: (usize, usize)) -> Mat3 {
    let half = |n: usize| (n.max(1) - 1) as f64 / 2.0;
    let inv = |v: f64| if v > 0.0 { 1.0 / v } else { 0.0 };
    let (ox, oy) = (half(out.1), half(out.0));
    let to_norm = [
        [inv(ox), 0.0, -inv(ox) * ox],
        [0.0, inv(oy), -inv(oy) * oy],
        [0.0, 0.0, 1.0],
    ];
    let (hx, hy) = (half(src.1), half(src.0));
    let to_pix = [[hx, 0.0, hx], [0.0, hy, hy], [0.0, 0.0, 1.0]];
    mul(&to_pix, &mul(m, &to_norm))
}

/// The two source indices and weights along one axis of length `n` for pixel coordinate `p`.
fn axis(p: f64, n: usize, pad: PadMode) -> (usize, usize, f32, f32) {
    let last = (n - 1) as f64;
    let p = if p.is_nan() { -2.0 } else { p.clamp(-1e7, 1e7) };
    let p = match pad {
        PadMode::Zeros => {
            // Each of the two neighbours outside the image adds 0 (index 0, weight 0).
            let (f, n) = (p.floor(), n as f64);
            let side = |i: f64, wt: f64| {
                if (0.0..n).contains(&i) {
                    (i as usize, wt as f32)
                } else {
                    (0, 0.0)
                }
            };
            let ((i0, w0), (i1, w1)) = (side(f, 1.0 - (p - f)), side(f + 1.0, p - f));
            return (i0, i1, w0, w1);
        }
        PadMode::Border => p,
        PadMode::Reflection if last > 0.0 => {
            // PyTorch's reflect_coordinates for align_corners=True: period 2 * last.
            last - (p.abs() % (2.0 * last) - last).abs()
        }
        PadMode::Reflection => 0.0,
    };
    let p = p.clamp(0.0, last);
    let (i, t) = (p.floor() as usize, p - p.floor());
    (i, (i + 1).min(n - 1), (1.0 - t) as f32, t as f32)
}

/// Resample `src` (`[c, h, w]`) into `dst` (`[c, oh, ow]`) through `m`, the map from the
/// output's normalised coordinates to the source's.
fn warp_into(
    src: &[f32],
    [c, h, w]: [usize; 3],
    dst: &mut [f32],
    (oh, ow): (usize, usize),
    m: &Mat3,
    pad: PadMode,
) {
    let (hw, ohw) = (h * w, oh * ow);
    if hw == 0 || ohw == 0 {
        return;
    }
    let q = to_pixels(m, (h, w), (oh, ow));
    for i in 0..oh {
        let y = i as f64;
        let base = [0, 1, 2].map(|r| q[r][1] * y + q[r][2]);
        for j in 0..ow {
            let x = j as f64;
            let ww = base[2] + q[2][0] * x;
            let px = (base[0] + q[0][0] * x) / ww;
            let py = (base[1] + q[1][0] * x) / ww;
            let (x0, x1, wx0, wx1) = axis(px, w, pad);
            let (y0, y1, wy0, wy1) = axis(py, h, pad);
            let (r0, r1, o) = (y0 * w, y1 * w, i * ow + j);
            for ch in 0..c {
                let s = &src[ch * hw..(ch + 1) * hw];
                let top = wx0 * s[r0 + x0] + wx1 * s[r0 + x1];
                let bottom = wx0 * s[r1 + x0] + wx1 * s[r1 + x1];
                dst[ch * ohw + o] = wy0 * top + wy1 * bottom;
            }
        }
    }
}

impl AugTransforms {
    /// Augmentation for digits and other symbols: rotations up to 10° and zooms up to 1.1 (as
    /// `aug_transforms`), but no flips (a mirrored 2 is no digit), no warp or lighting, and black
    /// (not reflected) borders, the background of a digit.
    pub fn digits() -> Self {
        Self {
            do_flip: false,
            flip_vert: false,
            max_warp: 0.0,
            max_lighting: 0.0,
            p_lighting: 0.0,
            pad_mode: PadMode::Zeros,
            ..aug_transforms()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PADS: [PadMode; 3] = [PadMode::Zeros, PadMode::Border, PadMode::Reflection];

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..len).map(|_| rng.random::<f32>()).collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    /// Each row reversed, by index arithmetic.
    fn mirrored(img: &[f32], w: usize) -> Vec<f32> {
        (0..img.len())
            .map(|k| img[k - k % w + (w - 1 - k % w)])
            .collect()
    }

    fn mat(a: f32, b: f32, c: f32, d: f32, e: f32, f: f32) -> [[f32; 3]; 3] {
        [[a, b, c], [d, e, f], [0.0, 0.0, 1.0]]
    }

    #[test]
    fn none_is_bit_exact_identity() {
        let orig = random(8 * 3 * 7 * 5, 1);
        let mut x = orig.clone();
        AugTransforms::none().apply_batch(&mut x, 8, 3, 7, 5, 99);
        assert_eq!(x, orig);
    }

    #[test]
    fn warp_identity_matrix_is_identity_all_pads() {
        let img = random(2 * 6 * 9, 2);
        for pad in PADS {
            let out = warp(&img, 2, 6, 9, mat(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), pad);
            assert!(close(&out, &img, 1e-6), "{pad:?}");
        }
    }

    #[test]
    fn warp_flip_matrix_mirrors_exactly() {
        let img = random(2 * 4 * 5, 3);
        for pad in PADS {
            let out = warp(&img, 2, 4, 5, mat(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), pad);
            assert!(close(&out, &mirrored(&img, 5), 1e-6), "{pad:?}");
        }
    }

    #[test]
    fn warp_quarter_turn_matches_index_arithmetic() {
        // Source (X, Y) = (y, -x): output (row i, col j) reads source (row n-1-j, col i).
        let n = 6;
        let img = random(n * n, 4);
        let out = warp(
            &img,
            1,
            n,
            n,
            mat(0.0, 1.0, 0.0, -1.0, 0.0, 0.0),
            PadMode::Zeros,
        );
        let expected: Vec<f32> = (0..n * n)
            .map(|k| img[(n - 1 - k % n) * n + k / n])
            .collect();
        assert!(close(&out, &expected, 1e-5));
    }

    #[test]
    fn pad_modes_fill_vacated_half() {
        // Width 9: a normalised shift of ±1 is 4 pixels (align_corners=True): col j reads j ± 4.
        let (h, w) = (3, 9);
        let img: Vec<f32> = (0..h * w).map(|k| k as f32 / 27.0).collect();
        for (shift, d) in [(1.0, 4), (-1.0, -4)] {
            for pad in PADS {
                let out = warp(&img, 1, h, w, mat(1.0, 0.0, shift, 0.0, 1.0, 0.0), pad);
                let expected: Vec<f32> = (0..h * w)
                    .map(|k| {
                        let (row, src) = (k - k % w, (k % w) as i64 + d);
                        let col = match pad {
                            _ if (0..9).contains(&src) => src,
                            PadMode::Zeros => return 0.0,
                            PadMode::Border => src.clamp(0, 8),
                            PadMode::Reflection if src < 0 => -src,
                            PadMode::Reflection => 16 - src,
                        };
                        img[row + col as usize]
                    })
                    .collect();
                assert!(close(&out, &expected, 1e-6), "{pad:?} {shift}: {out:?}");
            }
        }
    }

    #[test]
    fn apply_batch_is_deterministic_and_seed_dependent() {
        let orig = random(16 * 3 * 12 * 12, 5);
        let run = |seed| {
            let mut x = orig.clone();
            aug_transforms().apply_batch(&mut x, 16, 3, 12, 12, seed);
            x
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert_ne!(run(7), orig);
    }

    #[test]
    fn apply_batch_equals_item_rng_per_item() {
        let (n, c, h, w, len) = (12, 3, 10, 8, 240);
        let orig = random(n * len, 6);
        let mut tfms = aug_transforms();
        tfms.flip_vert = true;
        let mut x = orig.clone();
        tfms.apply_batch(&mut x, n, c, h, w, 11);
        for (i, (aug, item)) in x.chunks(len).zip(orig.chunks(len)).enumerate() {
            assert_eq!(
                aug,
                tfms.apply_item(item, c, h, w, &mut item_rng(11, i)),
                "{i}"
            );
        }
    }

    #[test]
    fn apply_batch_independent_of_thread_count() {
        let orig = random(64 * 3 * 16 * 16, 7);
        let run = |threads: usize| {
            let mut x = orig.clone();
            let mut go = || aug_transforms().apply_batch(&mut x, 64, 3, 16, 16, 3);
            match threads {
                0 => go(),
                t => rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
                    .install(go),
            }
            x
        };
        let default = run(0);
        assert_eq!(run(1), default);
        assert_eq!(run(3), default);
    }

    #[test]
    fn lighting_keeps_range_and_order_and_changes_stats() {
        let mut tfms = AugTransforms::none();
        (tfms.max_lighting, tfms.p_lighting) = (0.2, 1.0);
        let img: Vec<f32> = random(64, 8).iter().map(|v| 0.02 + 0.96 * v).collect();
        let stats = |x: &[f32]| {
            let m = x.iter().sum::<f32>() / 64.0;
            (m, x.iter().map(|v| (v - m).powi(2)).sum::<f32>() / 64.0)
        };
        let (m0, v0) = stats(&img);
        let mut changed = 0;
        for seed in 0..50 {
            let out = tfms.apply_item(&img, 1, 8, 8, &mut item_rng(seed, 0));
            assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
            for (a, b) in (0..64).flat_map(|a| (0..64).map(move |b| (a, b))) {
                if img[a] < img[b] - 1e-3 {
                    assert!(out[a] < out[b], "seed {seed}: order of {a}, {b}");
                }
            }
            let (m, v) = stats(&out);
            changed += usize::from((m - m0).abs() > 1e-3 || (v - v0).abs() > 1e-4);
        }
        assert!(changed >= 45, "only {changed} of 50 changed");
    }

    #[test]
    fn neutral_lighting_is_identity() {
        let orig: Vec<f32> = (0..=100).map(|k| k as f32 / 100.0).collect();
        let mut x = orig.clone();
        lighting(&mut x, 0.5, 1.0);
        assert!(close(&x, &orig, 2e-6));
        lighting(&mut x, 0.6, 1.0);
        assert!(
            (x[50] - 0.6).abs() < 1e-5,
            "brightness 0.6 maps 0.5 to {}",
            x[50]
        );
    }

    #[test]
    fn defaults_are_fastais() {
        let fastai = AugTransforms {
            do_flip: true,
            flip_vert: false,
            max_rotate: 10.0,
            min_zoom: 1.0,
            max_zoom: 1.1,
            max_warp: 0.2,
            max_lighting: 0.2,
            p_affine: 0.75,
            p_lighting: 0.75,
            pad_mode: PadMode::Reflection,
            min_scale: 1.0,
        };
        assert_eq!(
            [aug_transforms(), AugTransforms::default()],
            [fastai.clone(), fastai]
        );
        let json = serde_json::to_string(&aug_transforms()).unwrap();
        assert_eq!(
            serde_json::from_str::<AugTransforms>(&json).unwrap(),
            aug_transforms()
        );
    }

    #[test]
    fn flip_only_mirrors_about_half() {
        let img = random(2 * 5 * 7, 9);
        let mut tfms = AugTransforms::none();
        tfms.do_flip = true;
        let mut flips = 0;
        for seed in 0..200 {
            let out = tfms.apply_item(&img, 2, 5, 7, &mut item_rng(seed, 0));
            if out != img {
                assert!(
                    close(&out, &mirrored(&img, 7), 1e-6),
                    "seed {seed}: not mirrored"
                );
                flips += 1;
            }
        }
        assert!((60..=140).contains(&flips), "{flips} of 200 flipped");
    }

    #[test]
    fn zoom_window_stays_inside_image() {
        // Zeros padding would show as values below 1 if the zoomed window reached outside.
        let mut tfms = AugTransforms::none();
        (tfms.min_zoom, tfms.max_zoom, tfms.p_affine) = (1.2, 2.0, 1.0);
        tfms.pad_mode = PadMode::Zeros;
        for seed in 0..50 {
            let out = tfms.apply_item(&[1.0; 256], 1, 16, 16, &mut item_rng(seed, 0));
            assert!(out.iter().all(|v| (v - 1.0).abs() <= 1e-5), "seed {seed}");
        }
    }

    #[test]
    fn perspective_maps_corners_and_defaults_stay_in_range() {
        let from = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]];
        let to = [[-1.2, -0.9], [-0.8, 1.1], [1.1, -1.15], [0.95, 0.9]];
        let m = perspective(&from, &to);
        for (f, t) in from.iter().zip(&to) {
            let v = [0, 1, 2].map(|r| m[r][0] * f[0] + m[r][1] * f[1] + m[r][2]);
            assert!((v[0] / v[2] - t[0]).abs() < 1e-9 && (v[1] / v[2] - t[1]).abs() < 1e-9);
        }
        let orig = random(256 * 28 * 28, 10);
        let mut x = orig.clone();
        aug_transforms().apply_batch(&mut x, 256, 1, 28, 28, 5);
        assert!(x.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
        let same = x
            .chunks(784)
            .zip(orig.chunks(784))
            .filter(|(a, b)| a == b)
            .count();
        assert!(same < 25, "{same} of 256 items unchanged");
    }

    /// `1000 y + x` at each pixel of an `h x w` plane: a sample's value says where it came from.
    fn coords(h: usize, w: usize) -> Vec<f32> {
        (0..h * w)
            .map(|i| (1000 * (i / w) + i % w) as f32)
            .collect()
    }

    #[test]
    fn centre_resize_takes_the_centre_at_the_outputs_aspect() {
        // 20 high, 40 wide, to 5x5: the centre 20x20 (columns 10..30), corners on its pixels.
        let out = centre_resize(&coords(20, 40), 1, (20, 40), (5, 5));
        assert_eq!(out.len(), 25);
        assert_eq!(
            [out[0], out[4], out[20], out[24]],
            [10.0, 29.0, 19_010.0, 19_029.0]
        );
        // Same aspect: the whole item; same size: the item itself.
        let out = centre_resize(&coords(9, 9), 1, (9, 9), (5, 5));
        assert_eq!(
            [out[0], out[2], out[12], out[24]],
            [0.0, 4.0, 4_004.0, 8_008.0]
        );
        assert_eq!(
            centre_resize(&coords(6, 7), 1, (6, 7), (6, 7)),
            coords(6, 7)
        );
    }

    #[test]
    fn presizing_crops_at_random_inside_and_resizes_once() {
        let (h, w, o) = (40, 40, (10, 10));
        let x: Vec<f32> = (0..8).flat_map(|_| coords(h, w)).collect();
        // min_scale 1, nothing else: each item is the whole image resampled.
        let whole = AugTransforms::none().apply_batch_to(&x, 8, 1, (h, w), o, 1);
        assert_eq!(whole.len(), 8 * 100);
        for item in whole.chunks(100) {
            assert_eq!(item, centre_resize(&coords(h, w), 1, (h, w), o));
        }
        // min_scale 0.5: square windows of 50-100% of the area, anywhere inside, per item.
        let tfms = AugTransforms::none().min_scale(0.5);
        let crops = tfms.apply_batch_to(&x, 8, 1, (h, w), o, 2);
        let mut corners = std::collections::BTreeSet::new();
        for item in crops.chunks(100) {
            let (y0, x0) = ((item[0] / 1000.0).round(), item[0] % 1000.0);
            let (y1, x1) = ((item[99] / 1000.0).round(), item[99] % 1000.0);
            let side = (x1 - x0 + 1.0, y1 - y0 + 1.0);
            assert_eq!(side.0, side.1, "not square: {item:?}");
            assert!((28.0..=40.0).contains(&side.0), "side {side:?}");
            assert!(x0 >= 0.0 && y0 >= 0.0 && x1 <= 39.0 && y1 <= 39.0);
            corners.insert((y0 as i32, x0 as i32));
        }
        assert!(corners.len() > 4, "crops did not move: {corners:?}");
        // Reproducible from the seed, and the item's own rng (not its neighbours').
        assert_eq!(crops, tfms.apply_batch_to(&x, 8, 1, (h, w), o, 2));
        assert_ne!(crops, tfms.apply_batch_to(&x, 8, 1, (h, w), o, 3));
        // With the rest of aug_transforms, values stay in range and every item changes.
        let px = random(4 * 3 * 40 * 40, 4);
        let out = aug_transforms()
            .min_scale(0.75)
            .apply_batch_to(&px, 4, 3, (40, 40), (16, 16), 9);
        assert_eq!(out.len(), 4 * 3 * 16 * 16);
        assert!(out.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
    }
}
