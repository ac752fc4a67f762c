//! The `promptbook` binary: the studio when run without a subcommand, the command line otherwise.

fn main() -> std::process::ExitCode {
    promptbook::logging::init();
    promptbook::cli::main()
}
