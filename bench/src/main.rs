//! `gradlab-bench`: gradlab's benchmarks, kept beside the product (like ripgrep's benchsuite).
//!
//! - `optimizers` ([`optimizers`]): optimizer update throughput against a STREAM-style triad,
//!   and against PyTorch with `--torch` (bench/optimizers.sh runs both);
//! - `train` ([`train`]): training-step throughput of the nn engine on three workloads
//!   (bench/train.sh runs PyTorch and JAX on the same workloads);
//! - `doctor` ([`doctor`]): what the doctor's instruments cost;
//! - `gemm` ([`gemm`]): the SGEMM on W1's products against the core's measured FMA peak.
//!
//! Micro-benchmarks are examples of this crate: `cargo run --release -p bench --example
//! gemm_bench` (the engine's SGEMM against the `gemm` crate), `step_breakdown` (where a training
//! step's time goes) and `fused_micro` (the fused chain executor against hand-written loops).
//! bench/compare.sh times a whole study against its PyTorch replay (bench/compare_torch.py).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cpu_time;
mod doctor;
mod gemm;
mod optimizers;
mod train;

#[derive(Parser)]
#[command(
    name = "gradlab-bench",
    version,
    about = "Measure gradlab's performance against the machine's memory bandwidth and its peers"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Optimizer update throughput against a STREAM-style triad.
    Optimizers(optimizers::OptimizersArgs),
    /// Training-step throughput of the nn engine (MLPs and a CNN with Adam).
    Train(train::TrainArgs),
    /// What the doctor's instruments cost: training time without, with economy, with full.
    Doctor(doctor::DoctorArgs),
    /// The SGEMM on W1's products at one thread against the core's measured FMA peak.
    Gemm(gemm::GemmArgs),
}

fn main() -> ExitCode {
    if let Err(e) = kernels::check_kernel_var() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match Cli::parse().what {
        What::Optimizers(args) => optimizers::run(args),
        What::Train(args) => train::run(args),
        What::Doctor(args) => doctor::run(args),
        What::Gemm(args) => gemm::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
