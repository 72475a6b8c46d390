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
    pub pipeline: Option<PathBuf>,
    /// Print the built-in default pipeline and exit.
    #[arg(long)]
    pub print_default: bool,
    /// Run what `glmkit run` runs without arguments (default pipeline, buckets, vocabulary,
    /// Megatron shards, report) over INPUT instead of the bundled corpus.
    #[arg(long = "default", conflicts_with = "print_default")]
    pub use_default: bool,
    /// Input files, directories or globs (default: the pipeline's [input] paths).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Output directory (default: the pipeline's [output] dir; glmkit-out without a pipeline).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Field that holds the document text (default: the pipeline's, else `text`).
    #[arg(long, value_name = "FIELD")]
    pub text_field: Option<String>,
    /// Field that holds the document id (default: the pipeline's, else `id`).
    #[arg(long, value_name = "FIELD")]
    pub id_field: Option<String>,
    /// Output format of kept/ and rejected/.
    #[arg(long, default_value = "jsonl.zst", value_name = "FORMAT",
          value_parser = ["jsonl", "jsonl.zst", "jsonl.gz", "parquet"])]
    pub format: String,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the stages the pipeline compiles to (what each runs, reads and writes) and exit.
    #[arg(long, requires = "pipeline")]
    pub plan: bool,
    /// With --plan: print it as JSON, {"stages": [{"index": 0, "name": ..., ...}, ...]}.
    #[arg(long, requires = "plan")]
    pub json: bool,
    /// Run one stage of the pipeline (its index in --plan) as task --shard i/n, as one array
    /// task of a cluster job does; the stages before it must have finished.
    #[arg(long, value_name = "K", requires = "pipeline")]
    pub stage: Option<usize>,
    /// Run only task i of n: of the stage given by --stage (default: from SLURM_ARRAY_TASK_ID
    /// and SLURM_ARRAY_TASK_COUNT), or of a pipeline of one stage.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<ShardSpec>,
    /// Without --stage: run each stage as N tasks, one after the other (outputs are the same
    /// for any N; a cluster runs them at once: `glmkit slurm submit`).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub tasks: usize,
    /// Start afresh: redo every stage and input file that a previous run already finished
    /// (with --stage: redo that task). Without it, a run resumes from its completion markers,
    /// and a run over other inputs or settings starts afresh by itself.
    #[arg(long)]
    pub force: bool,
    /// Exit 0 even when an input file is truncated or corrupt.
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
    /// Stop after this many stage tasks, as a killed run would (for tests of resume).
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_tasks: Option<usize>,
}

/// A pipeline file ready to run: its graph, input files, run options and the settings that
/// make two runs the same run (recorded with the plan).
pub struct LoadedRun {
    pub graph: pipeline::Graph,
    pub files: Vec<glmkit::corpus::InputFile>,
    pub options: pipeline::RunOptions,
    pub fingerprint: serde_json::Value,
    pub output: OutputArgs,
}

impl RunArgs {
    /// Reads the pipeline file and resolves inputs, output and options against it.
    pub fn load(&self, pipeline_path: &std::path::Path) -> Result<LoadedRun> {
        let text = std::fs::read_to_string(pipeline_path)
            .with_context(|| format!("reading {}", pipeline_path.display()))?;
        // The error names the file, line and key; anyhow adds nothing to it.
        let pipeline = glmkit::steps::load_pipeline(pipeline_path)?;
        let base = pipeline_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let relative = |p: &str| base.join(p).display().to_string();
        let inputs = if self.inputs.is_empty() {
            pipeline.input.paths.iter().map(|p| relative(p)).collect()
        } else {
            self.inputs.clone()
        };
        if inputs.is_empty() {
            bail!(
                "no input: give INPUT arguments or `paths` under [input] in {}",
                pipeline_path.display()
            );
        }
        let output = match (&self.output, &pipeline.output.dir) {
            (Some(dir), _) => dir.clone(),
            (None, Some(dir)) => base.join(dir),
            (None, None) => bail!(
                "no output: give --output or `dir` under [output] in {}",
                pipeline_path.display()
            ),
        };
        let input = InputArgs {
            inputs,
            text_field: self
                .text_field
                .clone()
                .or(pipeline.input.text_field.clone())
                .unwrap_or_else(|| "text".into()),
            id_field: self.id_field.clone().or(pipeline.input.id_field.clone()),
        };
        let out = OutputArgs {
            output,
            format: self.format.clone(),
            threads: self.threads,
            shard: self.shard,
            force: self.force,
            allow_partial: self.allow_partial,
            shard_docs: self.shard_docs,
            shard_bytes: self.shard_bytes,
            quiet: self.quiet,
            stop_after_files: self.stop_after_files,
        };
        let files = input.files()?;
        let mut options = out.run_options(&input)?;
        options.stop_after_tasks = self.stop_after_tasks;
        let fingerprint = serde_json::json!({
            "pipeline": text,
            "text_field": input.text_field,
            "id_field": input.id_field,
            "format": self.format,
            "shard_docs": self.shard_docs,
            "shard_bytes": self.shard_bytes,
        });
        Ok(LoadedRun {
            graph: pipeline::Graph::compile(pipeline.steps),
            files,
            options,
            fingerprint,
            output: out,
        })
    }
}

/// The plan as `--plan` prints it for people.
pub fn print_plan(graph: &pipeline::Graph) {
    for stage in graph.plan() {
        let shards = if stage.shardable { "shards" } else { "1 task" };
        println!(
            "stage {:<3} {:<26} {shards:<7} {}",
            stage.index,
            stage.name,
            stage.steps.join(", ")
        );
        println!("          {} -> {}", stage.inputs, stage.outputs);
    }
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
    if args.plan {
        // The plan needs the steps alone, not the inputs or the output.
        let pipeline = glmkit::steps::load_pipeline(&pipeline_path)?;
        let graph = pipeline::Graph::compile(pipeline.steps);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&graph.plan_json())?);
        } else {
            print_plan(&graph);
        }
        return Ok(());
    }
    let run = args.load(&pipeline_path)?;
    let graph = &run.graph;
    let options = &run.options;
    let summary = match args.stage {
        Some(stage) => {
            graph.run_task(&run.files, stage, options.shard, &run.fingerprint, options)?
        }
        None if options.shard.count > 1 => {
            if graph.plan().len() > 1 {
                bail!(
                    "{} compiles to {} stages: run them one at a time, each as --stage K \
                     --shard i/n (--plan lists them), or all of them with `glmkit slurm submit`",
                    pipeline_path.display(),
                    graph.plan().len()
                );
            }
            graph.run_task(&run.files, 0, options.shard, &run.fingerprint, options)?
        }
        None => {
            if args.tasks == 0 {
                bail!("--tasks must be at least 1");
            }
            graph.run_local(&run.files, args.tasks, &run.fingerprint, options)?
        }
    };
    run.output.finish(&summary)
}
