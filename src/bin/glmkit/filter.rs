//! `glmkit filter` (language id + quality rules in one line) and `glmkit run` (a pipeline file).

use crate::common::{parse_bytes, InputArgs, OutputArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use glmkit::corpus::ShardSpec;
use glmkit::filter::{self, FilterOptions, LangIdConfig, NormalizeConfig};
use glmkit::pipeline;
use std::path::PathBuf;

/// Identify languages and remove low-quality documents (Gopher, C4, FineWeb, encoding rules,
/// with per-language settings). Every kept and rejected record gets glmkit.lang and
/// glmkit.lang_score.
#[derive(Args, Debug)]
pub struct FilterArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Keep only documents in these languages (ISO 639-1, comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_name = "LANGS")]
    langs: Vec<String>,
    /// Remove documents whose language is identified with a score below this (0-1; the
    /// default was measured on the shared corpus, see docs/filter.md). Text in no candidate's
    /// script (`und`) is not judged by it.
    #[arg(long, default_value_t = filter::langid::DEFAULT_MIN_SCORE, value_name = "SCORE")]
    min_lang_score: f64,
    /// Candidate languages of the identifier (default: the 24 corpus languages, th, hi, he, fa, la).
    #[arg(long, value_delimiter = ',', value_name = "LANGS")]
    lang_candidates: Vec<String>,
    /// Quality rules: all, none, or a list of gopher (both Gopher rules), gopher_quality,
    /// gopher_repetition, c4, fineweb, encoding.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "all",
        value_name = "RULES"
    )]
    rules: Vec<String>,
    /// Thresholds file laid over the built-in per-language settings (repeatable), or the
    /// preset `published`: the published Gopher, C4 and FineWeb values where glmkit's differ.
    #[arg(long, value_name = "FILE|PRESET")]
    thresholds: Vec<PathBuf>,
    /// Normalize the text first (NFC, control characters, whitespace, line endings).
    #[arg(long)]
    normalize: bool,
}

pub fn filter(args: FilterArgs) -> Result<()> {
    let mut langid = LangIdConfig {
        keep: args.langs.clone(),
        min_score: args.min_lang_score,
        ..LangIdConfig::default()
    };
    if !args.lang_candidates.is_empty() {
        langid.languages = args.lang_candidates.clone();
    }
    let options = FilterOptions {
        normalize: args.normalize.then(NormalizeConfig::default),
        langid,
        rules: filter::expand_rule_names(&args.rules).context("--rules")?,
        threshold_files: args.thresholds.clone(),
    };
    let steps = filter::filter_steps(&options)?;
    let files = args.input.files()?;
    let run_options = args.output.run_options(&args.input)?;
    let summary = pipeline::run(&files, &steps, &run_options)?;
    args.output.finish(&summary)
}

/// Run the steps of a pipeline file (TOML; see fixtures/pipelines/) over a corpus.
///
/// Without a pipeline file: the default pipeline (`--print-default` prints it) over the bundled
/// corpus (both built into glmkit), then CCNet perplexity buckets, a BPE vocabulary trained on
/// what was kept, Megatron shards of it and report.html, all in glmkit-out/ (or --output).
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The pipeline file (default: the built-in default pipeline over the bundled corpus).
    #[arg(value_name = "PIPELINE.toml")]
    pipeline: Option<PathBuf>,
    /// Print the built-in default pipeline and exit.
    #[arg(long)]
    print_default: bool,
    /// Run what `glmkit run` runs without arguments (default pipeline, buckets, vocabulary,
    /// Megatron shards, report) over INPUT instead of the bundled corpus.
    #[arg(long = "default", conflicts_with = "print_default")]
    use_default: bool,
    /// Input files, directories or globs (default: the pipeline's [input] paths).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Output directory (default: the pipeline's [output] dir; glmkit-out without a pipeline).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Field that holds the document text (default: the pipeline's, else `text`).
    #[arg(long, value_name = "FIELD")]
    text_field: Option<String>,
    /// Field that holds the document id (default: the pipeline's, else `id`).
    #[arg(long, value_name = "FIELD")]
    id_field: Option<String>,
    /// Output format of kept/ and rejected/.
    #[arg(long, default_value = "jsonl.zst", value_name = "FORMAT",
          value_parser = ["jsonl", "jsonl.zst", "jsonl.gz", "parquet"])]
    format: String,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Process only shard i of n of the input files (not with dedup_fuzzy or dedup_lines,
    /// which need the whole corpus in one task).
    #[arg(long, value_name = "i/n")]
    shard: Option<ShardSpec>,
    /// Redo input files that a previous run already finished (a pipeline with dedup_fuzzy or
    /// dedup_lines always redoes everything).
    #[arg(long)]
    force: bool,
    /// Exit 0 even when an input file is truncated or corrupt.
    #[arg(long)]
    allow_partial: bool,
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
    stop_after_files: Option<usize>,
}

pub fn run(args: RunArgs) -> Result<()> {
    if args.print_default {
        print!("{}", glmkit::bundled::DEFAULT_PIPELINE);
        return Ok(());
    }
    if args.use_default {
        // Every positional argument is an input.
        let mut args = args;
        if let Some(first) = args.pipeline.take() {
            args.inputs.insert(0, first.display().to_string());
        }
        if args.inputs.is_empty() {
            bail!("--default needs INPUT files (without arguments, `glmkit run` uses the bundled corpus)");
        }
        return crate::quickstart::run(&args);
    }
    let Some(pipeline_path) = args.pipeline.clone() else {
        if !args.inputs.is_empty() {
            bail!("INPUT needs a PIPELINE.toml first, or --default for the default run");
        }
        return crate::quickstart::run(&args);
    };
    // The error names the file, line and key; anyhow adds nothing to it.
    let pipeline = glmkit::steps::load_pipeline(&pipeline_path)?;
    let base = pipeline_path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let relative = |p: &str| base.join(p).display().to_string();
    let inputs = if args.inputs.is_empty() {
        pipeline.input.paths.iter().map(|p| relative(p)).collect()
    } else {
        args.inputs.clone()
    };
    if inputs.is_empty() {
        bail!(
            "no input: give INPUT arguments or `paths` under [input] in {}",
            pipeline_path.display()
        );
    }
    let output = match (&args.output, &pipeline.output.dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => base.join(dir),
        (None, None) => bail!(
            "no output: give --output or `dir` under [output] in {}",
            pipeline_path.display()
        ),
    };
    let input = InputArgs {
        inputs,
        text_field: args
            .text_field
            .clone()
            .or(pipeline.input.text_field.clone())
            .unwrap_or_else(|| "text".into()),
        id_field: args.id_field.clone().or(pipeline.input.id_field.clone()),
    };
    let out = OutputArgs {
        output,
        format: args.format.clone(),
        threads: args.threads,
        shard: args.shard,
        force: args.force,
        allow_partial: args.allow_partial,
        shard_docs: args.shard_docs,
        shard_bytes: args.shard_bytes,
        quiet: args.quiet,
        stop_after_files: args.stop_after_files,
    };
    let files = input.files()?;
    let options = out.run_options(&input)?;
    pipeline.check_shard(options.shard)?;
    let summary = pipeline::run_pipeline(&files, pipeline.steps, &options)?;
    out.finish(&summary)
}
