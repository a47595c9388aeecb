//! Any image a user hands over (an upload to `serve`, a file dropped on the exported web page)
//! to a model's input: decoded under limits (a small file may claim a huge image), composited
//! over black, brought to the model's channels and size as validation prepared its images.

use std::io::Cursor;

use image::{ImageReader, Limits};

use super::{ItemTfms, ResizeMethod};

/// Why an image cannot be used (a server answers each with a 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the image is empty (0 bytes)")]
    Empty,
    #[error("not a readable image ({0}); PNG, JPEG, GIF, BMP, WebP and TIFF files are read")]
    NotImage(String),
    #[error("the image is {width}x{height} = {pixels} pixels, more than the limit of {limit}")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
}

/// The most pixels an image may have by default (`serve`'s `--max-pixels`, the web page's
/// limit): a 24-megapixel photo, the size of a good camera's.
pub const MAX_PIXELS: u64 = 24_000_000;

/// Decode `bytes` (any format the `image` crate has enabled) into the model's input: `tfms`'
/// channels and size (planar, 0..=255), prepared as validation prepared the training images.
///
/// The size is read from the header and checked against `max_pixels` before anything is
/// decompressed, so a decompression bomb (a few kilobytes claiming 100,000 x 100,000 pixels)
/// costs nothing; the decoder also gets `image::Limits` as a second guard. Transparent pixels
/// count as black (the MNIST background), so a drawn digit on a transparent canvas works.
pub fn decode_input(
    bytes: &[u8],
    max_pixels: u64,
    tfms: &ItemTfms,
) -> Result<Vec<u8>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| DecodeError::NotImage(e.to_string()))
            .and_then(|r| match r.format() {
                Some(_) => Ok(r),
                None => Err(DecodeError::NotImage("unknown format".into())),
            })
    };
    // The header only: no limits here (a decoder may refuse to even report a size its limits
    // would not allow, which is the 413 case below, not a 400).
    let mut head = reader()?;
    head.no_limits();
    let (w, h) = head
        .into_dimensions()
        .map_err(|e| DecodeError::NotImage(e.to_string()))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(DecodeError::TooManyPixels {
            width: w,
            height: h,
            pixels,
            limit: max_pixels,
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(w.max(1));
    limits.max_image_height = Some(h.max(1));
    // 16-bit RGBA is 8 bytes a pixel, the most any enabled format decodes to; plus headroom for
    // the decoders' own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    let mut r = reader()?;
    r.limits(limits);
    let img = super::decode_oriented(r).map_err(|e| DecodeError::NotImage(e.to_string()))?;
    Ok(tfms.prepare(&img).data)
}

/// [`decode_input`] for a grey model taking `width x height` images, squished to that size.
pub fn decode_gray(
    bytes: &[u8],
    max_pixels: u64,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, DecodeError> {
    let tfms = ItemTfms::resize(1, (height as usize, width as usize), ResizeMethod::Squish);
    decode_input(bytes, max_pixels, &tfms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> image::Rgba<u8>) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, f);
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn grey_28x28_passes_through_unchanged() {
        let bytes = png(28, 28, |x, y| {
            let v = ((x * 9 + y) % 256) as u8;
            image::Rgba([v, v, v, 255])
        });
        let got = decode_gray(&bytes, 1 << 20, 28, 28).unwrap();
        assert_eq!(got.len(), 28 * 28);
        assert_eq!(got[3 * 28 + 5], (5 * 9 + 3) as u8);
    }

    #[test]
    fn transparent_is_black_and_large_images_are_averaged_down() {
        // Left half white, right half transparent white: 56x56 down to 28x28.
        let bytes = png(56, 56, |x, _| {
            image::Rgba([255, 255, 255, if x < 28 { 255 } else { 0 }])
        });
        let got = decode_gray(&bytes, 1 << 20, 28, 28).unwrap();
        assert_eq!(got[0], 255);
        assert_eq!(got[27], 0);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(decode_gray(b"", 100, 28, 28), Err(DecodeError::Empty));
        assert!(matches!(
            decode_gray(b"hello, world", 100, 28, 28),
            Err(DecodeError::NotImage(_))
        ));
        let big = png(100, 50, |_, _| image::Rgba([0, 0, 0, 255]));
        assert_eq!(
            decode_gray(&big, 4999, 28, 28),
            Err(DecodeError::TooManyPixels {
                width: 100,
                height: 50,
                pixels: 5000,
                limit: 4999
            })
        );
        assert!(decode_gray(&big, 5000, 28, 28).is_ok());
    }
}
