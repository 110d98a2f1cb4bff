//! `srs-bench`: see the `srs_bench` library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match srs_bench::run(srs_bench::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("srs-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
