//! `glmkit model`: inspect a GLM-4 checkpoint and run its forward pass on a batch of ids.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use glmkit::model::score::{ScoreOptions, ScorePlan, Scorer};
use glmkit::model::{self, Batch, ModelSource};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Print the detected layout, config, parameter count, dtypes and missing or unused tensors (JSON).
    Inspect {
        /// Model directory (config.json + safetensors), or `builtin` for the reference model
        /// compiled into glmkit.
        model: ModelSource,
    },
    /// Run the model on BATCH.json and print each sequence's NLL and perplexity (JSON).
    Forward {
        /// Model directory (config.json + safetensors), or `builtin` for the reference model
        /// compiled into glmkit.
        #[arg(long)]
        model: ModelSource,
        /// `{"input_ids": [[...]], "attention_mask": [[...]]}`; the mask is optional (right padding).
        #[arg(long)]
        input: PathBuf,
        /// Write the f32 tensor `logits` [B, T, V] to this safetensors file.
        #[arg(long)]
        output: Option<PathBuf>,
        /// f32, bf16 or f16.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// cpu or cuda[:N].
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Score the texts of a JSONL file and print one JSON line per document (id, tokens, nll, ppl)
    /// and a summary with tokens/s on stderr. For checks and benchmarks; `glmkit score` runs the
    /// same scorer over corpora.
    Score {
        /// Model directory (config.json + safetensors), or `builtin` for the reference model
        /// compiled into glmkit.
        #[arg(long)]
        model: ModelSource,
        /// tokenizer.json or a tiktoken rank file; defaults to the model's own (MODEL/tokenizer.json,
        /// else MODEL/tokenizer.model; the built-in one for `builtin`).
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// JSON Lines with a `text` field (and optionally `id`).
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        scoring: ScoringArgs,
        /// Only tokenize and plan the model calls, and print the share of computed positions
        /// that would be padding (JSON); the model is loaded but not run.
        #[arg(long)]
        plan_only: bool,
    },
}

/// Model, batching and window settings shared by the scoring commands.
#[derive(Args, Clone)]
pub struct ScoringArgs {
    /// Longest window the model sees, in tokens (prefix included) [default: 1024, or the model's
    /// max_position_embeddings if smaller].
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Distance between window starts in long documents (default: max-tokens / 2).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Score only the first N tokens of each document (default: all).
    #[arg(long, value_name = "N")]
    pub head_tokens: Option<usize>,
    /// Padded tokens per model call.
    #[arg(long, default_value_t = 8192)]
    pub batch_tokens: usize,
    /// auto (f32 on the CPU, bf16 on a GPU), f32, bf16 or f16.
    #[arg(long, default_value = "auto")]
    pub dtype: String,
    /// cpu or cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Copy f32 weights out of the mapped checkpoint instead of using them in place (to compare
    /// memory use).
    #[arg(long)]
    pub copy_weights: bool,
    /// Pack several windows into one row to cut padding: auto (on a GPU only), on or off. Off,
    /// a document scores the same in any batch.
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    pub packing: String,
    /// Where token NLLs are computed: auto (host on the CPU, device on a GPU), device (only the
    /// NLLs leave the device) or host (f32 logit blocks are copied out).
    #[arg(long, default_value = "auto", value_parser = ["auto", "device", "host"])]
    pub nll_on: String,
}

impl ScoringArgs {
    /// Loads the model and tokenizer into a scorer.
    pub fn scorer(&self, model: &ModelSource, tokenizer: Option<&Path>) -> Result<Scorer> {
        let context = model.config()?.max_position_embeddings;
        let options = ScoreOptions {
            head_tokens: self.head_tokens,
            ..ScoreOptions::resolve(
                self.max_tokens,
                self.stride,
                Some(self.batch_tokens),
                context,
            )
        };
        let scorer = Scorer::open_with(
            model,
            tokenizer,
            &self.dtype,
            &self.device,
            options,
            self.copy_weights,
        )?;
        let mut plan = ScorePlan::for_device(scorer.model().device());
        match self.packing.as_str() {
            "on" => plan.pack = true,
            "off" => plan.pack = false,
            _ => {}
        }
        match self.nll_on.as_str() {
            "device" => plan.nll_on_device = true,
            "host" => plan.nll_on_device = false,
            _ => {}
        }
        Ok(scorer.with_plan(plan))
    }
}

