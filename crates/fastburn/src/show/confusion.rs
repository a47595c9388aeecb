//! fastai's `plot_confusion_matrix`: a titled grid of counts, coloured on a blue scale, with the
//! class names along "Actual" (rows) and "Predicted" (columns), and a colour bar.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::{Drawing, draw_to_file};
use crate::error::{Error, Result};

/// matplotlib's "Blues" (fastai's default map) from white (0) to dark blue (1).
pub fn blues(t: f64) -> RGBColor {
    const STOPS: [(f64, [u8; 3]); 5] = [
        (0.0, [247, 251, 255]),
        (0.25, [198, 219, 239]),
        (0.5, [107, 174, 214]),
        (0.75, [33, 113, 181]),
        (1.0, [8, 48, 107]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = STOPS.iter().rposition(|s| s.0 <= t).unwrap_or(0).min(3);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let f = (t - a.0) / (b.0 - a.0);
    let mix = |k: usize| (a.1[k] as f64 + (b.1[k] as f64 - a.1[k] as f64) * f).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

struct Matrix<'a> {
    counts: &'a [Vec<usize>],
    vocab: &'a [String],
    cell: i32,
    left: i32,
    top: i32,
}

impl Drawing for Matrix<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let e = |x: &dyn std::fmt::Display| x.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let n = self.counts.len() as i32;
        let max = self
            .counts
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let (cell, left, top) = (self.cell, self.left, self.top);
        let font = |size: i32| ("sans-serif", size).into_font();
        let centred = Pos::new(HPos::Center, VPos::Center);
        let label = |size: i32| TextStyle::from(font(size)).pos(centred);
        let (w, _) = root.dim_in_pixel();
        root.draw(&Text::new(
            "Confusion matrix",
            (w as i32 / 2, 22),
            label(20),
        ))
        .map_err(|x| e(&x))?;
        for (r, row) in self.counts.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let (x, y) = (left + c as i32 * cell, top + r as i32 * cell);
                let t = v as f64 / max;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    blues(t).filled(),
                ))
                .map_err(|x| e(&x))?;
                let color = if t > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    v.to_string(),
                    (x + cell / 2, y + cell / 2),
                    label(16).color(&color),
                ))
                .map_err(|x| e(&x))?;
            }
        }
        root.draw(&Rectangle::new(
            [(left, top), (left + n * cell, top + n * cell)],
            BLACK.stroke_width(1),
        ))
        .map_err(|x| e(&x))?;
        for (i, name) in self.vocab.iter().enumerate() {
            let mid = i as i32 * cell + cell / 2;
            let name: String = name.chars().take(12).collect();
            root.draw(&Text::new(
                name.clone(),
                (left + mid, top + n * cell + 14),
                label(13),
            ))
            .map_err(|x| e(&x))?;
            root.draw(&Text::new(
                name,
                (left - 8, top + mid),
                TextStyle::from(font(13)).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(|x| e(&x))?;
        }
        root.draw(&Text::new(
            "Predicted",
            (left + n * cell / 2, top + n * cell + 40),
            label(16),
        ))
        .map_err(|x| e(&x))?;
        root.draw(&Text::new(
            "Actual",
            (18, top + n * cell / 2),
            label(16).transform(FontTransform::Rotate270),
        ))
        .map_err(|x| e(&x))?;
        // The colour bar: 0 at the bottom, the largest count at the top.
        let (bx, bh) = (left + n * cell + 24, n * cell);
        for k in 0..bh {
            let t = 1.0 - k as f64 / (bh - 1).max(1) as f64;
            root.draw(&Rectangle::new(
                [(bx, top + k), (bx + 16, top + k + 1)],
                blues(t).filled(),
            ))
            .map_err(|x| e(&x))?;
        }
        root.draw(&Rectangle::new(
            [(bx, top), (bx + 16, top + bh)],
            BLACK.stroke_width(1),
        ))
        .map_err(|x| e(&x))?;
        let side = TextStyle::from(font(12)).pos(Pos::new(HPos::Left, VPos::Center));
        for (v, y) in [(max as usize, top), (0, top + bh)] {
            root.draw(&Text::new(v.to_string(), (bx + 22, y), side.clone()))
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))
    }
}

/// Save a confusion matrix (`counts[actual][predicted]`) with its class names, as fastai draws
/// it, to a `.png` or `.svg`, written atomically.
///
/// ```
/// let counts = vec![vec![50, 2], vec![1, 47]];
/// let out = std::env::temp_dir().join("fastburn-doc-confusion.png");
/// fastburn::show::save_confusion_matrix(&counts, &["3".into(), "7".into()], &out)?;
/// assert!(image::image_dimensions(&out).unwrap().0 >= 300);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn save_confusion_matrix(counts: &[Vec<usize>], vocab: &[String], path: &Path) -> Result<()> {
    let n = counts.len();
    if n == 0 || counts.iter().any(|r| r.len() != n) || vocab.len() < n {
        let rows: Vec<usize> = counts.iter().map(Vec::len).collect();
        return Err(Error::Shape {
            what: "confusion matrix",
            expected: "n rows of n counts, and n class names".into(),
            got: format!("rows of {rows:?} counts, {} class names", vocab.len()),
        });
    }
    // Cells big enough for a 5-digit count; the picture at least 420 px wide.
    let cell = (480 / n as i32).clamp(36, 90);
    let widest = vocab
        .iter()
        .map(|v| v.chars().count().min(12))
        .max()
        .unwrap_or(1) as i32;
    let (left, top) = (40 + 8 * widest + 12, 48);
    let size = (
        (left + n as i32 * cell + 90) as u32,
        (top + n as i32 * cell + 60) as u32,
    );
    let drawing = Matrix {
        counts,
        vocab,
        cell,
        left,
        top,
    };
    draw_to_file(path, size, &drawing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_its_axes_classes_and_scale() {
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("cm.svg");
        let vocab: Vec<String> = ["cat", "dog", "bird"].map(String::from).to_vec();
        let counts = vec![vec![30, 2, 1], vec![4, 25, 0], vec![0, 3, 28]];
        save_confusion_matrix(&counts, &vocab, &svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        for label in [
            "Confusion matrix",
            "Actual",
            "Predicted",
            "cat",
            "dog",
            "bird",
            "30",
            "28",
        ] {
            assert!(
                text.contains(&format!(">\n{label}\n<")),
                "no {label:?} in the picture"
            );
        }
        let png = dir.path().join("cm.png");
        save_confusion_matrix(&counts, &vocab, &png).unwrap();
        let (w, h) = image::image_dimensions(&png).unwrap();
        assert!(
            w >= 300 && h >= 250,
            "{w}x{h}: readable at the size a person sees it"
        );
        assert!(save_confusion_matrix(&[vec![1, 2]], &vocab, &png).is_err());
    }

    #[test]
    fn blues_runs_from_white_to_dark_blue() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        let mid = blues(0.5);
        assert_eq!(mid, RGBColor(107, 174, 214));
        assert!(blues(0.3).2 > blues(0.9).2);
    }
    use plotters::style::RGBColor;
}
