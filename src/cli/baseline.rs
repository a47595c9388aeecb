use crate::baseline::{BaselineReport, run_baseline};
use crate::data::{Config, Resolved, URLs};
use crate::error::Result;

use super::DataArg;

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub data: DataArg,
}

pub fn run(cfg: &Config, args: &BaselineArgs) -> Result<()> {
    let resolved = cfg.resolve_data(args.data.data.as_deref(), &URLs::MNIST_SAMPLE, true)?;
    resolved.note_fallback();
    baseline_on(cfg, &resolved)
}

fn baseline_on(cfg: &Config, resolved: &Resolved) -> Result<()> {
    println!("data: {}", resolved.description);
    let report = run_baseline(&resolved.path, &cfg.device())?;
    print_report(&report);
    Ok(())
}

/// The main job (no command): the chapter in two steps, the baseline then `simple_net`.
pub fn main_job(cfg: &Config) -> Result<()> {
    let resolved = cfg.resolve_data(None, &URLs::MNIST_SAMPLE, true)?;
    resolved.note_fallback();
    baseline_on(cfg, &resolved)?;
    println!();
    let args = super::train::TrainArgs::defaults(crate::models::Arch::SimpleNet);
    super::train::train_on(cfg, &resolved, &args)
}

fn print_report(r: &BaselineReport) {
    let [t3, t7, v3, v7] = r.counts;
    println!("images: train 3s {t3}, train 7s {t7}, valid 3s {v3}, valid 7s {v7}");
    println!("pixel similarity, valid accuracy:");
    println!("accuracy 3s      {:.4}", r.accuracy_3s);
    println!("accuracy 7s      {:.4}", r.accuracy_7s);
    println!("accuracy overall {:.4}", r.accuracy);
}
