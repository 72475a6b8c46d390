//! The `score` and `ppl_bucket` step kinds of pipeline files.
//!
//! ```toml
//! [[step]]
//! kind = "score"
//! model = "models/glm-4-9b-hf"      # relative paths are resolved against the pipeline file
//! tokenizer = "tokenizer.json"        # default: MODEL/tokenizer.json
//! max_tokens = 1024                   # window; stride defaults to max_tokens / 2
//! batch_tokens = 8192
//! dtype = "f32"                       # f32, bf16, f16
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
use super::tokenizer::Tokenizer;
use crate::model::{parse_device, parse_dtype, Checkpoint, Glm4, GlmConfig, ModelError};
use crate::pipeline::{settings, SettingsError, Step};

/// Resolves a path of the settings against the pipeline file's folder.
fn resolve(base_dir: &Path, path: &str) -> std::path::PathBuf {
    base_dir.join(path) // an absolute `path` replaces `base_dir`
}

/// A `score` step from its pipeline settings (paths relative to `base_dir`).
pub fn score_step(table: toml::Table, base_dir: &Path) -> Result<Box<dyn Step>, SettingsError> {
    let s: ScoreSettings = settings(table)?;
    let defaults = ScoreOptions::default();
    let max_tokens = s.max_tokens.unwrap_or(defaults.max_tokens);
    let options = ScoreOptions {
        max_tokens,
        stride: s.stride.unwrap_or((max_tokens / 2).max(1)),
        batch_tokens: s.batch_tokens.unwrap_or(defaults.batch_tokens),
    };
    let model = resolve(base_dir, &s.model);
    let tokenizer = s.tokenizer.as_deref().map(|t| resolve(base_dir, t));
    let scorer = Scorer::open(
        &model,
        tokenizer.as_deref(),
        s.dtype.as_deref().unwrap_or("f32"),
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
    /// Loads a model directory and its tokenizer (`tokenizer` or `MODEL/tokenizer.json`).
    pub fn open(
        model_dir: &Path,
        tokenizer: Option<&Path>,
        dtype: &str,
        device: &str,
        options: ScoreOptions,
    ) -> Result<Scorer, ModelError> {
        let device = parse_device(device)?;
        let dtype = parse_dtype(dtype)?;
        let config = GlmConfig::from_dir(model_dir)?;
        let checkpoint = Checkpoint::open(model_dir)?;
        let model = Glm4::load(&config, &checkpoint, dtype, &device)?;
        let tokenizer_path = tokenizer
            .map(Path::to_path_buf)
            .unwrap_or_else(|| model_dir.join("tokenizer.json"));
        let tokenizer = Tokenizer::open(&tokenizer_path)?;
        Scorer::new(model, Box::new(tokenizer), options)
    }
}
