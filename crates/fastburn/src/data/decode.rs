//! Any image file to pixels: PNG, JPEG, GIF, BMP, WebP and TIFF (8 or 16 bits; grey, RGB, RGBA,
//! palette, CMYK JPEG) through the `image` crate, with the EXIF orientation applied (a phone's
//! portrait photo is stored sideways with a tag saying so; PIL, and so fastai, apply it too).

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::error::{Error, IoContext, Result};

/// The formats fastburn reads, for error messages.
pub const IMAGE_FORMATS: &str = "PNG, JPEG, GIF, BMP, WebP or TIFF";

/// What the bytes really are, named by their signature rather than the file name: "a JPEG file",
/// "not an image (starts with \"<html\")".
pub fn describe_format(bytes: &[u8]) -> String {
    match image::guess_format(bytes) {
        Ok(f) => format!("a {f:?} file"),
        Err(_) if bytes.is_empty() => "an empty file".into(),
        Err(_) => {
            let head: String = bytes
                .iter()
                .take(8)
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("not an image file (it starts with {head:?})")
        }
    }
}

/// Decode `bytes` (the format told by its signature, whatever the file is named), applying the
/// EXIF orientation. The error is a sentence naming what the bytes are.
pub fn decode_image(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err(format!(
            "{}; fastburn reads {IMAGE_FORMATS}",
            describe_format(bytes)
        ));
    }
    // One line, whatever the decoder's message holds.
    let damaged = |e: image::ImageError| {
        let why = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        format!("{} that cannot be decoded: {why}", describe_format(bytes))
    };
    decode_oriented(reader).map_err(damaged)
}

/// Decode what `reader` holds (its format and limits already set) and turn it upright by its
/// EXIF orientation: the one decoding step training, `predict` and `serve` share.
pub fn decode_oriented<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
) -> image::ImageResult<DynamicImage> {
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Open and decode one image file; the error names the file, what it really is and the formats
/// that are read. The fix depends on the command (`train` can skip the file, `predict` cannot),
/// so the caller adds it.
pub fn open_image(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).at(path)?;
    decode_image(&bytes).map_err(|reason| Error::BadImage {
        path: path.to_path_buf(),
        reason,
    })
}

/// True when the image holds no colour: a grey format, or RGB(A) pixels whose channels are all
/// equal (a palette PNG of a grey digit, a grey photo saved as RGB).
pub fn is_grey(img: &DynamicImage) -> bool {
    use image::ColorType::*;
    match img.color() {
        L8 | La8 | L16 | La16 => true,
        _ => {
            let rgb = img.to_rgb8();
            rgb.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
        }
    }
}

/// Pixels in planar order (`[channels, height, width]`, channel-major), 0..=255: 1 channel (grey)
/// or 3 (RGB). Transparent pixels are composited over black, the background of a digit drawn on
/// a transparent canvas.
pub fn planar(img: &DynamicImage, channels: usize) -> Vec<u8> {
    let over_black = |v: u8, a: u8| ((u16::from(v) * u16::from(a) + 127) / 255) as u8;
    if channels == 1 {
        return img
            .to_luma_alpha8()
            .pixels()
            .map(|p| over_black(p.0[0], p.0[1]))
            .collect();
    }
    let rgba = img.to_rgba8();
    let n = (rgba.width() * rgba.height()) as usize;
    let mut out = vec![0u8; 3 * n];
    for (i, p) in rgba.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = over_black(p.0[c], p.0[3]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG of `w x h` with an EXIF APP1 segment saying `orientation` (1-8).
    fn jpeg_with_orientation(w: u32, h: u32, orientation: u16) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([(x * 8) as u8, 0, 0]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        // "Exif\0\0", a big-endian TIFF header, one IFD entry: tag 0x0112 (Orientation), SHORT.
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        tiff.extend(orientation.to_be_bytes());
        tiff.extend([0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff);
        let mut out = jpeg[..2].to_vec(); // SOI
        out.extend([0xFF, 0xE1]);
        out.extend(((app1.len() + 2) as u16).to_be_bytes());
        out.extend(app1);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let upright = decode_image(&jpeg_with_orientation(32, 16, 1)).unwrap();
        assert_eq!((upright.width(), upright.height()), (32, 16));
        // 6: stored rotated; shown turned 90° clockwise: 16 wide, 32 high, the red ramp running
        // down instead of across.
        let turned = decode_image(&jpeg_with_orientation(32, 16, 6)).unwrap();
        assert_eq!((turned.width(), turned.height()), (16, 32));
        let rgb = turned.to_rgb8();
        assert!(rgb.get_pixel(8, 30).0[0] > rgb.get_pixel(8, 1).0[0] + 100);
    }

    #[test]
    fn errors_say_what_the_bytes_are() {
        let err = decode_image(b"<html><body>404</body></html>").unwrap_err();
        assert!(
            err.contains("not an image file") && err.contains("<html>"),
            "{err}"
        );
        let jpeg = jpeg_with_orientation(32, 16, 1);
        let err = decode_image(&jpeg[..jpeg.len() / 2]).unwrap_err();
        assert!(
            err.starts_with("a Jpeg file that cannot be decoded"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        assert_eq!(describe_format(b""), "an empty file");
    }
}
