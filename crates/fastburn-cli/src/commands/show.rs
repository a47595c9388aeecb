//! `fastburn show`: an image, a mean image or a heat-map, in the terminal or a file.

use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::bail;
use fastburn::data::{load_folder, read_gray};
use fastburn::error::PathKind;
use fastburn::show::{
    CellText, Gray, heatmap_ansi, render_ascii, render_halfblocks, save_heatmap_html,
    save_heatmap_png, show_image,
};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A PNG image, or a folder of them (shows their mean image)
    pub path: PathBuf,
    /// Write to a file instead of the terminal: .png (image or heat-map) or .html (heat-map)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show each pixel's value on a grey gradient (the chapter's DataFrame view)
    #[arg(long)]
    pub heatmap: bool,
    /// Rows and columns to keep, as in `im3[4..15, 4..22]`
    #[arg(long, value_name = "R0..R1,C0..C1", value_parser = parse_crop)]
    pub crop: Option<(Range<usize>, Range<usize>)>,
    /// Pixel size in the PNG written by --out
    #[arg(long, default_value_t = 8)]
    pub scale: u32,
}

fn parse_range(s: &str) -> std::result::Result<Range<usize>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?} is not a range like 4..10"))?;
    let a: usize = a
        .trim()
        .parse()
        .map_err(|_| format!("bad range start in {s:?}"))?;
    let b: usize = b
        .trim()
        .parse()
        .map_err(|_| format!("bad range end in {s:?}"))?;
    if a >= b {
        return Err(format!("empty range {s:?}"));
    }
    Ok(a..b)
}

fn parse_crop(s: &str) -> std::result::Result<(Range<usize>, Range<usize>), String> {
    let (r, c) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?}: want R0..R1,C0..C1"))?;
    Ok((parse_range(r)?, parse_range(c)?))
}

fn load(path: &Path) -> fastburn::Result<Gray> {
    if path.is_dir() {
        let stack = load_folder(path)?;
        let n = stack.len() as f32;
        let mut values = vec![0f32; stack.height * stack.width];
        for i in 0..stack.len() {
            for (acc, &p) in values.iter_mut().zip(stack.image(i)) {
                *acc += p as f32 / 255.0;
            }
        }
        values.iter_mut().for_each(|v| *v /= n);
        Ok(Gray {
            height: stack.height,
            width: stack.width,
            values,
        })
    } else if path.is_file() {
        let (px, h, w) = read_gray(path)?;
        Ok(Gray::from_u8(&px, h, w))
    } else {
        Err(fastburn::Error::NotFound {
            path: path.to_path_buf(),
            expected: PathKind::File,
        })
    }
}

pub fn run(args: &ShowArgs) -> anyhow::Result<()> {
    let mut img = load(&args.path)?;
    if let Some((rows, cols)) = &args.crop {
        img = img.crop(rows.clone(), cols.clone())?;
    }
    let text = if args.path.is_dir() {
        CellText::Decimals(2)
    } else {
        CellText::Pixel
    };
    match &args.out {
        Some(out) => {
            let ext = out
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            match (ext.as_str(), args.heatmap) {
                ("html" | "htm", _) => save_heatmap_html(&img, text, out)?,
                ("png", true) => save_heatmap_png(&img, text, out)?,
                ("png", false) => show_image(&img, out, args.scale)?,
                _ => bail!("{}: --out must end in .png or .html", out.display()),
            }
            eprintln!("wrote {}", out.display());
        }
        None => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let s = match (args.heatmap, color) {
                (true, _) => heatmap_ansi(&img, text, color),
                (false, true) => render_halfblocks(&img),
                (false, false) => render_ascii(&img),
            };
            print!("{s}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_parse() {
        assert_eq!(parse_crop("4..10,4..22").unwrap(), (4..10, 4..22));
        assert!(parse_crop("4..10").is_err());
        assert!(parse_crop("10..4,0..1").is_err());
    }
}
