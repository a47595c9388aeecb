//! Line and scatter plots as PNG or SVG (by the file's extension), for the chapter's figures:
//! the loss curve, the metric over epochs, `plot_function`, the "speed" fit.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, IoContext, Result};

/// DejaVu Sans Mono, embedded so that plots render the same on every machine.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // plotters has no font registry, nor bitmap files, in WebAssembly (see `draw_to_file`).
        #[cfg(not(target_arch = "wasm32"))]
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Line,
    Points,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            mark: Mark::Line,
        }
    }
    pub fn points(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            mark: Mark::Points,
        }
    }
}

/// One panel: a title, axis labels and its series.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Plot x on a log scale (for learning rates).
    pub log_x: bool,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Smallest and largest finite value (infinities when there is none).
fn bounds_raw(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = bounds_raw(values);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

/// A short tick label: `200`, `0.25`, `1e-3`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// Bounds of positive values on a log scale, padded by 5% of the decades they span.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = bounds_raw(values.filter(|v| *v > 0.0).map(f64::log10));
    if !lo.is_finite() {
        return (1e-3, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    (10f64.powf(lo - pad), 10f64.powf(hi + pad))
}

/// The corner of the plot where the legend hides the fewest points: each corner's box (a third
/// of the width, a quarter of the height) is scored by the points inside it.
fn free_corner(p: &Panel, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let fx = |x: f64| {
        if p.log_x {
            (x.max(1e-300).log10() - x0.log10()) / (x1.log10() - x0.log10())
        } else {
            (x - x0) / (x1 - x0)
        }
    };
    let fy = |y: f64| (y - y0) / (y1 - y0);
    let corners = [
        (SeriesLabelPosition::UpperRight, (0.66, 1.0), (0.75, 1.0)),
        (SeriesLabelPosition::UpperLeft, (0.0, 0.34), (0.75, 1.0)),
        (SeriesLabelPosition::LowerRight, (0.66, 1.0), (0.0, 0.25)),
        (SeriesLabelPosition::LowerLeft, (0.0, 0.34), (0.0, 0.25)),
    ];
    let inside = |(xa, xb): (f64, f64), (ya, yb): (f64, f64)| {
        p.series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|&&(x, y)| (xa..=xb).contains(&fx(x)) && (ya..=yb).contains(&fy(y)))
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|(_, xr, yr)| inside(*xr, *yr))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> std::result::Result<(), String> {
    let all = || p.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = if p.log_x {
        log_bounds(all().map(|pt| pt.0))
    } else {
        bounds(all().map(|pt| pt.0))
    };
    let (y0, y1) = bounds(all().map(|pt| pt.1));
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&p.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60);
    let e = |e: &dyn std::fmt::Display| e.to_string();
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .x_desc(&p.x_label)
                .y_desc(&p.y_label)
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(|x| e(&x))?;
            for (i, s) in p.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let drawn = match s.mark {
                    Mark::Line => chart
                        .draw_series(LineSeries::new(
                            s.points.iter().copied(),
                            color.stroke_width(2),
                        ))
                        .map_err(|x| e(&x))?,
                    Mark::Points => chart
                        .draw_series(
                            s.points
                                .iter()
                                .map(|&pt| Circle::new(pt, 3, color.filled())),
                        )
                        .map_err(|x| e(&x))?,
                };
                if !s.name.is_empty() {
                    drawn.label(s.name.clone()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled())
                    });
                }
            }
            if p.series.iter().any(|s| !s.name.is_empty()) {
                let at = free_corner(p, (x0, x1), (y0, y1));
                chart
                    .configure_series_labels()
                    .position(at)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 12))
                    .draw()
                    .map_err(|x| e(&x))?;
            }
        }};
    }
    if p.log_x {
        body!(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(|x| e(&x))?
        );
    } else {
        body!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|x| e(&x))?
        );
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
    cols: usize,
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let rows = panels.len().div_ceil(cols.max(1));
    let areas = root.split_evenly((rows, cols.max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Draw `panels` in a grid of `cols` columns into `path` (`.png` or `.svg`), written atomically.
///
/// ```
/// use fastburn::show::{Panel, Series, save_plot};
/// let p = Panel { title: "x²".into(), series: vec![Series::line("", (0..20).map(|i| (i as f64, (i * i) as f64)).collect())], ..Default::default() };
/// let out = std::env::temp_dir().join("fastburn-doc-plot.png");
/// save_plot(&[p], 1, &out)?;
/// assert!(out.exists());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn save_plot(panels: &[Panel], cols: usize, path: &Path) -> Result<()> {
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols) as u32;
    let size = (480 * cols as u32, 360 * rows.max(1));
    draw_to_file(path, size, &Panels { panels, cols })
}

