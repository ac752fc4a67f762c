//! Promptbook: a desktop studio for directing synthetic voice performances.
//!
//! `studio` is the egui window, `recorder` the reference-voice recorder, `cli` the `promptbook`
//! subcommands, `logging` the log (stderr and a file in the data folder). Everything that is not UI or command line lives in `promptbook-engine`.

pub mod cli;
pub mod logging;
pub mod messages;
pub mod recorder;
pub mod studio;
