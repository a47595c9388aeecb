//! `fastburn baseline` and the main job (no command).

use fastburn::baseline::{BaselineReport, run_baseline};
use fastburn::data::{Config, Resolved};

use super::train::{TrainArgs, resolve, train_on};
use crate::cli::{DataArg, SourceOpts};

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub data: DataArg,
}

pub fn run(cfg: &Config, args: &BaselineArgs) -> anyhow::Result<()> {
    let source = SourceOpts {
        data: args.data.clone(),
        ..SourceOpts::default()
    };
    baseline_on(cfg, &resolve(cfg, &source)?)
}

fn baseline_on(cfg: &Config, resolved: &Resolved) -> anyhow::Result<()> {
    println!("data: {}", resolved.description);
    let report = run_baseline(&resolved.path, &cfg.device()?)?;
    print_report(&report);
    Ok(())
}

/// The main job (no command): the chapter in two steps, the baseline then `simple_net`.
pub fn main_job(cfg: &Config) -> anyhow::Result<()> {
    let resolved = resolve(cfg, &SourceOpts::default())?;
    baseline_on(cfg, &resolved)?;
    println!();
    train_on(cfg, &resolved, &TrainArgs::default())
}

fn print_report(r: &BaselineReport) {
    let [t3, t7, v3, v7] = r.counts;
    println!("images: train 3s {t3}, train 7s {t7}, valid 3s {v3}, valid 7s {v7}");
    println!("pixel similarity, valid accuracy:");
    println!("accuracy 3s      {:.4}", r.accuracy_3s);
    println!("accuracy 7s      {:.4}", r.accuracy_7s);
    println!("accuracy overall {:.4}", r.accuracy);
}
