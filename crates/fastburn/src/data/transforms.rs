//! Item transforms: how one decoded image becomes one model input. fastai's `Resize(size,
//! method)` with its three methods, the channel count (grey or RGB), and presizing (chapter 5:
//! items resized to a larger size, batches cropped to the input size).
//!
//! A resize is done in two steps so that an in-memory data set can keep small images and still
//! crop at random each epoch: [`ItemTfms::presize`] (once, when decoding: to the covering size
//! for `crop`, the final size for `squish`, the fitting size for `pad`) and [`ItemTfms::finish`]
//! (per batch: a random crop for training, the centre for validation; the reflection padding).

use std::fmt;
use std::str::FromStr;

use image::DynamicImage;
use image::imageops::FilterType;
use rand::Rng;
use rand::rngs::StdRng;

/// fastai's `ResizeMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMethod {
    /// Scale so the image covers the size, then crop: at random for training, the centre for
    /// validation (fastai's default).
    #[default]
    Crop,
    /// Scale each side to the size, changing the aspect ratio.
    Squish,
    /// Scale so the image fits inside the size, then pad by reflection (fastai's
    /// `pad_mode=PadMode.Reflection`).
    Pad,
}

impl fmt::Display for ResizeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResizeMethod::Crop => "crop",
            ResizeMethod::Squish => "squish",
            ResizeMethod::Pad => "pad",
        })
    }
}

impl FromStr for ResizeMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "crop" => Ok(ResizeMethod::Crop),
            "squish" => Ok(ResizeMethod::Squish),
            "pad" => Ok(ResizeMethod::Pad),
            _ => Err(format!(
                "unknown resize method {s:?}: use crop, squish or pad"
            )),
        }
    }
}

/// An image as planar bytes: `[channels, height, width]`, channel-major, 0..=255.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pixels {
    pub data: Vec<u8>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// How a decoded image becomes an input: its channels (1 grey, 3 RGB) and, if set, the size and
/// how to reach it. Saved in the model file, so `predict` and `serve` prepare images as
/// validation did.
///
/// ```
/// use fastburn::data::{ItemTfms, ResizeMethod};
/// let tfms = ItemTfms::resize(3, (32, 32), ResizeMethod::Crop);
/// let photo = image::DynamicImage::ImageRgb8(image::RgbImage::new(64, 40));
/// let x = tfms.prepare(&photo);
/// assert_eq!((x.channels, x.height, x.width), (3, 32, 32));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemTfms {
    pub channels: usize,
    /// The input size.
    pub size: Option<(usize, usize)>,
    pub method: ResizeMethod,
    /// Presizing (fastbook chapter 5, fastai's `item_tfms=Resize(presize)` with
    /// `batch_tfms=aug_transforms(size=size)`): items are resized (by `method`) to this larger
    /// size first; training then crops and augments each down to `size` in one resampling
    /// ([`AugTransforms::apply_batch_to`](super::AugTransforms::apply_batch_to)), validation and
    /// `predict` take the centre at `size`'s aspect, resampled to `size`.
    #[serde(default)]
    pub presize: Option<(usize, usize)>,
}

impl Default for ItemTfms {
    /// One grey channel, images used at their size (MNIST).
    fn default() -> Self {
        Self {
            channels: 1,
            size: None,
            method: ResizeMethod::Crop,
            presize: None,
        }
    }
}

impl ItemTfms {
    /// `channels` and fastai's `Resize(size, method)`.
    pub fn resize(channels: usize, size: (usize, usize), method: ResizeMethod) -> Self {
        Self {
            channels,
            size: Some(size),
            method,
            presize: None,
        }
    }

    /// The size of the input for a source image of `(h, w)`.
    pub fn out_dims(&self, h: usize, w: usize) -> (usize, usize) {
        self.size.unwrap_or((h, w))
    }

    /// The size items are brought to before batching: the presize, else the input size.
    fn item_size(&self) -> Option<(usize, usize)> {
        self.presize.or(self.size)
    }

    /// The size of an item (before the batch step) for a source image of `(h, w)`.
    pub fn item_dims(&self, h: usize, w: usize) -> (usize, usize) {
        self.item_size().unwrap_or((h, w))
    }

