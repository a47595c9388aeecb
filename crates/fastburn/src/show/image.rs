//! `show_image`: an image (or a mean image) saved as an enlarged PNG.

use std::path::Path;

use image::{GrayImage, ImageFormat, Luma};

use super::gray::Gray;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// Save `img` (values in 0..=1) as a PNG, each pixel drawn as a `scale x scale` square.
///
/// Drawn as the book shows digits, with matplotlib's `Greys` map: 0 is white, 1 is black.
///
/// ```
/// let img = fastburn::show::Gray { height: 2, width: 2, values: vec![0.0, 1.0, 0.5, 0.25] };
/// let out = std::env::temp_dir().join("fastburn-doc-show.png");
/// fastburn::show::show_image(&img, &out, 4)?;
/// assert_eq!(image::image_dimensions(&out).unwrap(), (8, 8));
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn show_image(img: &Gray, path: &Path, scale: u32) -> Result<()> {
    let scale = scale.max(1);
    let out = GrayImage::from_fn(
        img.width as u32 * scale,
        img.height as u32 * scale,
        |x, y| {
            let v = img.at((y / scale) as usize, (x / scale) as usize);
            Luma([255 - (v.clamp(0.0, 1.0) * 255.0).round() as u8])
        },
    );
    save_png(&image::DynamicImage::ImageLuma8(out), path)
}

/// Encode a PNG and write it atomically.
pub(crate) fn save_png(img: &image::DynamicImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| Error::Draw {
            path: path.to_path_buf(),
            reason: format!("cannot encode PNG: {e}"),
        })?;
    write_atomic(path, |w| {
        std::io::Write::write_all(w, &bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}