pub fn run(args: ModelArgs) -> Result<()> {
    reuse_large_buffers();
    match args.command {
        ModelCommand::Inspect { model } => {
            let report = model::inspect(&model)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.is_complete() {
                bail!(
                    "{model}: {} tensors missing, {} with the wrong shape",
                    report.missing.len(),
                    report.wrong_shape.len()
                );
            }
            Ok(())
        }
        ModelCommand::Forward {
            model: source,
            input,
            output,
            dtype,
            device,
        } => {
            let device = model::parse_device(&device)?;
            let dtype = model::parse_dtype(&dtype)?;
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("reading {}", input.display()))?;
            let batch: Batch = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a batch of input_ids", input.display()))?;
            let glm = source.load(dtype, &device, false)?;
            let (logits, sequences) = model::forward_batch(&glm, &batch)?;
            if let Some(path) = output {
                logits
                    .save_safetensors("logits", &path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!("{}", serde_json::json!({ "sequences": sequences }));
            Ok(())
        }
        ModelCommand::Score {
            model: source,
            tokenizer,
            input,
            scoring,
            plan_only,
        } => {
            let scorer = scoring.scorer(&source, tokenizer.as_deref())?;
            let file = std::fs::File::open(&input)
                .with_context(|| format!("opening {}", input.display()))?;
            let mut ids = Vec::new();
            let mut texts = Vec::new();
            for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.with_context(|| format!("reading {}", input.display()))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: serde_json::Value = serde_json::from_str(&line)
                    .with_context(|| format!("{}:{}: not JSON", input.display(), n + 1))?;
                let Some(text) = record.get("text").and_then(|t| t.as_str()) else {
                    bail!("{}:{}: no string field `text`", input.display(), n + 1);
                };
                ids.push(
                    record
                        .get("id")
                        .cloned()
                        .unwrap_or_else(|| format!("{}", n + 1).into()),
                );
                texts.push(text.to_string());
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            if plan_only {
                let sequences = refs
                    .iter()
                    .map(|t| scorer.encode(t))
                    .collect::<Result<Vec<_>, _>>()?;
                let padding = scorer.planned_padding(&sequences, scorer.prefix_len());
                println!(
                    "{}",
                    serde_json::json!({
                        "documents": sequences.len(), "packing": scorer.plan().pack,
                        "window_tokens": padding.tokens, "computed_positions": padding.positions,
                        "model_calls": padding.calls,
                        "padding_share": padding.share(),
                    })
                );
                return Ok(());
            }
            let start = std::time::Instant::now();
            let scores = scorer.score_texts(&refs)?;
            let seconds = start.elapsed().as_secs_f64();
            let mut out = std::io::stdout().lock();
            for (id, score) in ids.iter().zip(&scores) {
                let line = serde_json::json!({
                    "id": id, "tokens": score.tokens, "predicted": score.predicted,
                    "nll": score.nll(), "ppl": score.perplexity(),
                });
                writeln!(out, "{line}")?;
            }
            let predicted: usize = scores.iter().map(|s| s.predicted).sum();
            eprintln!(
                "{}",
                serde_json::json!({
                    "documents": scores.len(), "predicted_tokens": predicted,
                    "seconds": (seconds * 1000.0).round() / 1000.0,
                    "tokens_per_s": (predicted as f64 / seconds * 10.0).round() / 10.0,
                    "weights_mapped": scorer.model().weights_mapped(),
                    "dtype": format!("{:?}", scorer.model().dtype()).to_lowercase(),
                    "packing": scorer.plan().pack,
                    "nll_on_device": scorer.plan().nll_on_device,
                    "padding_share": (scorer.padding().share() * 1e4).round() / 1e4,
                    "model_calls": scorer.padding().calls,
                    "memory_kib": memory_kib(),
                })
            );
            Ok(())
        }
    }
}

/// Peak and current resident memory split into anonymous (heap) and file-backed (mapped) pages,
/// from /proc/self/status; empty where that file does not exist.
fn memory_kib() -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return out;
    };
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if matches!(key, "VmHWM" | "VmRSS" | "RssAnon" | "RssFile") {
            if let Some(kib) = value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            {
                out.insert(key.to_string(), kib.into());
            }
        }
    }
    out
}

/// Scoring allocates and frees activation buffers of tens of MB per batch (attention scores,
/// logits). glibc serves those with fresh `mmap`s that are faulted in and zeroed every time; with
/// a high mmap threshold they come from the heap and are reused. Called once, before any thread
/// of the command starts.
pub fn reuse_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before the command starts threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