    /// True when items are larger than the input and batches bring them to size (presizing).
    pub fn presizes(&self) -> bool {
        self.presize.is_some() && self.presize != self.size && self.size.is_some()
    }

    /// The size [`presize`](Self::presize) stores for a source of `(h, w)`.
    pub fn presize_dims(&self, h: usize, w: usize) -> (usize, usize) {
        let Some((th, tw)) = self.item_size() else {
            return (h, w);
        };
        let (sh, sw) = (th as f64 / h.max(1) as f64, tw as f64 / w.max(1) as f64);
        let scaled = |s: f64| {
            (
                ((h as f64 * s).round() as usize).max(1),
                ((w as f64 * s).round() as usize).max(1),
            )
        };
        match self.method {
            ResizeMethod::Squish => (th, tw),
            ResizeMethod::Crop => {
                let (a, b) = scaled(sh.max(sw));
                (a.max(th), b.max(tw))
            }
            ResizeMethod::Pad => {
                let (a, b) = scaled(sh.min(sw));
                (a.min(th), b.min(tw))
            }
        }
    }

    /// The image in this many channels at its stored size (bilinear, widened when shrinking,
    /// so a large photo is averaged rather than point-sampled).
    pub fn presize(&self, img: &DynamicImage) -> Pixels {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let data = super::decode::planar(img, self.channels);
        let (ph, pw) = self.presize_dims(h, w);
        let px = Pixels {
            data,
            channels: self.channels,
            height: h,
            width: w,
        };
        resize_pixels(px, ph, pw)
    }

    /// The stored image at the item size: cropped (at random when `rng` is given, the centre
    /// otherwise) or padded by reflection.
    pub fn finish(&self, p: &Pixels, rng: Option<&mut StdRng>) -> Pixels {
        let (th, tw) = self.item_dims(p.height, p.width);
        if (th, tw) == (p.height, p.width) {
            return p.clone();
        }
        let (oy, ox) = match self.method {
            ResizeMethod::Pad => (
                -(((th - p.height.min(th)) / 2) as isize),
                -(((tw - p.width.min(tw)) / 2) as isize),
            ),
            // Squish stores the final size; a mismatch can only be a crop.
            _ => {
                let (my, mx) = (p.height.saturating_sub(th), p.width.saturating_sub(tw));
                match rng {
                    Some(r) => (
                        r.random_range(0..=my) as isize,
                        r.random_range(0..=mx) as isize,
                    ),
                    None => ((my / 2) as isize, (mx / 2) as isize),
                }
            }
        };
        let mut data = vec![0u8; p.channels * th * tw];
        for c in 0..p.channels {
            let src = &p.data[c * p.height * p.width..(c + 1) * p.height * p.width];
            for y in 0..th {
                let sy = reflect(y as isize + oy, p.height);
                let row = &src[sy * p.width..(sy + 1) * p.width];
                let out = &mut data[(c * th + y) * tw..(c * th + y + 1) * tw];
                for (x, o) in out.iter_mut().enumerate() {
                    *o = row[reflect(x as isize + ox, p.width)];
                }
            }
        }
        Pixels {
            data,
            channels: p.channels,
            height: th,
            width: tw,
        }
    }

    /// Validation's transform of one image: what `predict` and `serve` feed the model.
    pub fn prepare(&self, img: &DynamicImage) -> Pixels {
        self.to_input(self.finish(&self.presize(img), None))
    }

    /// An item at the input size: with presizing, its centre at the input's aspect resampled to
    /// the input size (validation's batch step); otherwise the item as it is.
    pub fn to_input(&self, p: Pixels) -> Pixels {
        let Some(size) = self.size.filter(|_| self.presizes()) else {
            return p;
        };
        if (p.height, p.width) == size {
            return p;
        }
        let floats: Vec<f32> = p.data.iter().map(|&v| f32::from(v)).collect();
        let out = super::augment::centre_resize(&floats, p.channels, (p.height, p.width), size);
        Pixels {
            data: out
                .iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
            channels: p.channels,
            height: size.0,
            width: size.1,
        }
    }
}

