//! Promptbook: a desktop studio for directing synthetic voice performances.
//!
//! `studio` is the egui window; `cli` the `promptbook` subcommands. Everything that is not UI or command
//! line lives in `promptbook-engine`.

pub mod cli;
pub mod studio;
