//! A 2-D grid of grey values, the common input of every viewer here.

use burn::prelude::*;

use crate::error::{Error, Result};

/// A `height x width` grid of values (pixels in 0..=1, or anything for a heat-map).
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

impl Gray {
    /// From a 2-D tensor of any kind; a `u8` image is scaled to 0..=1 as the chapter's `/255`.
    pub fn from_tensor<K: burn::tensor::kind::Basic>(t: &Tensor<2, K>) -> Self {
        let data = t.to_data();
        let scale = if data.dtype() == burn::tensor::DType::U8 {
            255.0
        } else {
            1.0
        };
        let [height, width] = t.dims();
        Gray {
            height,
            width,
            values: data.iter::<f32>().map(|v| v / scale).collect(),
        }
    }

    /// From `u8` pixels (0..=255) of one image.
    pub fn from_u8(pixels: &[u8], height: usize, width: usize) -> Self {
        Gray {
            height,
            width,
            values: pixels.iter().map(|&p| p as f32 / 255.0).collect(),
        }
    }

    pub fn at(&self, row: usize, col: usize) -> f32 {
        self.values[row * self.width + col]
    }

    /// Rows `rows` and columns `cols`, as `im3[4..10, 4..10]`.
    pub fn crop(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> Result<Self> {
        if rows.end > self.height || cols.end > self.width || rows.is_empty() || cols.is_empty() {
            return Err(Error::Shape {
                what: "crop (rows, columns)",
                expected: format!("within the image's {}x{}", self.height, self.width),
                got: format!("{rows:?}, {cols:?}"),
            });
        }
        let values = rows
            .clone()
            .flat_map(|r| cols.clone().map(move |c| (r, c)))
            .map(|(r, c)| self.at(r, c))
            .collect();
        Ok(Gray {
            height: rows.len(),
            width: cols.len(),
            values,
        })
    }

    /// (min, max) of the values.
    pub fn range(&self) -> (f32, f32) {
        self.values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }
}
