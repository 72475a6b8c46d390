//! `glmkit model`: inspect a GLM-4 checkpoint and run its forward pass on a batch of ids.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use glmkit::model::{self, Batch, Checkpoint, Glm4, GlmConfig};
use std::path::PathBuf;

#[derive(Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Print the detected layout, config, parameter count, dtypes and missing or unused tensors (JSON).
    Inspect {
        /// Model directory (config.json + safetensors).
        dir: PathBuf,
    },
    /// Run the model on BATCH.json and print each sequence's NLL and perplexity (JSON).
    Forward {
        /// Model directory (config.json + safetensors).
        #[arg(long)]
        model: PathBuf,
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
}

pub fn run(args: ModelArgs) -> Result<()> {
    match args.command {
        ModelCommand::Inspect { dir } => {
            let report = model::inspect(&dir)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.is_complete() {
                bail!(
                    "{}: {} tensors missing, {} with the wrong shape",
                    dir.display(),
                    report.missing.len(),
                    report.wrong_shape.len()
                );
            }
            Ok(())
        }
        ModelCommand::Forward {
            model: dir,
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
            let config = GlmConfig::from_dir(&dir)?;
            let checkpoint = Checkpoint::open(&dir)?;
            let glm = Glm4::load(&config, &checkpoint, dtype, &device)?;
            let (logits, sequences) = model::forward_batch(&glm, &batch)?;
            if let Some(path) = output {
                logits
                    .save_safetensors("logits", &path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!("{}", serde_json::json!({ "sequences": sequences }));
            Ok(())
        }
    }
}
