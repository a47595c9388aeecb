//! Same-size images held as bytes, batched as floats: what the chapter's Learners train on.

use std::sync::Arc;

use burn::prelude::*;

use super::dataloader::{Dataset, TensorDataset};
use crate::error::{Error, Result};

/// Images of one size (`[channels, height, width]`), held as their 0-255 bytes, with integer
/// labels. A batch is `[n, channels, height, width]` floats in 0..=1, the chapter's
/// `.float()/255` computed per batch: exactly the values of [`to_tensor_dataset`](Self::to_tensor_dataset).
///
/// Why bytes rather than a float tensor: MNIST_SAMPLE's training set as floats is 39 MB, more
/// than the CPU's last-level cache, so gathering a shuffled batch of 256 rows from it came from
/// main memory (~160 µs, longer than the Linear Learner's whole step, which then waited for
/// it). As bytes it is 10 MB; gathering and converting a batch takes about a third of that.
///
/// ```
/// use fastburn::data::{Dataset, PixelDataset};
/// let dev = burn::prelude::Device::flex();
/// // Two 1x2x2 images and their labels.
/// let ds = PixelDataset::new(vec![0, 255, 51, 102, 255, 0, 0, 0], [1, 2, 2], vec![1, 0], &dev)?;
/// let (x, y) = ds.batch(&[1, 0]);
/// assert_eq!(x.dims(), [2, 1, 2, 2]);
/// assert_eq!(x.into_data().try_to_vec::<f32>().unwrap(), [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.2, 0.4]);
/// assert_eq!(y.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), [0, 1]);
/// # Ok::<(), fastburn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PixelDataset {
    /// Shared with the loader's worker thread without a copy.
    pixels: Arc<[u8]>,
    labels: Arc<[i64]>,
    shape: [usize; 3],
    device: Device,
}

impl PixelDataset {
    /// `pixels` holds `labels.len()` images of `shape` (`[channels, height, width]`), one after
    /// the other.
    pub fn new(
        pixels: Vec<u8>,
        shape: [usize; 3],
        labels: Vec<i64>,
        device: &Device,
    ) -> Result<Self> {
        let per: usize = shape.iter().product();
        if per == 0 {
            return Err(Error::Shape {
                what: "image shape (channels x height x width)",
                expected: "at least 1x1x1".into(),
                got: format!("{}x{}x{}", shape[0], shape[1], shape[2]),
            });
        }
        if pixels.len() != labels.len() * per {
            return Err(Error::Shape {
                what: "pixel bytes",
                expected: format!(
                    "{} images of {}x{}x{}, one per label ({} bytes)",
                    labels.len(),
                    shape[0],
                    shape[1],
                    shape[2],
                    labels.len() * per
                ),
                got: format!("{} bytes", pixels.len()),
            });
        }
        Ok(Self {
            pixels: pixels.into(),
            labels: labels.into(),
            shape,
            device: device.clone(),
        })
    }

    /// `[channels, height, width]` of every image.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The labels, in item order.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// All items as float tensors: the chapter's `train_x` (`[n, c, h, w]`) and `train_y`.
    pub fn to_tensor_dataset(&self) -> TensorDataset<4> {
        let all: Vec<usize> = (0..self.len()).collect();
        let (x, y) = self.batch(&all);
        TensorDataset::new(x, y)
    }
}

impl Dataset for PixelDataset {
    type Batch = (Tensor<4>, Tensor<1, Int>);

    fn len(&self) -> usize {
        self.labels.len()
    }

    /// One pass on the calling thread (the loader's worker): a batch is small, and handing it to
    /// the thread pool would take a core from the training step it runs beside.
    fn batch(&self, indices: &[usize]) -> Self::Batch {
        let per: usize = self.shape.iter().product();
        let mut x = vec![0f32; indices.len() * per];
        for (out, &i) in x.chunks_exact_mut(per).zip(indices) {
            bytes_to_unit(&self.pixels[i * per..(i + 1) * per], out);
        }
        let y: Vec<i64> = indices.iter().map(|&i| self.labels[i]).collect();
        let [c, h, w] = self.shape;
        (
            Tensor::from_data(TensorData::new(x, [indices.len(), c, h, w]), &self.device),
            Tensor::from_data(TensorData::new(y, [indices.len()]), &self.device),
        )
    }
}

