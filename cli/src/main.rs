//! `srs-cli`: see the `srs_cli` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    srs_cli::main_with_args(srs_cli::Args::parse())
}
