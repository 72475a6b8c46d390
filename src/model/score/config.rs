//! The `score` and `ppl_bucket` step kinds of pipeline files.
//!
//! ```toml
//! [[step]]
//! kind = "score"
//! model = "models/glm-4-9b-hf"      # or "builtin"; relative paths are resolved against the pipeline file
//! tokenizer = "tokenizer.json"        # default: MODEL/tokenizer.json
//! max_tokens = 1024                   # window (default 1024, or the model's context if shorter);
//!                                     # stride defaults to max_tokens / 2
//! batch_tokens = 8192
//! head_tokens = 256                   # score only each document's first 256 tokens (default: all)
//! dtype = "auto"                      # f32 on the CPU, bf16 on a GPU; or f32, bf16, f16
//! device = "cpu"                      # cpu, cuda[:N]
//! max_ppl = 1000                      # for every language, and/or per language:
//! max_ppl_by_lang = { zh = 300.0, en = 200.0 }
//!
//! [[step]]
//! kind = "ppl_bucket"
//! cutoffs = "out/ppl_cutoffs.json"    # written by `glmkit score --buckets`
//! keep = ["head", "middle"]
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

use super::buckets::{Bucket, BucketCutoffs};
use super::scorer::{ScoreOptions, Scorer};
use super::step::{BucketStep, PplThresholds, ScoreStep};
use crate::model::{parse_device, parse_dtype_for, ModelError, ModelSource};
use crate::pipeline::{settings, SettingsError, Step};

/// Resolves a path of the settings against the pipeline file's folder.
fn resolve(base_dir: &Path, path: &str) -> std::path::PathBuf {
    base_dir.join(path) // an absolute `path` replaces `base_dir`
}

/// A `score` step from its pipeline settings (paths relative to `base_dir`).
pub fn score_step(table: toml::Table, base_dir: &Path) -> Result<Box<dyn Step>, SettingsError> {
    let s: ScoreSettings = settings(table)?;
    let model = ModelSource::parse_with(&s.model, |dir| resolve(base_dir, dir));
    let context = model.config().map_err(|e| SettingsError::at("model", e))?;
    let options = ScoreOptions {
        head_tokens: s.head_tokens,
        ..ScoreOptions::resolve(
            s.max_tokens,
            s.stride,
            s.batch_tokens,
            context.max_position_embeddings,
        )
    };
    let tokenizer = s.tokenizer.as_deref().map(|t| resolve(base_dir, t));
    let scorer = Scorer::open(
        &model,
        tokenizer.as_deref(),
        s.dtype.as_deref().unwrap_or("auto"),
        s.device.as_deref().unwrap_or("cpu"),
        options,
    )
    .map_err(SettingsError::new)?;
    let thresholds = PplThresholds {
        all: s.max_ppl,
        per_language: s.max_ppl_by_lang,
    };
    Ok(Box::new(ScoreStep::new(scorer, thresholds)))
}

/// A `ppl_bucket` step from its pipeline settings (paths relative to `base_dir`).
pub fn bucket_step(table: toml::Table, base_dir: &Path) -> Result<Box<dyn Step>, SettingsError> {
    let s: BucketSettings = settings(table)?;
    let path = resolve(base_dir, &s.cutoffs);
    let in_cutoffs = |e: &dyn std::fmt::Display| {
        SettingsError::at("cutoffs", format!("{}: {e}", path.display()))
    };
    let text = std::fs::read_to_string(&path).map_err(|e| in_cutoffs(&e))?;
    let cutoffs: BucketCutoffs = serde_json::from_str(&text).map_err(|e| in_cutoffs(&e))?;
    let keep = s
        .keep
        .iter()
        .map(|b| Bucket::parse(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::at("keep", e))?;
    Ok(Box::new(BucketStep::new(cutoffs, keep)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreSettings {
    model: String,
    tokenizer: Option<String>,
    max_tokens: Option<usize>,
    stride: Option<usize>,
    batch_tokens: Option<usize>,
    head_tokens: Option<usize>,
    dtype: Option<String>,
    device: Option<String>,
    max_ppl: Option<f64>,
    #[serde(default)]
    max_ppl_by_lang: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketSettings {
    cutoffs: String,
    #[serde(default = "all_buckets")]
    keep: Vec<String>,
}

fn all_buckets() -> Vec<String> {
    ["head", "middle", "tail"].map(String::from).to_vec()
}

impl Scorer {
    /// Loads a model and its tokenizer (`tokenizer`, else the model's own: see
    /// [`ModelSource::tokenizer`]).
    pub fn open(
        model: &ModelSource,
        tokenizer: Option<&Path>,
        dtype: &str,
        device: &str,
        options: ScoreOptions,
    ) -> Result<Scorer, ModelError> {
        Self::open_with(model, tokenizer, dtype, device, options, false)
    }

    /// [`Scorer::open`], optionally copying f32 weights out of the map (`copy_weights`).
    pub fn open_with(
        model: &ModelSource,
        tokenizer: Option<&Path>,
        dtype: &str,
        device: &str,
        options: ScoreOptions,
        copy_weights: bool,
    ) -> Result<Scorer, ModelError> {
        let device = parse_device(device)?;
        let dtype = parse_dtype_for(dtype, &device)?;
        let glm = model.load(dtype, &device, copy_weights)?;
        let tokenizer = model.tokenizer(tokenizer)?;
        Scorer::new(glm, Box::new(tokenizer), options)
    }
}
