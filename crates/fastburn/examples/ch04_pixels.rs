//! fastbook chapter 4, "Pixels: the foundations of computer vision", step by step.
//!
//! `cargo run --release --example ch04_pixels [-- DATA_DIR]`
//! Uses MNIST_SAMPLE from the cache (or FASTBURN_DATA_URL), DATA_DIR if given, and otherwise the
//! embedded sample. Pictures go to `target/ch04/`.

use std::path::{Path, PathBuf};

use fastburn::data::{Config, URLs};
use fastburn::prelude::*;
use fastburn::show::{
    CellText, heatmap_ansi, render_halfblocks, save_heatmap_html, save_heatmap_png,
};

/// fastai's `L` display: `(#3) [Path('labels.csv'),Path('train'),Path('valid')]`.
fn show_ls(root: &Path, paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .take(3)
        .map(|p| format!("Path('{}')", p.strip_prefix(root).unwrap_or(p).display()))
        .collect();
    let more = if paths.len() > 3 { "..." } else { "" };
    format!("(#{}) [{}{more}]", paths.len(), shown.join(","))
}

fn ls(dir: &Path) -> fastburn::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| fastburn::Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

fn main() -> fastburn::Result<()> {
    let out = PathBuf::from("target/ch04");
    let arg = std::env::args().nth(1).map(PathBuf::from);
    let data = Config::from_env().resolve_data(arg.as_deref(), &URLs::MNIST_SAMPLE, true)?;
    if let Some(note) = data.fallback_note() {
        eprintln!("note: {note}");
    }
    let path = data.path;

    println!(
        ">>> path = untar_data(URLs.MNIST_SAMPLE)\n{}\n",
        path.display()
    );
    println!(">>> path.ls()\n{}\n", show_ls(&path, &ls(&path)?));
    println!(
        ">>> (path/'train').ls()\n{}\n",
        show_ls(&path, &ls(&path.join("train"))?)
    );

    let threes = image_files(&path.join("train").join("3"))?;
    let sevens = image_files(&path.join("train").join("7"))?;
    println!(
        ">>> threes = (path/'train'/'3').ls().sorted()\n{}\n",
        show_ls(&path, &threes)
    );
    println!(">>> sevens\n{}\n", show_ls(&path, &sevens));

    let im3_path = &threes[1];
    let im3 = load_images(std::slice::from_ref(im3_path))?;
    let im3_t = im3.to_tensor_u8(&device()).reshape([28, 28]);
    println!(">>> im3 = Image.open(threes[1])   # {}", im3_path.display());
    print!("{}", render_halfblocks(&Gray::from_tensor(&im3_t)));
    show_image(&Gray::from_tensor(&im3_t), &out.join("im3.png"), 8)?;
    println!("(saved {})\n", out.join("im3.png").display());

    println!(
        ">>> tensor(im3)[4:10,4:10]\n{}\n",
        repr(&im3_t.clone().slice([4..10, 4..10]))
    );
    println!(">>> tensor(im3)[4:15,4:22]   # the DataFrame heat-map");
    let crop = Gray::from_tensor(&im3_t.clone().slice([4..15, 4..22]));
    print!("{}", heatmap_ansi(&crop, CellText::Pixel, false));
    save_heatmap_png(&crop, CellText::Pixel, &out.join("im3_heatmap.png"))?;
    save_heatmap_html(&crop, CellText::Pixel, &out.join("im3_heatmap.html"))?;
    println!(
        "(saved {} and {})",
        out.join("im3_heatmap.png").display(),
        out.join("im3_heatmap.html").display()
    );
    Ok(())
}
