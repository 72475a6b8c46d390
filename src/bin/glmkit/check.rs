//! `glmkit check`: evaluate a data contract over shards, for CI. Exit 0 when every rule holds,
//! 1 when one is violated, 2 when the check could not run.

use anyhow::{bail, Context, Result};
use clap::Args;
use glmkit::check::{check, Baseline, CheckOptions, Contract};
use glmkit::corpus::expand_inputs;
use std::path::{Path, PathBuf};

/// Check shards against a data contract (TOML): schema, encoding, length, duplicates, language,
/// quality, perplexity and tokenizer rules, each with its thresholds (see docs/ci.md).
///
/// Prints one line per rule (PASS/FAIL, measured value, threshold, and the first offending
/// records by file and line). Exit status: 0 every rule holds, 1 a rule is violated, 2 the check
/// could not run (bad contract, unreadable or truncated input, missing model or tokenizer).
#[derive(Args)]
pub struct CheckArgs {
    /// Input files, directories or globs (.jsonl, .json, .jsonl.zst, .jsonl.gz, .parquet, .txt).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// The contract: which rules to check and their thresholds.
    #[arg(long, value_name = "CONTRACT.toml")]
    contract: PathBuf,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the report as JUnit XML (one test case per rule).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Perplexity statistics of an earlier check (from --write-baseline): the perplexity rule's
    /// `max_median_shift` is checked against them.
    #[arg(long, value_name = "STATS.json")]
    baseline: Option<PathBuf>,
    /// Write this check's perplexity statistics, for a later --baseline.
    #[arg(long, value_name = "STATS.json")]
    write_baseline: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print nothing but errors (the exit status and the files still tell).
    #[arg(long, short)]
    quiet: bool,
}

/// Runs the command and exits with its status: 0, 1, or 2 with the error on stderr.
pub fn run(args: CheckArgs) -> ! {
    match run_check(&args) {
        Ok(passed) => std::process::exit(if passed { 0 } else { 1 }),
        Err(error) => {
            eprintln!("glmkit check: error: {error:#}");
            std::process::exit(2)
        }
    }
}

fn run_check(args: &CheckArgs) -> Result<bool> {
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let contract = Contract::from_file(&args.contract)?;
    if contract.perplexity.is_none() && (args.baseline.is_some() || args.write_baseline.is_some()) {
        bail!(
            "{}: --baseline and --write-baseline need a [perplexity] table",
            args.contract.display()
        );
    }
    let baseline = args.baseline.as_deref().map(Baseline::read).transpose()?;
    let inputs = expand_inputs(&args.inputs)?;
    let options = CheckOptions {
        threads: args.threads,
        baseline,
    };
    let result = check(&inputs, &contract, &options)?;
    let report = &result.report;
    if !args.quiet {
        print!("{}", report.to_human());
    }
    if let Some(path) = &args.json {
        write(path, &report.to_json())?;
    }
    if let Some(path) = &args.junit {
        write(path, &report.to_junit())?;
    }
    if let (Some(path), Some(stats)) = (&args.write_baseline, &result.baseline) {
        stats.write(path)?;
    }
    Ok(report.passed)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
