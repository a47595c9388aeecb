//! The chapter's `pd.DataFrame(im3_t[4:15,4:22]).style.background_gradient('Greys')`: every pixel's
//! number written in a cell shaded by its value, as a PNG or an HTML table.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::gray::Gray;
use super::image::save_png;
use crate::error::{IoContext, Result};
use crate::fsutil::write_bytes_atomic;

/// How a cell's number is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellText {
    /// The value times 255, rounded: the pixel byte, as the book's table shows.
    Pixel,
    /// The value with this many decimals.
    Decimals(usize),
}

impl CellText {
    fn text(self, v: f32) -> String {
        match self {
            CellText::Pixel => format!("{}", (v * 255.0).round() as i64),
            CellText::Decimals(d) => format!("{v:.d$}"),
        }
    }
}

/// Shade for a value: pandas normalises to the table's min..max and maps through `Greys`
/// (low white, high black); text turns white on dark cells as pandas does.
fn shade(v: f32, (lo, hi): (f32, f32)) -> (u8, bool) {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
    let level = 255 - (t.clamp(0.0, 1.0) * 255.0).round() as u8;
    (level, (level as f32 / 255.0) < 0.408)
}

/// The heat-map as an HTML page (open it in a browser, as the notebook shows the DataFrame).
///
/// ```
/// use fastburn::show::{CellText, Gray, heatmap_html};
/// let g = Gray { height: 1, width: 2, values: vec![0.0, 1.0] };
/// let html = heatmap_html(&g, CellText::Pixel);
/// assert!(html.contains(">255<") && html.contains("background:#000000"));
/// ```
pub fn heatmap_html(img: &Gray, text: CellText) -> String {
    let range = img.range();
    let mut html = String::from(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<table style=\"border-collapse:collapse;\
         font:6pt sans-serif\">\n<tr><th></th>",
    );
    for c in 0..img.width {
        html.push_str(&format!("<th>{c}</th>"));
    }
    html.push_str("</tr>\n");
    for r in 0..img.height {
        html.push_str(&format!("<tr><th>{r}</th>"));
        for c in 0..img.width {
            let v = img.at(r, c);
            let (level, dark) = shade(v, range);
            let fg = if dark { "#f1f1f1" } else { "#000000" };
            html.push_str(&format!(
                "<td style=\"background:#{level:02x}{level:02x}{level:02x};color:{fg};\
                 padding:1px 3px;text-align:right\">{}</td>",
                text.text(v)
            ));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// Write [`heatmap_html`] to a file (atomically).
pub fn save_heatmap_html(img: &Gray, text: CellText, path: &Path) -> Result<()> {
    write_bytes_atomic(path, heatmap_html(img, text).as_bytes())
}

const GLYPH_W: u32 = 3;
const GLYPH_H: u32 = 5;
const FONT_SCALE: u32 = 2;

/// 3x5 bitmaps, one row a byte (bits 2..0 left to right), for the characters numbers need.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        _ => [0; 5],
    }
}

fn draw_text(img: &mut RgbImage, text: &str, right: u32, top: u32, color: Rgb<u8>) {
    let advance = (GLYPH_W + 1) * FONT_SCALE;
    let mut x0 = right.saturating_sub(advance * text.chars().count() as u32);
    for ch in text.chars() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits >> (GLYPH_W - 1 - col) & 1 == 1 {
                    for dy in 0..FONT_SCALE {
                        for dx in 0..FONT_SCALE {
                            let (x, y) = (
                                x0 + col * FONT_SCALE + dx,
                                top + row as u32 * FONT_SCALE + dy,
                            );
                            if x < img.width() && y < img.height() {
                                img.put_pixel(x, y, color);
                            }
                        }
                    }
                }
            }
        }
        x0 += advance;
    }
}

/// The heat-map as a PNG: one shaded cell per value with its number in it.
///
/// ```
/// use fastburn::show::{CellText, Gray, save_heatmap_png};
/// let g = Gray { height: 2, width: 3, values: vec![0.0, 0.5, 1.0, 0.2, 0.4, 0.6] };
/// let out = std::env::temp_dir().join("fastburn-doc-heatmap.png");
/// save_heatmap_png(&g, CellText::Pixel, &out)?;
/// assert!(out.exists());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn save_heatmap_png(img: &Gray, text: CellText, path: &Path) -> Result<()> {
    let range = img.range();
    let texts: Vec<String> = img.values.iter().map(|&v| text.text(v)).collect();
    let chars = texts.iter().map(|t| t.chars().count()).max().unwrap_or(1) as u32;
    let cell_w = chars * (GLYPH_W + 1) * FONT_SCALE + 6;
    let cell_h = GLYPH_H * FONT_SCALE + 6;
    let mut out = RgbImage::new(cell_w * img.width as u32, cell_h * img.height as u32);
    for r in 0..img.height {
        for c in 0..img.width {
            let (level, dark) = shade(img.at(r, c), range);
            let (x0, y0) = (c as u32 * cell_w, r as u32 * cell_h);
            for y in y0..y0 + cell_h {
                for x in x0..x0 + cell_w {
                    out.put_pixel(x, y, Rgb([level; 3]));
                }
            }
            let fg = if dark { Rgb([241; 3]) } else { Rgb([0; 3]) };
            draw_text(
                &mut out,
                &texts[r * img.width + c],
                x0 + cell_w - 3,
                y0 + 3,
                fg,
            );
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    save_png(&image::DynamicImage::ImageRgb8(out), path)
}

/// The heat-map for a terminal: right-aligned numbers, on shaded cells when `color`.
pub fn heatmap_ansi(img: &Gray, text: CellText, color: bool) -> String {
    let range = img.range();
    let texts: Vec<String> = img.values.iter().map(|&v| text.text(v)).collect();
    let width = texts.iter().map(String::len).max().unwrap_or(1) + 1;
    let mut out = String::new();
    for r in 0..img.height {
        for c in 0..img.width {
            let t = &texts[r * img.width + c];
            if color {
                let (level, dark) = shade(img.at(r, c), range);
                let fg = if dark { 241 } else { 0 };
                out.push_str(&format!(
                    "\x1b[48;2;{level};{level};{level}m\x1b[38;2;{fg};{fg};{fg}m{t:>width$}"
                ));
            } else {
                out.push_str(&format!("{t:>width$}"));
            }
        }
        out.push_str(if color { "\x1b[0m\n" } else { "\n" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_follow_the_greys_map() {
        assert_eq!(shade(0.0, (0.0, 1.0)), (255, false));
        assert_eq!(shade(1.0, (0.0, 1.0)), (0, true));
        assert_eq!(CellText::Pixel.text(29.0 / 255.0), "29");
        assert_eq!(CellText::Decimals(2).text(0.1234), "0.12");
    }
}
