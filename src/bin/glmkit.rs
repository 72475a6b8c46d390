//! The glmkit command line: parse, call the library, print. Each command group lives in its own
//! module under `src/bin/glmkit/`.

// Command groups live in src/bin/glmkit/ (the binary's root is this file, hence the paths).
#[path = "glmkit/bpe.rs"]
mod bpe;
#[path = "glmkit/check.rs"]
mod check;
#[path = "glmkit/common.rs"]
mod common;
#[path = "glmkit/corpus.rs"]
mod corpus;
#[path = "glmkit/dedup.rs"]
mod dedup;
#[path = "glmkit/filter.rs"]
mod filter;
#[path = "glmkit/model.rs"]
mod model;
#[path = "glmkit/quickstart.rs"]
mod quickstart;
#[path = "glmkit/report.rs"]
mod report;
#[path = "glmkit/score.rs"]
mod score;
#[path = "glmkit/slurm.rs"]
mod slurm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "glmkit",
    version,
    about = "Turn raw multilingual text corpora into GLM-4-ready pretraining data",
    after_help = "Every command that writes documents writes OUT/kept, OUT/rejected, OUT/quarantine and \
                  OUT/stats.json, and can run as shard i of n (--shard, or a Slurm array)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert between corpus formats and re-shard.
    Convert(corpus::ConvertArgs),
    /// Describe a corpus: documents, sizes, length percentiles, counts per field value.
    Stats(corpus::StatsArgs),
    /// Identify languages and remove low-quality documents (one-line pipeline).
    Filter(filter::FilterArgs),
    /// Run the steps of a pipeline file (TOML); without one, the default pipeline over the
    /// bundled corpus, then a vocabulary, Megatron shards and report.html (in glmkit-out/).
    Run(filter::RunArgs),
    /// Write report.html for a run directory (figures from its stats and outputs).
    Report(report::ReportArgs),
    /// Exact, fuzzy (MinHash LSH) and line-level deduplication.
    Dedup(dedup::DedupArgs),
    /// Inspect a GLM-4 checkpoint or run its forward pass.
    Model(model::ModelArgs),
    /// Score documents by perplexity under a GLM-4 model; threshold and bucket them.
    Score(score::ScoreArgs),
    /// Byte-level BPE: train, encode, evaluate.
    Bpe(bpe::BpeArgs),
    /// Encode documents into a Megatron-LM indexed dataset (PREFIX.bin + PREFIX.idx).
    Tokenize(bpe::TokenizeArgs),
    /// Check shards against a data contract (exit 0 pass, 1 rule violated, 2 cannot check).
    Check(check::CheckArgs),
    /// Run a pipeline on a Slurm cluster: submit its stages as chained array jobs, follow
    /// them, resume what failed.
    Slurm(slurm::SlurmArgs),
}

fn main() -> anyhow::Result<()> {
    restore_default_sigpipe();
    dispatch(Cli::parse().command)
}

/// Lets a closed pipe end glmkit quietly, as it ends `cat` or `grep`: the Rust runtime ignores
/// SIGPIPE, so `glmkit model score ... | head` would otherwise panic in `println!` once `head`
/// has read enough.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs a glmkit command line (without the program name) in this process: `glmkit run` chains
/// commands this way.
pub fn run_command(args: &[&str]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("glmkit").chain(args.iter().copied()))?;
    dispatch(cli.command)
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Convert(args) => corpus::convert(args),
        Command::Stats(args) => corpus::stats(args),
        Command::Filter(args) => filter::filter(args),
        Command::Run(args) => filter::run(args),
        Command::Report(args) => report::run(args),
        Command::Dedup(args) => dedup::run(args),
        Command::Model(args) => model::run(args),
        Command::Score(args) => score::run(args),
        Command::Bpe(args) => bpe::run(args),
        Command::Tokenize(args) => bpe::run_tokenize(args),
        Command::Check(args) => check::run(args),
        Command::Slurm(args) => slurm::run(args),
    }
}
