//! `gradlab`: a thin command-line layer over the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod compare;
mod data_cmd;
mod diagnose;
mod interrupt;
mod landscape;
mod landscape_run;
mod lr_find;
mod outputs;
mod run_flags;
mod train;

#[derive(Parser)]
#[command(
    name = "gradlab",
    version,
    about = "Train neural networks and understand how they converge"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run optimizers on analytic test functions (or, with --run DIR, draw a trained run's loss
    /// along its path) and write the result as JSON (and a plot).
    Landscape(landscape::Args),
    /// Train a model described by a run config (data, model, optimizer, schedule, logging).
    Train(train::Args),
    /// Train with the doctor's instruments on and report convergence problems and remedies.
    Diagnose(diagnose::Args),
    /// The learning-rate range test: sweep the lr over a few seeds and suggest one (SVG, JSON).
    LrFind(lr_find::Args),
    /// Run a study comparing optimizers on problems (default: the bundled study) and report it.
    Compare(compare::CompareArgs),
    /// Analyse a stored study again and write its HTML report (and the tables).
    Report(compare::ReportArgs),
    /// List the datasets, or download MNIST / Fashion-MNIST / CIFAR-10 from their mirrors.
    Data {
        #[command(subcommand)]
        what: data_cmd::What,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = kernels::check_kernel_var() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Landscape(args) => landscape::run(args),
        Command::Train(args) => {
            interrupt::on_ctrl_c(interrupt::train_hint("train", &args.config));
            train::run(args)
        }
        Command::Diagnose(args) => diagnose::run(args),
        Command::LrFind(args) => lr_find::run(args),
        Command::Data { what } => data_cmd::run(what),
        Command::Compare(args) => {
            interrupt::on_ctrl_c(interrupt::compare_hint());
            compare::run_compare(args)
        }
        Command::Report(args) => compare::run_report(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
