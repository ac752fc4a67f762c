//! Command-line subcommands.

pub mod check_clip;
pub mod record;
