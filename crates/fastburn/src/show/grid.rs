//! Grids of images with captions: `show_batch`, `show_results`, `plot_top_losses`.

use std::path::Path;

use plotters::prelude::*;

use super::gray::Gray;
use plotters::coord::Shift;

use super::plot::{Drawing, draw_to_file};
use crate::error::Result;

/// Draw `items` (image, caption) in a grid of `cols` columns under `title` (a line saying what the
/// captions mean; none when empty), with MNIST's white-on-black turned to the book's dark digit
/// on white.
///
/// ```
/// use fastburn::show::{Gray, save_image_grid};
/// let img = Gray { height: 2, width: 2, values: vec![0.0, 1.0, 1.0, 0.0] };
/// let out = std::env::temp_dir().join("fastburn-doc-grid.png");
/// save_image_grid(&[(img.clone(), "3".into()), (img, "7".into())], 2, "label", &out)?;
/// assert!(out.exists());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn save_image_grid<I: GridImage>(
    items: &[(I, String)],
    cols: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    let cols = cols.max(1);
    let rows = items.len().div_ceil(cols).max(1);
    let head = if title.is_empty() { 0 } else { TITLE };
    let size = (CELL * cols as u32, head + (CELL + CAPTION) * rows as u32);
    draw_to_file(path, size, &Grid { items, cols, title })
}

const TITLE: u32 = 30;

const CELL: u32 = 140;
const CAPTION: u32 = 34;

/// An image a grid can draw: its size and the colour of each pixel.
pub trait GridImage {
    /// (height, width).
    fn dims(&self) -> (usize, usize);
    fn rgb(&self, row: usize, col: usize) -> [u8; 3];
}

/// A grey image is drawn as the book draws MNIST: a dark digit on white.
impl GridImage for Gray {
    fn dims(&self) -> (usize, usize) {
        (self.height, self.width)
    }
    fn rgb(&self, row: usize, col: usize) -> [u8; 3] {
        let v = 255 - (self.at(row, col).clamp(0.0, 1.0) * 255.0) as u8;
        [v, v, v]
    }
}

/// A colour image: planar values in 0..=1 (`[3, height, width]`), drawn as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

impl GridImage for Rgb {
    fn dims(&self) -> (usize, usize) {
        (self.height, self.width)
    }
    fn rgb(&self, row: usize, col: usize) -> [u8; 3] {
        let n = self.height * self.width;
        let at =
            |c: usize| (self.values[c * n + row * self.width + col].clamp(0.0, 1.0) * 255.0) as u8;
        [at(0), at(1), at(2)]
    }
}

/// A grey or a colour image (a data set's items, whichever it has).
#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    Gray(Gray),
    Rgb(Rgb),
}

impl Picture {
    /// From planar values in 0..=1: 1 channel is grey, 3 colour.
    pub fn from_planar(values: Vec<f32>, channels: usize, height: usize, width: usize) -> Self {
        if channels == 3 {
            Picture::Rgb(Rgb {
                height,
                width,
                values,
            })
        } else {
            Picture::Gray(Gray {
                height,
                width,
                values: values[..height * width].to_vec(),
            })
        }
    }
}

impl GridImage for Picture {
    fn dims(&self) -> (usize, usize) {
        match self {
            Picture::Gray(g) => g.dims(),
            Picture::Rgb(c) => c.dims(),
        }
    }
    fn rgb(&self, row: usize, col: usize) -> [u8; 3] {
        match self {
            Picture::Gray(g) => g.rgb(row, col),
            Picture::Rgb(c) => c.rgb(row, col),
        }
    }
}

struct Grid<'a, I> {
    items: &'a [(I, String)],
    cols: usize,
    title: &'a str,
}

impl<I: GridImage> Drawing for Grid<'_, I> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let (items, cols, cell, caption) = (self.items, self.cols, CELL, CAPTION);
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let head = if self.title.is_empty() {
            0
        } else {
            root.draw(&Text::new(
                self.title.to_string(),
                (6, 7),
                ("sans-serif", 15).into_font().style(FontStyle::Bold),
            ))
            .map_err(|e| e.to_string())?;
            TITLE as i32
        };
        for (k, (img, text)) in items.iter().enumerate() {
            let (x0, y0) = (
                (k % cols) as i32 * cell as i32,
                head + (k / cols) as i32 * (cell + caption) as i32,
            );
            let (height, width) = img.dims();
            let scale = (cell as f32 - 12.0) / height.max(width) as f32;
            for r in 0..height {
                for c in 0..width {
                    let [red, green, blue] = img.rgb(r, c);
                    let (x, y) = (
                        x0 + 6 + (c as f32 * scale) as i32,
                        y0 + caption as i32 + (r as f32 * scale) as i32,
                    );
                    let (x1, y1) = (
                        x0 + 6 + ((c + 1) as f32 * scale) as i32,
                        y0 + caption as i32 + ((r + 1) as f32 * scale) as i32,
                    );
                    root.draw(&Rectangle::new(
                        [(x, y), (x1, y1)],
                        RGBColor(red, green, blue).filled(),
                    ))
                    .map_err(|e| e.to_string())?;
                }
            }
            for (i, line) in text.lines().take(2).enumerate() {
                root.draw(&Text::new(
                    line.to_string(),
                    (x0 + 6, y0 + 2 + 15 * i as i32),
                    ("sans-serif", 13),
                ))
                .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())
    }
}