/// `dst[i] = src[i] as f32 / 255.0`. A division, not a multiplication by 1/255, so the values
/// are the chapter's `.float()/255` to the bit; and a division is exact at any vector width, so
/// the AVX2 version (8 pixels an instruction, picked at run time) gives the plain version's values
/// at about twice its speed.
pub(crate) fn bytes_to_unit(src: &[u8], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { bytes_to_unit_avx2(src, dst) };
    }
    bytes_to_unit_plain(src, dst)
}

#[inline(always)]
fn bytes_to_unit_plain(src: &[u8], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    for (o, &p) in dst.iter_mut().zip(src) {
        *o = p as f32 / 255.0;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bytes_to_unit_avx2(src: &[u8], dst: &mut [f32]) {
    bytes_to_unit_plain(src, dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn batches_equal_the_float_tensors_select() {
        let dev = Device::flex();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (n, shape) = (50, [1, 5, 3]);
        let pixels: Vec<u8> = (0..n * 15).map(|_| rng.random()).collect();
        let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        let ds = PixelDataset::new(pixels.clone(), shape, labels, &dev).unwrap();
        // The reference: the chapter's float tensor, built as `ImageStack::to_tensor` does, and
        // Burn's `select`.
        let floats: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
        let reference = TensorDataset::new(
            Tensor::<4>::from_data(TensorData::new(floats, [n, 1, 5, 3]), &dev),
            Tensor::<1, Int>::from_data(
                TensorData::new((0..n as i64).map(|i| i % 3).collect::<Vec<_>>(), [n]),
                &dev,
            ),
        );
        for indices in [vec![3, 49, 0, 3, 17], (10..20).collect(), vec![], vec![49]] {
            let (x, y) = ds.batch(&indices);
            let (rx, ry) = reference.batch(&indices);
            assert_eq!(x.dims(), [indices.len(), 1, 5, 3]);
            assert_eq!(
                x.into_data().try_to_vec::<f32>().unwrap(),
                rx.into_data().try_to_vec::<f32>().unwrap()
            );
            assert_eq!(
                y.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
                ry.into_data().convert::<i64>().try_to_vec::<i64>().unwrap()
            );
        }
        let all = ds.to_tensor_dataset();
        assert_eq!(all.x.dims(), [n, 1, 5, 3]);
        assert_eq!(
            all.x.into_data().try_to_vec::<f32>().unwrap(),
            reference.x.into_data().try_to_vec::<f32>().unwrap()
        );
    }

    /// Every byte value, at a length that leaves a remainder after whole vectors, through the
    /// plain loop and (where the CPU has it) the AVX2 one: the chapter's `p / 255` exactly.
    #[test]
    fn every_byte_converts_to_its_exact_quotient_on_each_path() {
        let src: Vec<u8> = (0..=255u8).chain(0..=6).rev().collect();
        let want: Vec<f32> = src.iter().map(|&p| f32::from(p) / 255.0).collect();
        let mut plain = vec![f32::NAN; src.len()];
        bytes_to_unit_plain(&src, &mut plain);
        assert_eq!(plain, want);
        assert_eq!((plain[0], plain[7]), (6.0 / 255.0, 1.0));
        let mut chosen = vec![f32::NAN; src.len()];
        bytes_to_unit(&src, &mut chosen);
        assert_eq!(chosen, want);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut avx2 = vec![f32::NAN; src.len()];
            // SAFETY: checked just above.
            unsafe { bytes_to_unit_avx2(&src, &mut avx2) };
            assert_eq!(avx2, want);
        }
    }

    #[test]
    fn bytes_that_are_not_whole_images_are_an_error() {
        let dev = Device::flex();
        let err = PixelDataset::new(vec![0; 10], [1, 2, 2], vec![0, 1], &dev).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pixel bytes: expected 2 images of 1x2x2, one per label (8 bytes), got 10 bytes"
        );
        let err = PixelDataset::new(vec![], [1, 0, 2], vec![], &dev).unwrap_err();
        assert!(
            matches!(&err, crate::Error::Shape { got, .. } if got == "1x0x2"),
            "{err}"
        );
    }
}
