//! `fastburn data`: fetch, locate, list and check data sets.

use anyhow::{anyhow, bail};
use fastburn::data::{Config, DataSet, URLs};

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Download (if needed) and extract a data set; prints its folder.
    Fetch {
        /// mnist_sample, mnist or mnist_tiny
        name: String,
    },
    /// Print a data set's folder in the cache (fails if it is not there yet).
    Path {
        /// mnist_sample, mnist or mnist_tiny
        name: String,
    },
    /// List the data sets, where they come from and whether they are cached.
    List,
    /// Decode every image under DIR (as training would) and report class counts per split,
    /// sizes, colour, and every unreadable file with why; fails when any is unreadable
    Check {
        /// A folder of class folders, split into train/ and valid/ or not
        dir: std::path::PathBuf,
    },
}

fn lookup(name: &str) -> anyhow::Result<DataSet> {
    URLs::by_name(name).ok_or_else(|| {
        let names: Vec<_> = URLs::ALL.iter().map(|d| d.name).collect();
        anyhow!("unknown data set {name:?}; known: {}", names.join(", "))
    })
}

pub fn run(cfg: &Config, cmd: &DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Fetch { name } => {
            println!("{}", cfg.untar_data(&lookup(name)?)?.display());
        }
        DataCommand::Path { name } => {
            let ds = lookup(name)?;
            let path = cfg.data_path(&ds);
            if !path.is_dir() {
                bail!(
                    "{}: not in the cache yet; run `fastburn data fetch {}` first",
                    path.display(),
                    ds.name
                );
            }
            println!("{}", path.display());
        }
        DataCommand::Check { dir } => return check(dir),
        DataCommand::List => {
            for ds in URLs::ALL {
                let state = if cfg.data_path(&ds).is_dir() {
                    "extracted"
                } else if cfg.archive_path(&ds).is_file() {
                    "downloaded"
                } else {
                    "not cached"
                };
                println!("{:<13} {:<11} {}", ds.name, state, cfg.source_url(&ds));
            }
        }
    }
    Ok(())
}

/// `fastburn data check DIR`.
fn check(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    let files = fastburn::data::get_image_files(dir)?;
    if files.is_empty() {
        return Err(fastburn::Error::EmptyFolder {
            path: dir.to_path_buf(),
        }
        .into());
    }
    let found = fastburn::data::check_images(&files);
    // Split (train/valid/...; `None` without split folders) and class of each file: its top
    // folder and its parent folder.
    let place = |p: &std::path::Path| {
        let rel = p.strip_prefix(dir).unwrap_or(p);
        let parts: Vec<String> = rel
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let class = parts
            .len()
            .checked_sub(2)
            .map_or_else(|| "(no class folder)".to_string(), |i| parts[i].clone());
        let split = (parts.len() > 2).then(|| parts[0].clone());
        (split, class)
    };
    let mut counts: BTreeMap<String, BTreeMap<Option<String>, usize>> = BTreeMap::new();
    let mut sizes: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut colour = 0;
    for (i, info) in found.iter().enumerate() {
        if let Ok((dims, grey)) = info {
            let (split, class) = place(&files[i]);
            *counts.entry(class).or_default().entry(split).or_default() += 1;
            *sizes.entry(*dims).or_default() += 1;
            colour += usize::from(!grey);
        }
    }
    let good: usize = sizes.values().sum();
    println!(
        "{}: {} images in {} classes; {} unreadable",
        dir.display(),
        good,
        counts.len(),
        files.len() - good
    );
    for (class, splits) in &counts {
        let parts: Vec<String> = splits
            .iter()
            .map(|(s, n)| match s {
                Some(split) => format!("{split} {n}"),
                None => n.to_string(),
            })
            .collect();
        println!("  {class}: {}", parts.join(", "));
    }
    if counts.values().any(|splits| splits.contains_key(&None)) {
        println!(
            "  (no train/ and valid/ folders: train holds out 20% at random, or --valid-pct P)"
        );
    }
    if let (Some(small), Some(large)) = (
        sizes.keys().min_by_key(|(h, w)| h * w),
        sizes.keys().max_by_key(|(h, w)| h * w),
    ) {
        let (common, n) = sizes.iter().max_by_key(|(_, n)| **n).expect("not empty");
        println!(
            "sizes: {} different, {}x{} to {}x{} (height x width), most common {}x{} ({n}); {} colour, {} grey",
            sizes.len(),
            small.0,
            small.1,
            large.0,
            large.1,
            common.0,
            common.1,
            colour,
            good - colour
        );
        if sizes.len() > 1 {
            println!("  (train with --size N to bring them to one size)");
        }
    }
    let bad: Vec<(usize, &String)> = found
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .collect();
    for (i, reason) in &bad {
        println!("unreadable: {}: {reason}", files[*i].display());
    }
    if !bad.is_empty() {
        bail!(
            "{}: {} unreadable image files (listed above); remove them, or train with --skip-bad",
            dir.display(),
            bad.len()
        );
    }
    Ok(())
}
