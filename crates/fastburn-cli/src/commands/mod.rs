//! One module per subcommand: its arguments and what it runs.

pub mod baseline;
pub mod data;
pub mod interpret;
pub mod lr_find;
pub mod predict;
pub mod serve;
pub mod show;
pub mod train;
