//! What a model directory holds: layouts, config, parameters, dtypes, missing and unused tensors.

use super::config::GlmConfig;
use super::error::ModelError;
use super::source::ModelSource;
use super::weights::WeightNames;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub dir: String,
    /// The config layout (`glm`, `glm4`, `chatglm`).
    pub config_layout: String,
    /// The tensor naming (`hf`, `chatglm`).
    pub weight_names: WeightNames,
    pub files: Vec<String>,
    pub config: GlmConfig,
    /// Elements of the tensors the model uses.
    pub parameters: u64,
    /// Tensors per stored dtype.
    pub dtypes: BTreeMap<String, usize>,
    /// Expected tensors that are absent, with the expected shape.
    pub missing: Vec<(String, Vec<usize>)>,
    /// Expected tensors stored with another shape: name, expected, found.
    pub wrong_shape: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Stored tensors the model does not use.
    pub unused: Vec<String>,
    /// Stored tensors the model recomputes (rotary caches).
    pub ignored: Vec<String>,
}

impl InspectReport {
    /// The model loads when nothing is missing or misshapen.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.wrong_shape.is_empty()
    }
}

pub fn inspect(model: &ModelSource) -> Result<InspectReport, ModelError> {
    let config = model.config()?;
    let checkpoint = model.checkpoint()?;
    let stored = checkpoint.stored();
    let mut parameters = 0u64;
    let mut wrong_shape = Vec::new();
    for (name, shape) in checkpoint.expected(&config) {
        if let Some(found) = stored.get(&name) {
            if found.shape == shape {
                parameters += shape.iter().product::<usize>() as u64;
            } else {
                wrong_shape.push((name, shape, found.shape.clone()));
            }
        }
    }
    let mut dtypes = BTreeMap::new();
    for tensor in stored.values() {
        *dtypes.entry(tensor.dtype.clone()).or_insert(0) += 1;
    }
    let (unused, ignored) = checkpoint.unused(&config);
    Ok(InspectReport {
        dir: model.to_string(),
        config_layout: serde_json::to_value(config.layout)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        weight_names: checkpoint.names,
        files: checkpoint
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        missing: checkpoint.missing(&config),
        parameters,
        dtypes,
        wrong_shape,
        unused,
        ignored,
        config,
    })
}
