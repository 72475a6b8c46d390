//! Checkpoints: memory-mapped safetensors (one file or shards listed by
//! `model.safetensors.index.json`), or one safetensors image held in memory (the built-in model),
//! in transformers' or THUDM's tensor names.

use candle_core::safetensors::{MmapedSafetensors, SliceSafetensors};
use candle_core::{DType, Device, Tensor};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::GlmConfig;
use super::error::ModelError;
use super::mapped::MappedMatrix;

/// How the tensors of a checkpoint are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightNames {
    /// transformers: `model.layers.N.self_attn.q_proj.weight`, ...
    Hf,
    /// THUDM: `transformer.encoder.layers.N.self_attention.query_key_value.weight`, ...
    Chatglm,
}

/// Tensors that checkpoints carry but the forward pass recomputes (ChatGLM2/3 rotary caches).
const IGNORED_SUFFIXES: &[&str] = &["rotary_pos_emb.inv_freq"];

/// One tensor as stored: its shape and safetensors dtype name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredTensor {
    pub shape: Vec<usize>,
    pub dtype: String,
}

/// An opened checkpoint: the mapped files and the name and shape of every tensor in them.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub names: WeightNames,
    /// Q, K and V are one fused matrix: THUDM's `query_key_value`, or the `qkv_proj` written by
    /// transformers' first GLM converter.
    pub fused_qkv: bool,
    store: Store,
    stored: BTreeMap<String, StoredTensor>,
}

/// Where the tensors of a checkpoint live.
enum Store {
    /// Memory-mapped files.
    Mapped(Arc<MmapedSafetensors>),
    /// A safetensors image that lives as long as the program (compiled into the binary).
    Static(SliceSafetensors<'static>),
}

impl Store {
    fn tensors(&self) -> Vec<(String, safetensors::tensor::TensorView<'_>)> {
        match self {
            Store::Mapped(m) => m.tensors(),
            Store::Static(s) => s.tensors(),
        }
    }

    fn get(&self, name: &str) -> candle_core::Result<safetensors::tensor::TensorView<'_>> {
        match self {
            Store::Mapped(m) => m.get(name),
            Store::Static(s) => s.get(name),
        }
    }
}

