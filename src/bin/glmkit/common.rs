//! Arguments shared by every command that reads a corpus, or writes the standard output layout.

use anyhow::{bail, Context, Result};
use clap::Args;
use glmkit::corpus::ShardSpec;
use glmkit::corpus::{expand_inputs, Format, InputFile, PartLimits, ReadOptions};
use glmkit::pipeline::{Progress, RunOptions, RunSummary};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Which files to read, and which fields hold the text and the id.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Input files, directories or globs (.jsonl, .json, .jsonl.zst, .jsonl.gz, .parquet, .txt).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Field that holds the document text.
    #[arg(long, default_value = "text", value_name = "FIELD")]
    pub text_field: String,
    /// Field that holds the document id [default: id] (records without one get `FILE:LINE`;
    /// when named, a Parquet file without that column is an error).
    #[arg(long, value_name = "FIELD")]
    pub id_field: Option<String>,
}

impl InputArgs {
    pub fn files(&self) -> Result<Vec<InputFile>> {
        Ok(expand_inputs(&self.inputs)?)
    }

    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            text_field: self.text_field.clone(),
            id_field: self.id_field.clone().unwrap_or_else(|| "id".into()),
            require_id: self.id_field.is_some(),
        }
    }
}

/// Where and how to write documents, and which part of the work to do.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output directory: kept/, rejected/, quarantine/, stats.json.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Output format of kept/ and rejected/.
    #[arg(long, default_value = "jsonl.zst", value_name = "FORMAT",
          value_parser = ["jsonl", "jsonl.zst", "jsonl.gz", "parquet"])]
    pub format: String,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Process only shard i of n of the input files (default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT, else 0/1).
    #[arg(long, value_name = "i/n")]
    pub shard: Option<ShardSpec>,
    /// Redo input files that a previous run already finished.
    #[arg(long)]
    pub force: bool,
    /// Exit 0 even when an input file is truncated or corrupt (what was read is still written).
    #[arg(long)]
    pub allow_partial: bool,
    /// Records per output file at most.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub shard_docs: u64,
    /// Uncompressed bytes per output file at most (suffixes K, M, G).
    #[arg(long, default_value = "128M", value_name = "BYTES", value_parser = parse_bytes)]
    pub shard_bytes: u64,
    /// Don't show progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Stop after this many input files, as a killed run would (for tests of resume).
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_files: Option<usize>,
}

impl OutputArgs {
    pub fn run_options(&self, input: &InputArgs) -> Result<RunOptions> {
        let shard = match self.shard {
            Some(shard) => shard,
            None => ShardSpec::from_env()
                .map_err(anyhow::Error::msg)?
                .unwrap_or_default(),
        };
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        let mut options = RunOptions::new(&self.output);
        options.format = Format::from_name(&self.format).context("--format")?;
        options.read = input.read_options();
        options.threads = self.threads;
        options.shard = shard;
        options.force = self.force;
        options.limits = PartLimits {
            max_docs: self.shard_docs.max(1),
            max_bytes: self.shard_bytes.max(1),
        };
        options.progress = progress_mode(self.quiet);
        options.stop_after_files = self.stop_after_files;
        Ok(options)
    }

    /// Reports a run and fails it when input files were cut short (unless allowed).
    pub fn finish(&self, summary: &RunSummary) -> Result<()> {
        let s = &summary.shard;
        eprintln!(
            "{} files ({} already done): read {}, kept {}, rejected {}, quarantined {}; totals in {}",
            summary.processed_files + summary.skipped_files,
            summary.skipped_files,
            s.read,
            s.kept,
            s.rejected,
            s.quarantined,
            self.output.join("stats.json").display()
        );
        if !s.breaks.is_empty() {
            for b in &s.breaks {
                eprintln!(
                    "warning: {} is truncated or corrupt after {} (bytes or rows): {}",
                    b.file, b.offset, b.error
                );
            }
            if !self.allow_partial {
                bail!("{} input file(s) could not be read to the end (see above; --allow-partial accepts this)", s.breaks.len());
            }
        }
        Ok(())
    }
}

pub fn progress_mode(quiet: bool) -> Progress {
    if quiet {
        Progress::Quiet
    } else if std::io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Log
    }
}

/// Parses `1000`, `64K`, `128M`, `2G` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 128M)"))?;
    let scale = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit (use K, M or G)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is too large"))
}
