//! Promptbook: a desktop studio for directing synthetic voice performances.
//!
//! `studio` is the egui window, `recorder` the reference-voice recorder, `cli` the `promptbook`
//! subcommands. Everything that is not UI or command line lives in `promptbook-engine`.

pub mod cli;
pub mod messages;
pub mod recorder;
pub mod studio;