impl Checkpoint {
    /// Maps `model.safetensors`, or the shards named by `model.safetensors.index.json`, or every
    /// `*.safetensors` file of `dir` in name order.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let files = checkpoint_files(dir)?;
        // SAFETY: the files are mapped read-only; like every mmap reader we rely on nobody
        // truncating them while the model is loaded.
        let mapped =
            unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| ModelError::Checkpoint {
                path: dir.to_path_buf(),
                message: e.to_string(),
            })?;
        Self::from_store(dir, files, Store::Mapped(Arc::new(mapped)))
    }

    /// A checkpoint held in memory as one safetensors image (`label` names it in errors and
    /// reports). Its tensors are converted to the model's dtype as they are loaded, as for files.
    pub fn from_static_bytes(label: &str, bytes: &'static [u8]) -> Result<Self, ModelError> {
        let path = PathBuf::from(label);
        let slice = SliceSafetensors::new(bytes).map_err(|e| ModelError::Checkpoint {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::from_store(&path, Vec::new(), Store::Static(slice))
    }

    fn from_store(dir: &Path, files: Vec<PathBuf>, store: Store) -> Result<Self, ModelError> {
        let mut stored = BTreeMap::new();
        for (name, view) in store.tensors() {
            stored.insert(
                name,
                StoredTensor {
                    shape: view.shape().to_vec(),
                    dtype: format!("{:?}", view.dtype()),
                },
            );
        }
        let names = if stored.contains_key("transformer.embedding.word_embeddings.weight")
            || stored.keys().any(|k| k.starts_with("transformer.encoder."))
        {
            WeightNames::Chatglm
        } else if stored.keys().any(|k| k.starts_with("model.")) {
            WeightNames::Hf
        } else {
            return Err(ModelError::Checkpoint {
                path: dir.to_path_buf(),
                message:
                    "no GLM tensors found (expected names starting with `model.` or `transformer.`)"
                        .into(),
            });
        };
        let fused_qkv = names == WeightNames::Chatglm
            || stored.contains_key(&tensor_name(names, Part::QkvFusedWeight(0)));
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            files,
            names,
            fused_qkv,
            store,
            stored,
        })
    }

    /// Every tensor in the checkpoint, by name.
    pub fn stored(&self) -> &BTreeMap<String, StoredTensor> {
        &self.stored
    }

    pub fn contains(&self, name: &str) -> bool {
        self.stored.contains_key(name)
    }

    /// Loads one tensor, checking its shape and that it is a float tensor, converted to `dtype`.
    pub fn load(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, ModelError> {
        let Some(stored) = self.stored.get(name) else {
            return Err(ModelError::MissingTensor {
                name: name.into(),
                expected: shape.to_vec(),
            });
        };
        if stored.shape != shape {
            return Err(ModelError::WrongShape {
                name: name.into(),
                expected: shape.to_vec(),
                found: stored.shape.clone(),
            });
        }
        let view = self.store.get(name)?;
        let stored_dtype = match view.dtype() {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F16 => DType::F16,
            other => {
                return Err(ModelError::WrongDtype {
                    name: name.into(),
                    found: format!("{other:?}"),
                    expected: shape.to_vec(),
                })
            }
        };
        let tensor = Tensor::from_raw_buffer(view.data(), stored_dtype, shape, device)?;
        Ok(if stored_dtype == dtype {
            tensor
        } else {
            tensor.to_dtype(dtype)?
        })
    }

    /// A `[rows, cols]` matrix used in place from the map, if it is stored as aligned f32 with
    /// that shape in a mapped file; otherwise it has to be loaded (and its errors come from
    /// [`Checkpoint::load`]).
    pub fn mapped_matrix(&self, name: &str, rows: usize, cols: usize) -> Option<MappedMatrix> {
        match &self.store {
            Store::Mapped(mapped) => MappedMatrix::new(mapped.clone(), name, rows, cols),
            Store::Static(_) => None,
        }
    }

    /// The tensors the model expects under this checkpoint's names, with their shapes.
    pub fn expected(&self, config: &GlmConfig) -> Vec<(String, Vec<usize>)> {
        expected_tensors(self.names, self.fused_qkv, config)
    }

    /// Expected tensors absent from the checkpoint. A tied LM head may be absent.
    pub fn missing(&self, config: &GlmConfig) -> Vec<(String, Vec<usize>)> {
        let lm_head = tensor_name(self.names, Part::LmHead);
        self.expected(config)
            .into_iter()
            .filter(|(name, _)| !self.contains(name))
            .filter(|(name, _)| !(config.tie_word_embeddings && *name == lm_head))
            .collect()
    }

    /// Tensors of the checkpoint that the model does not use, and those it knowingly ignores.
    pub fn unused(&self, config: &GlmConfig) -> (Vec<String>, Vec<String>) {
        let expected: std::collections::HashSet<String> = self
            .expected(config)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let (ignored, unused): (Vec<String>, Vec<String>) = self
            .stored
            .keys()
            .filter(|name| !expected.contains(*name))
            .cloned()
            .partition(|name| IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s)));
        (unused, ignored)
    }
}

/// The files of a checkpoint directory.
fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| ModelError::Io {
            path: index.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::Checkpoint {
                path: index.clone(),
                message: e.to_string(),
            })?;
        let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else {
            return Err(ModelError::Checkpoint {
                path: index,
                message: "no `weight_map` object".into(),
            });
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for (tensor, file) in map {
            let Some(file) = file.as_str() else {
                return Err(ModelError::Checkpoint {
                    path: index.clone(),
                    message: format!("weight_map entry `{tensor}` is not a file name"),
                });
            };
            let path = dir.join(file);
            if !files.contains(&path) {
                if !path.is_file() {
                    return Err(ModelError::Checkpoint {
                        path: index.clone(),
                        message: format!("shard `{file}` (holding `{tensor}`) does not exist"),
                    });
                }
                files.push(path);
            }
        }
        files.sort();
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::Checkpoint {
            path: dir.to_path_buf(),
            message: "no model.safetensors, model.safetensors.index.json or *.safetensors".into(),
        });
    }
    Ok(files)
}

/// A tensor of the model, independent of naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Embedding,
    InputNorm(usize),
    /// transformers' separate projections (`q_proj`, `k_proj`, `v_proj`): 0, 1, 2.
    QkvSplitWeight(usize, usize),
    QkvSplitBias(usize, usize),
    /// THUDM's fused `query_key_value`.
    QkvFusedWeight(usize),
    QkvFusedBias(usize),
    OutProj(usize),
    /// The pre-MLP norm (`post_attention_layernorm` in both namings).
    PostAttentionNorm(usize),
    PostSelfAttnNorm(usize),
    PostMlpNorm(usize),
    GateUp(usize),
    Down(usize),
    FinalNorm,
    LmHead,
}

