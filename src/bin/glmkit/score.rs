//! `glmkit score`: annotate documents with their perplexity under a GLM-4 model, drop those above
//! a threshold, and split the rest into CCNet-style per-language buckets.

use crate::common::{InputArgs, OutputArgs};
use crate::model::ScoringArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use glmkit::corpus::{expand_inputs, CorpusReader};
use glmkit::model::score::{
    document_language, Bucket, BucketCutoffs, BucketStep, PplThresholds, ScoreStep,
};
use glmkit::model::ModelSource;
use glmkit::pipeline::{self, Step, KEPT};
use std::path::{Path, PathBuf};

/// Score documents by perplexity (`glmkit.ppl`, `glmkit.nll`, `glmkit.tokens`).
///
/// With --buckets, the scoring pass writes OUT/scored/ and a second pass splits OUT/scored/kept
/// into OUT/ by per-language perplexity percentiles (cutoffs in OUT/ppl_cutoffs.json).
#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Model directory (config.json + safetensors), or `builtin` for the reference model compiled
    /// into glmkit.
    #[arg(long)]
    model: ModelSource,
    /// tokenizer.json, or a tiktoken rank file such as GLM-4's tokenizer.model; defaults to the
    /// model's own (MODEL/tokenizer.json, else MODEL/tokenizer.model; the built-in one for
    /// `builtin`).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    #[command(flatten)]
    scoring: ScoringArgs,
    /// Highest perplexity kept: `1000` for every language and/or `zh=300,en=200` (repeatable).
    #[arg(long, value_name = "PPL|LANG=PPL")]
    max_ppl: Vec<String>,
    /// Keep only these CCNet buckets (head, middle, tail) by per-language percentiles.
    #[arg(long, value_name = "LIST")]
    buckets: Option<String>,
    /// The two percentiles that separate head | middle | tail.
    #[arg(long, default_value = "30,60", value_name = "LOW,HIGH")]
    percentiles: String,
    /// Documents per scoring batch handed to the model (windows are then batched by length).
    #[arg(long, default_value_t = 256)]
    batch_docs: usize,
}

pub fn run(args: ScoreArgs) -> Result<()> {
    crate::model::reuse_large_buffers();
    if let (Some(threads), Err(_)) = (args.output.threads, std::env::var("RAYON_NUM_THREADS")) {
        // candle splits its matrix products into as many parts as this says (default: every
        // core); match the worker pool. Set before any thread is started.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let thresholds = PplThresholds::parse(&args.max_ppl)?;
    let keep = args
        .buckets
        .as_deref()
        .map(Bucket::parse_list)
        .transpose()?;
    let percentiles = parse_percentiles(&args.percentiles)?;
    let files = args.input.files()?;
    let mut options = args.output.run_options(&args.input)?;
    options.batch_docs = args.batch_docs.max(1);
    let Some(keep) = keep else {
        let step = ScoreStep::new(
            args.scoring
                .scorer(&args.model, args.tokenizer.as_deref())?,
            thresholds,
        );
        let summary = pipeline::run(&files, &[Box::new(step) as Box<dyn Step>], &options)?;
        return args.output.finish(&summary);
    };
    if options.shard.count > 1 {
        bail!(
            "--buckets needs the whole scored corpus: run the shards without --buckets into the same \
             --output, then once more with --buckets (finished files are not scored again)"
        );
    }
    // Pass 1: score into OUT/scored/ (resumable like any run).
    let root = args.output.output.clone();
    options.output = root.join("scored");
    let step = ScoreStep::new(
        args.scoring
            .scorer(&args.model, args.tokenizer.as_deref())?,
        thresholds,
    );
    let scored = pipeline::run(&files, &[Box::new(step) as Box<dyn Step>], &options)?;
    args.output.finish(&scored)?;

    let scored_kept = options.output.join(KEPT);
    options.output = root;
    let summary = bucket_pass(&scored_kept, keep, percentiles, &options)?;
    args.output.finish(&summary)
}

/// CCNet buckets: per-language perplexity cutoffs over the scored documents in `scored_kept`
/// (written to `OUT/ppl_cutoffs.json`, OUT being `options.output`), then a pass that annotates
/// each document's bucket and keeps the buckets in `keep`, into OUT.
pub fn bucket_pass(
    scored_kept: &Path,
    keep: Vec<Bucket>,
    percentiles: (f64, f64),
    options: &pipeline::RunOptions,
) -> Result<pipeline::RunSummary> {
    let kept = expand_inputs(&[scored_kept.to_string_lossy().into_owned()])?;
    let mut pairs: Vec<(String, f64)> = Vec::new();
    let mut skipped = 0u64;
    for file in &kept {
        for doc in CorpusReader::open(file, &options.read)?.documents(&mut skipped) {
            if let Some(ppl) = doc.annotation("ppl").and_then(|v| v.as_f64()) {
                pairs.push((document_language(&doc), ppl));
            }
        }
    }
    if skipped > 0 {
        bail!(
            "{skipped} scored records could not be read back from {}",
            scored_kept.display()
        );
    }
    let cutoffs = BucketCutoffs::compute(pairs.iter().map(|(l, p)| (l.as_str(), *p)), percentiles)?;
    let root = &options.output;
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let cutoffs_path = root.join("ppl_cutoffs.json");
    pipeline::write_atomic(
        &cutoffs_path,
        serde_json::to_string_pretty(&cutoffs)?.as_bytes(),
    )
    .with_context(|| format!("writing {}", cutoffs_path.display()))?;
    let mut options = options.clone();
    options.force = true; // cutoffs change with the corpus, so bucketing is always redone
    let step = BucketStep::new(cutoffs, keep);
    Ok(pipeline::run(
        &kept,
        &[Box::new(step) as Box<dyn Step>],
        &options,
    )?)
}

pub fn parse_percentiles(text: &str) -> Result<(f64, f64)> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--percentiles `{text}`: expected LOW,HIGH"))?;
    match parts.as_slice() {
        [low, high] => Ok((*low, *high)),
        _ => bail!("--percentiles `{text}`: expected two numbers, LOW,HIGH"),
    }
}
