//! Looking at data: tensors printed as PyTorch prints them, images as PNG or in the terminal,
//! and the chapter's pixel heat-map.

mod confusion;
mod gray;
mod grid;
mod heatmap;
mod image;
mod plot;
mod repr;
mod term;

pub use confusion::{blues, save_confusion_matrix};
pub use gray::Gray;
pub use grid::{GridImage, Picture, Rgb, save_image_grid};
pub use heatmap::{CellText, heatmap_ansi, heatmap_html, save_heatmap_html, save_heatmap_png};
pub use image::show_image;
pub use plot::{Mark, Panel, Series, plot_function, save_plot};
pub use repr::{repr, repr_data};
pub use term::{render_ascii, render_halfblocks};