/// `i` reflected into `0..n` (the edge pixel is not repeated, as PyTorch's reflection padding).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Resize every channel to `h x w` (Triangle filter); unchanged when already that size.
fn resize_pixels(p: Pixels, h: usize, w: usize) -> Pixels {
    if (p.height, p.width) == (h, w) {
        return p;
    }
    let plane = p.height * p.width;
    let mut data = Vec::with_capacity(p.channels * h * w);
    for c in 0..p.channels {
        let img = image::GrayImage::from_raw(
            p.width as u32,
            p.height as u32,
            p.data[c * plane..(c + 1) * plane].to_vec(),
        )
        .expect("one byte per pixel");
        data.extend(
            image::imageops::resize(&img, w as u32, h as u32, FilterType::Triangle).into_raw(),
        );
    }
    Pixels {
        data,
        channels: p.channels,
        height: h,
        width: w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([x as u8, y as u8, 200])
        }))
    }

    #[test]
    fn reflect_matches_pytorch_reflection_padding() {
        let got: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn crop_covers_then_takes_the_centre_for_validation() {
        // 40 wide, 20 high, to 10x10: scaled to 20x10 (covering), the centre 10 columns kept.
        let t = ItemTfms::resize(3, (10, 10), ResizeMethod::Crop);
        assert_eq!(t.presize_dims(20, 40), (10, 20));
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 20, |x, _| {
            image::Rgb([if (10..30).contains(&x) { 255 } else { 0 }, 0, 0])
        }));
        let p = t.prepare(&img);
        assert_eq!((p.channels, p.height, p.width), (3, 10, 10));
        // The middle half of the width was white in red: the centre crop is all of it.
        assert!(
            p.data[..100].iter().all(|&v| v > 200),
            "{:?}",
            &p.data[..10]
        );
        assert!(p.data[100..].iter().all(|&v| v == 0));
    }

    #[test]
    fn random_crops_move_and_stay_inside() {
        let t = ItemTfms::resize(1, (8, 8), ResizeMethod::Crop);
        let img = image::GrayImage::from_fn(16, 8, |x, y| image::Luma([(x * 10 + y) as u8]));
        let stored = t.presize(&DynamicImage::ImageLuma8(img));
        assert_eq!((stored.height, stored.width), (8, 16));
        let mut firsts = std::collections::BTreeSet::new();
        for seed in 0..50 {
            let out = t.finish(&stored, Some(&mut StdRng::seed_from_u64(seed)));
            assert_eq!((out.height, out.width), (8, 8));
            // A crop is a contiguous window of the stored row.
            let row = &stored.data[..16];
            let start = row.iter().position(|&v| v == out.data[0]).unwrap();
            assert_eq!(&out.data[..8], &row[start..start + 8]);
            firsts.insert(out.data[0]);
        }
        assert!(firsts.len() > 3, "crops did not move: {firsts:?}");
    }

    #[test]
    fn squish_and_pad_keep_everything() {
        let sq = ItemTfms::resize(3, (10, 10), ResizeMethod::Squish);
        assert_eq!(sq.presize_dims(20, 40), (10, 10));
        let pad = ItemTfms::resize(1, (10, 10), ResizeMethod::Pad);
        assert_eq!(pad.presize_dims(20, 40), (5, 10));
        let p = pad.prepare(&ramp(40, 20));
        assert_eq!((p.height, p.width), (10, 10));
        // Rows 0..2 and 7..9 are reflections of the 5 image rows placed at 2..7.
        let row = |y: usize| &p.data[y * 10..(y + 1) * 10];
        assert_eq!(row(1), row(3));
        assert_eq!(row(0), row(4));
        assert_eq!(row(7), row(5));
    }

    #[test]
    fn grey_and_alpha_become_planes_over_black() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(2, 1, |x, _| {
            if x == 0 {
                image::Rgba([255, 0, 0, 255])
            } else {
                image::Rgba([255, 255, 255, 0])
            }
        }));
        let rgb = ItemTfms::default();
        let grey = rgb.prepare(&img);
        assert_eq!(grey.data, [54, 0]); // luma of red; transparent white is black
        let colour = ItemTfms {
            channels: 3,
            ..ItemTfms::default()
        }
        .prepare(&img);
        assert_eq!(colour.data, [255, 0, 0, 0, 0, 0]);
        assert_eq!("pad".parse::<ResizeMethod>(), Ok(ResizeMethod::Pad));
        assert!("zoom".parse::<ResizeMethod>().is_err());
    }
}