struct Panels<'a> {
    panels: &'a [Panel],
    cols: usize,
}

impl Drawing for Panels<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        draw_all(root, self.panels, self.cols)
    }
}

/// Something that can draw itself on any plotters canvas (bitmap or SVG).
pub(crate) trait Drawing {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

/// Draw on a bitmap (`.png`) or SVG (`.svg`) canvas of `size`, written to a temporary file beside
/// `path` and renamed into place only when drawing succeeded.
pub(crate) fn draw_to_file(path: &Path, size: (u32, u32), drawing: &impl Drawing) -> Result<()> {
    register_font();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).at(dir)?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let tmp = tempfile::Builder::new()
        .prefix(".fastburn-plot-")
        .suffix(&format!(".{ext}"))
        .tempfile_in(dir)
        .at(dir)?;
    let fail = |reason: String| Error::Draw {
        path: path.to_path_buf(),
        reason,
    };
    match ext {
        "svg" => drawing.draw(SVGBackend::new(tmp.path(), size).into_drawing_area()),
        #[cfg(not(target_arch = "wasm32"))]
        "png" => drawing.draw(BitMapBackend::new(tmp.path(), size).into_drawing_area()),
        // A web page has no files to write PNGs to (fastburn-web does not plot).
        #[cfg(target_arch = "wasm32")]
        "png" => Err("PNG plots are not drawn in WebAssembly".to_string()),
        _ => {
            return Err(fail("pictures are written as .png or .svg".into()));
        }
    }
    .map_err(fail)?;
    #[cfg(unix)]
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .at(path)?;
    tmp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

/// The chapter's `plot_function(f, title, min, max)`: `f` over 100 points of `[min, max]`.
pub fn plot_function(
    f: impl Fn(f64) -> f64,
    title: &str,
    min: f64,
    max: f64,
    path: &Path,
) -> Result<()> {
    let points = (0..100)
        .map(|i| min + (max - min) * i as f64 / 99.0)
        .map(|x| (x, f(x)))
        .collect();
    let panel = Panel {
        title: title.into(),
        x_label: "x".into(),
        y_label: String::new(),
        series: vec![Series::line("", points)],
        log_x: false,
    };
    save_plot(&[panel], 1, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_start_near_the_data_and_legends_avoid_the_curve() {
        // lr_find sweeps 1e-7..10: the axis must not start decades earlier (it once began at 1e-12).
        let (lo, hi) = log_bounds([1e-7, 1e-3, 10.0].into_iter());
        assert!(
            lo > 3e-8 && lo < 1e-7 && hi > 10.0 && hi < 30.0,
            "{lo} {hi}"
        );
        // A falling curve from the upper left: the legend goes elsewhere.
        let falling: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 100.0 - i as f64)).collect();
        let p = Panel {
            series: vec![Series::line("loss", falling)],
            ..Default::default()
        };
        let at = free_corner(&p, (0.0, 99.0), (1.0, 100.0));
        assert!(
            matches!(
                at,
                SeriesLabelPosition::UpperRight | SeriesLabelPosition::LowerLeft
            ),
            "{at:?}"
        );
        // lr_find's shape on a log axis: flat and high at the left, dipping, then blowing up.
        let lrs: Vec<(f64, f64)> = (0..100)
            .map(|i| {
                let lr = 1e-7 * 10f64.powf(i as f64 * 0.08);
                let loss = if i < 60 {
                    1.0 - i as f64 * 0.01
                } else {
                    0.4 + (i - 60) as f64 * 0.1
                };
                (lr, loss)
            })
            .collect();
        let p = Panel {
            series: vec![
                Series::line("", lrs.clone()),
                Series::points("valley", vec![lrs[40]]),
            ],
            log_x: true,
            ..Default::default()
        };
        let at = free_corner(&p, log_bounds(lrs.iter().map(|p| p.0)), (0.3, 4.5));
        assert!(
            matches!(
                at,
                SeriesLabelPosition::LowerLeft
                    | SeriesLabelPosition::LowerRight
                    | SeriesLabelPosition::UpperLeft
            ),
            "{at:?}"
        );
    }
}