pub fn tensor_name(names: WeightNames, part: Part) -> String {
    const QKV: [&str; 3] = ["q_proj", "k_proj", "v_proj"];
    match names {
        WeightNames::Hf => match part {
            Part::Embedding => "model.embed_tokens.weight".into(),
            Part::InputNorm(i) => format!("model.layers.{i}.input_layernorm.weight"),
            Part::QkvSplitWeight(i, j) => format!("model.layers.{i}.self_attn.{}.weight", QKV[j]),
            Part::QkvSplitBias(i, j) => format!("model.layers.{i}.self_attn.{}.bias", QKV[j]),
            // transformers' older converter wrote a fused `qkv_proj`.
            Part::QkvFusedWeight(i) => format!("model.layers.{i}.self_attn.qkv_proj.weight"),
            Part::QkvFusedBias(i) => format!("model.layers.{i}.self_attn.qkv_proj.bias"),
            Part::OutProj(i) => format!("model.layers.{i}.self_attn.o_proj.weight"),
            Part::PostAttentionNorm(i) => {
                format!("model.layers.{i}.post_attention_layernorm.weight")
            }
            Part::PostSelfAttnNorm(i) => {
                format!("model.layers.{i}.post_self_attn_layernorm.weight")
            }
            Part::PostMlpNorm(i) => format!("model.layers.{i}.post_mlp_layernorm.weight"),
            Part::GateUp(i) => format!("model.layers.{i}.mlp.gate_up_proj.weight"),
            Part::Down(i) => format!("model.layers.{i}.mlp.down_proj.weight"),
            Part::FinalNorm => "model.norm.weight".into(),
            Part::LmHead => "lm_head.weight".into(),
        },
        WeightNames::Chatglm => {
            let layer = |i: usize, rest: &str| format!("transformer.encoder.layers.{i}.{rest}");
            match part {
                Part::Embedding => "transformer.embedding.word_embeddings.weight".into(),
                Part::InputNorm(i) => layer(i, "input_layernorm.weight"),
                Part::QkvSplitWeight(i, j) => {
                    layer(i, &format!("self_attention.{}.weight", QKV[j]))
                }
                Part::QkvSplitBias(i, j) => layer(i, &format!("self_attention.{}.bias", QKV[j])),
                Part::QkvFusedWeight(i) => layer(i, "self_attention.query_key_value.weight"),
                Part::QkvFusedBias(i) => layer(i, "self_attention.query_key_value.bias"),
                Part::OutProj(i) => layer(i, "self_attention.dense.weight"),
                Part::PostAttentionNorm(i) => layer(i, "post_attention_layernorm.weight"),
                Part::PostSelfAttnNorm(i) => layer(i, "post_self_attn_layernorm.weight"),
                Part::PostMlpNorm(i) => layer(i, "post_mlp_layernorm.weight"),
                Part::GateUp(i) => layer(i, "mlp.dense_h_to_4h.weight"),
                Part::Down(i) => layer(i, "mlp.dense_4h_to_h.weight"),
                Part::FinalNorm => "transformer.encoder.final_layernorm.weight".into(),
                Part::LmHead => "transformer.output_layer.weight".into(),
            }
        }
    }
}

/// Every tensor a checkpoint must hold for `config`, with its shape; `fused_qkv` says whether Q,
/// K and V are one matrix.
pub fn expected_tensors(
    names: WeightNames,
    fused_qkv: bool,
    config: &GlmConfig,
) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden_size;
    let f = config.intermediate_size;
    let q = config.num_attention_heads * config.head_dim;
    let kv = config.num_key_value_heads * config.head_dim;
    let mut out = vec![(Part::Embedding, vec![config.vocab_size, h])];
    for i in 0..config.num_hidden_layers {
        out.push((Part::InputNorm(i), vec![h]));
        if fused_qkv {
            out.push((Part::QkvFusedWeight(i), vec![config.qkv_size(), h]));
            if config.attention_bias {
                out.push((Part::QkvFusedBias(i), vec![config.qkv_size()]));
            }
        } else {
            for (j, rows) in [q, kv, kv].into_iter().enumerate() {
                out.push((Part::QkvSplitWeight(i, j), vec![rows, h]));
                if config.attention_bias {
                    out.push((Part::QkvSplitBias(i, j), vec![rows]));
                }
            }
        }
        out.push((Part::OutProj(i), vec![h, q]));
        out.push((Part::PostAttentionNorm(i), vec![h]));
        out.push((Part::GateUp(i), vec![2 * f, h]));
        out.push((Part::Down(i), vec![h, f]));
        if config.sandwich_norms {
            out.push((Part::PostSelfAttnNorm(i), vec![h]));
            out.push((Part::PostMlpNorm(i), vec![h]));
        }
    }
    out.push((Part::FinalNorm, vec![h]));
    out.push((Part::LmHead, vec![config.vocab_size, h]));
    out.into_iter()
        .map(|(part, shape)| (tensor_name(names, part), shape))
        .collect()
}
