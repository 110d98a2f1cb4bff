//! `srs-master`: see the `srs_master` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    srs_master::main_with_args(srs_master::Args::parse())
}
