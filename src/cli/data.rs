use crate::data::{Config, DataSet, URLs};
use crate::error::{Error, Result};

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
}

fn lookup(name: &str) -> Result<DataSet> {
    URLs::by_name(name).ok_or_else(|| {
        let names: Vec<_> = URLs::ALL.iter().map(|d| d.name).collect();
        Error::Invalid(format!(
            "unknown data set {name:?}; known: {}",
            names.join(", ")
        ))
    })
}

pub fn run(cfg: &Config, cmd: &DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Fetch { name } => {
            println!("{}", cfg.untar_data(&lookup(name)?)?.display());
        }
        DataCommand::Path { name } => {
            let ds = lookup(name)?;
            let path = cfg.data_path(&ds);
            if !path.is_dir() {
                return Err(Error::MissingFolder {
                    path,
                    fix: format!("run `fastburn data fetch {}` first", ds.name),
                });
            }
            println!("{}", path.display());
        }
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
