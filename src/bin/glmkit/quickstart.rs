//! `glmkit run` without a pipeline file: the default pipeline over the bundled corpus (both built
//! into the binary; `--default INPUT...` takes other inputs), CCNet buckets, a vocabulary trained on what was kept, Megatron shards of it,
//! report.html and a summary.

use crate::common::{InputArgs, OutputArgs};
use crate::filter::RunArgs;
use anyhow::{bail, Context, Result};
use glmkit::model::score::Bucket;
use glmkit::pipeline::{self, KEPT};
use glmkit::{bundled, report};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the default run writes, without --output.
pub const DEFAULT_OUTPUT: &str = "glmkit-out";

/// What a run directory holds besides the final kept/rejected/quarantine/stats.json.
const RUN_ENTRIES: &[&str] = &[
    ".done",
    "input",
    "pipeline.toml",
    "pipeline",
    "ppl_cutoffs.json",
    "kept",
    "rejected",
    "quarantine",
    "stats.json",
    "tokenizer",
    "megatron",
    report::REPORT_FILE,
    report::SUMMARY_FILE,
];

pub fn run(args: &RunArgs) -> Result<()> {
    let started = Instant::now();
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUTPUT));
    clear_previous_run(&out)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let inputs = if args.inputs.is_empty() {
        let input_dir = out.join("input");
        bundled::write_corpus(&input_dir)
            .with_context(|| format!("writing the bundled corpus to {}", input_dir.display()))?;
        vec![input_dir.display().to_string()]
    } else {
        args.inputs.clone()
    };
    let pipeline_path = out.join("pipeline.toml");
    std::fs::write(&pipeline_path, bundled::DEFAULT_PIPELINE)
        .with_context(|| format!("writing {}", pipeline_path.display()))?;
    let pipeline = glmkit::steps::load_pipeline(&pipeline_path)?;
    let say = |what: &str| {
        if !args.quiet {
            eprintln!("[{:5.1}s] {what}", started.elapsed().as_secs_f64());
        }
    };

    // 1. The default pipeline over the bundled corpus.
    say("default pipeline: normalize, langid, quality rules, exact + fuzzy dedup, perplexity");
    let input = InputArgs {
        inputs,
        text_field: "text".into(),
        id_field: None,
    };
    let output_args = |dir: PathBuf| OutputArgs {
        output: dir,
        format: "jsonl.zst".into(),
        threads: args.threads,
        shard: None,
        force: true,
        allow_partial: false,
        shard_docs: args.shard_docs,
        shard_bytes: args.shard_bytes,
        quiet: true,
        stop_after_files: None,
    };
    let piped = output_args(out.join("pipeline"));
    let options = piped.run_options(&input)?;
    let graph = pipeline::Graph::compile(pipeline.steps);
    let summary = graph.run_local(&input.files()?, 1, &serde_json::json!({}), &options)?;
    piped.finish(&summary)?;

    // 2. CCNet buckets over what the pipeline kept (all three kept, each document labelled).
    say("perplexity buckets (per-language 30th and 60th percentiles)");
    let bucketed = output_args(out.clone());
    let options = bucketed.run_options(&input)?;
    let summary = crate::score::bucket_pass(
        &out.join("pipeline").join(KEPT),
        vec![Bucket::Head, Bucket::Middle, Bucket::Tail],
        (30.0, 60.0),
        &options,
    )?;
    bucketed.finish(&summary)?;

    // 3. A vocabulary trained on the kept documents, and Megatron shards of them.
    let kept = out.join(KEPT).display().to_string();
    let tokenizer = out.join("tokenizer");
    say("BPE vocabulary (4,000 tokens, GLM-4 pattern and special tokens)");
    crate::run_command(&[
        "bpe",
        "train",
        &kept,
        "--vocab-size",
        "4000",
        "--special-tokens",
        "glm4",
        "--output",
        &tokenizer.display().to_string(),
    ])?;
    say("Megatron shards");
    std::fs::create_dir_all(out.join("megatron"))?;
    crate::run_command(&[
        "tokenize",
        &kept,
        "--tokenizer",
        &tokenizer.join("tokenizer.json").display().to_string(),
        "--append-eod",
        "--output",
        &out.join("megatron").join("corpus").display().to_string(),
    ])?;

    // 4. The report and the summary.
    say("report");
    let run = report::RunData::read(&out)?;
    report::write_report(&run, &out)?;
    let text = report::summary_text(&run, started.elapsed().as_secs_f64());
    std::fs::write(out.join(report::SUMMARY_FILE), &text)?;
    println!("{text}");
    Ok(())
}

/// A rerun starts afresh: the entries of an earlier run are removed. Anything else in the
/// folder is left alone, and a folder that holds other things but no earlier run is refused.
fn clear_previous_run(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let entries: Vec<String> = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let earlier_run = entries.iter().any(|e| e == "pipeline.toml");
    if !earlier_run && !entries.is_empty() {
        bail!(
            "{} exists and holds no earlier glmkit run: choose another --output",
            out.display()
        );
    }
    for name in RUN_ENTRIES {
        let path = out.join(name);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        }
        .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
