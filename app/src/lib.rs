//! Promptbook, the studio: the recorder and the command line, as a library so that the binary
//! (`main.rs`) and the integration tests share them.

pub mod cli;
pub mod recorder;
