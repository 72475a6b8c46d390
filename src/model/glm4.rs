//! The GLM-4 forward pass (GLM-4-9B and GLM-4-0414), for scoring whole sequences.
//!
//! Pre-norm decoder blocks with RMSNorm, grouped-query attention with QKV bias and a partial,
//! interleaved rotary embedding, a fused gate/up SwiGLU MLP, a final norm and an untied LM head.
//! GLM-4-0414 adds a norm on each sub-block's output before the residual add. The numerics follow
//! transformers' `modeling_glm.py` / `modeling_glm4.py`: rotary tables and the attention softmax
//! in f32, RMSNorm in f32 and cast back before the weight multiply.

use candle_core::{CpuStorage, DType, Device, Storage, Tensor, D};
use std::sync::{Arc, Mutex};

use super::config::GlmConfig;
use super::error::ModelError;
use super::mapped::MappedMatrix;
use super::packing::Packing;
use super::weights::{tensor_name, Checkpoint, Part};

/// A weight matrix `[out, in]`: a tensor of its own, or read in place from the mapped checkpoint
/// (f32 on the CPU).
enum Matrix {
    Loaded(Tensor),
    Mapped(MappedMatrix),
}

impl Matrix {
    /// `x @ self^T` for `x` `[n, in]`.
    fn matmul_t(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Matrix::Loaded(w) => x.matmul(&w.t()?),
            Matrix::Mapped(w) => w.matmul_t(&x.contiguous()?),
        }
    }

    /// Rows `ids` (an embedding lookup).
    fn rows(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Matrix::Loaded(w) => w.index_select(ids, 0),
            Matrix::Mapped(w) => w.rows(&ids.to_vec1::<u32>()?, ids.device()),
        }
    }
}

struct Layer {
    input_norm: Tensor,
    /// `[Q; K; V]` rows: THUDM's fused matrix, or transformers' three projections stacked (when
    /// loaded) or applied one after the other (when mapped).
    qkv: Vec<Matrix>,
    qkv_bias: Option<Tensor>,
    out_proj: Matrix,
    post_self_attn_norm: Option<Tensor>,
    post_attention_norm: Tensor,
    /// `[gate; up]` rows.
    gate_up: Matrix,
    down: Matrix,
    post_mlp_norm: Option<Tensor>,
}

/// Bytes of f32 attention scores one block of queries may take (all heads of a batch): on the
/// CPU, and on a GPU (larger blocks mean fewer, larger products there).
const SCORE_BYTES: usize = 256 << 20;
const GPU_SCORE_BYTES: usize = 1 << 30;

/// Query blocks hold a multiple of this many rows.
const LENGTH_ALIGN: usize = 16;

/// Tables for sequences of up to `len` positions, on the model's device.
struct Tables {
    len: usize,
    /// `cos` / `sin` of `pos * inv_freq[i]`, `[len, R/2]`, in the model dtype.
    cos: Tensor,
    sin: Tensor,
    /// `[query, key]` u8: 1 where key <= query.
    causal: Tensor,
}

/// Queries `start..start + len` of every row and their additive mask `[B, 1, len, start + len]`.
struct QueryBlock {
    start: usize,
    len: usize,
    mask: Tensor,
}

/// A loaded GLM-4 model.
pub struct Glm4 {
    config: GlmConfig,
    dtype: DType,
    device: Device,
    embedding: Matrix,
    layers: Vec<Layer>,
    final_norm: Tensor,
    lm_head: Matrix,
    /// `1 / theta^(2i / R)` for the R rotated dims of each head, in f32, on the device.
    inv_freq: Tensor,
    /// Rotary tables and the causal mask for the longest length seen so far.
    tables: Mutex<Option<Arc<Tables>>>,
    /// Fixed number of query rows per attention block (tests and benchmarks).
    query_block: Option<usize>,
    /// Reused for logits computed from mapped weights: a fresh `[rows, vocab]` buffer per call
    /// would fault in (and zero) tens of MB each time.
    logit_buffer: Mutex<Vec<f32>>,
}

impl Glm4 {
    /// Loads the weights of `checkpoint` for `config`, converted to `dtype`. An f32 checkpoint
    /// run in f32 on the CPU keeps its matrices in the map instead of copying them.
    pub fn load(
        config: &GlmConfig,
        checkpoint: &Checkpoint,
        dtype: DType,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::load_inner(config, checkpoint, dtype, device, true)
    }

    /// Like [`Glm4::load`], but copies every tensor out of the map.
    pub fn load_copied(
        config: &GlmConfig,
        checkpoint: &Checkpoint,
        dtype: DType,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::load_inner(config, checkpoint, dtype, device, false)
    }

    fn load_inner(
        config: &GlmConfig,
        checkpoint: &Checkpoint,
        dtype: DType,
        device: &Device,
        allow_mapped: bool,
    ) -> Result<Self, ModelError> {
        let names = checkpoint.names;
        let get = |part: Part, shape: &[usize]| {
            checkpoint.load(&tensor_name(names, part), shape, dtype, device)
        };
        let in_place = allow_mapped && device.is_cpu() && dtype == DType::F32;
        let matrix = |part: Part, rows: usize, cols: usize| -> Result<Matrix, ModelError> {
            let name = tensor_name(names, part);
            if in_place {
                if let Some(mapped) = checkpoint.mapped_matrix(&name, rows, cols) {
                    return Ok(Matrix::Mapped(mapped));
                }
            }
            Ok(Matrix::Loaded(checkpoint.load(
                &name,
                &[rows, cols],
                dtype,
                device,
            )?))
        };
        let h = config.hidden_size;
        let f = config.intermediate_size;
        let q_rows = config.num_attention_heads * config.head_dim;
        let kv_rows = config.num_key_value_heads * config.head_dim;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let (qkv, qkv_bias) = if checkpoint.fused_qkv {
                let w = vec![matrix(Part::QkvFusedWeight(i), config.qkv_size(), h)?];
                let b = match config.attention_bias {
                    true => Some(get(Part::QkvFusedBias(i), &[config.qkv_size()])?),
                    false => None,
                };
                (w, b)
            } else {
                let rows = [q_rows, kv_rows, kv_rows];
                let mut w: Vec<Matrix> = (0..3)
                    .map(|j| matrix(Part::QkvSplitWeight(i, j), rows[j], h))
                    .collect::<Result<_, _>>()?;
                // Copied projections are stacked so that one product computes all three.
                if w.iter().all(|m| matches!(m, Matrix::Loaded(_))) {
                    let parts: Vec<Tensor> = w
                        .drain(..)
                        .filter_map(|m| match m {
                            Matrix::Loaded(t) => Some(t),
                            Matrix::Mapped(_) => None,
                        })
                        .collect();
                    w = vec![Matrix::Loaded(Tensor::cat(&parts, 0)?)];
                }
                let b = match config.attention_bias {
                    true => {
                        let b: Vec<Tensor> = (0..3)
                            .map(|j| get(Part::QkvSplitBias(i, j), &[rows[j]]))
                            .collect::<Result<_, _>>()?;
                        Some(Tensor::cat(&b, 0)?)
                    }
                    false => None,
                };
                (w, b)
            };
            let sandwich = |part: Part| -> Result<Option<Tensor>, ModelError> {
                match config.sandwich_norms {
                    true => Ok(Some(get(part, &[h])?)),
                    false => Ok(None),
                }
            };
            layers.push(Layer {
                input_norm: get(Part::InputNorm(i), &[h])?,
                qkv,
                qkv_bias,
                out_proj: matrix(Part::OutProj(i), h, q_rows)?,
                post_self_attn_norm: sandwich(Part::PostSelfAttnNorm(i))?,
                post_attention_norm: get(Part::PostAttentionNorm(i), &[h])?,
                gate_up: matrix(Part::GateUp(i), 2 * f, h)?,
                down: matrix(Part::Down(i), h, f)?,
                post_mlp_norm: sandwich(Part::PostMlpNorm(i))?,
            });
        }
        let embedding = matrix(Part::Embedding, config.vocab_size, h)?;
        let lm_head_name = tensor_name(names, Part::LmHead);
        let lm_head = if config.tie_word_embeddings && !checkpoint.contains(&lm_head_name) {
            matrix(Part::Embedding, config.vocab_size, h)?
        } else {
            matrix(Part::LmHead, config.vocab_size, h)?
        };
        let rotary = config.rotary_dim();
        let inv_freq: Vec<f32> = (0..rotary / 2)
            .map(|i| 1.0 / (config.rope_theta as f32).powf((2 * i) as f32 / rotary as f32))
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, rotary / 2), device)?;
        Ok(Glm4 {
            config: config.clone(),
            dtype,
            device: device.clone(),
            embedding,
            final_norm: get(Part::FinalNorm, &[h])?,
            lm_head,
            layers,
            inv_freq,
            tables: Mutex::new(None),
            query_block: None,
            logit_buffer: Mutex::new(Vec::new()),
        })
    }

    pub fn config(&self) -> &GlmConfig {
        &self.config
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the weight matrices are read in place from the mapped checkpoint.
    pub fn weights_mapped(&self) -> bool {
        matches!(self.lm_head, Matrix::Mapped(_))
    }

    /// Final hidden states `[B, T, H]` for `ids` `[B, T]` (u32), where `lengths[b]` leading
    /// positions of row b are real tokens and the rest is right padding.
    pub fn hidden_states(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor, ModelError> {
        let (b, t) = ids.dims2()?;
        if lengths.len() != b {
            return Err(ModelError::Input(format!(
                "{} lengths for a batch of {b}",
                lengths.len()
            )));
        }
        self.hidden_states_packed(ids, &Packing::one_per_row(t, lengths)?)
    }

    /// Final hidden states `[B, T, H]` for `ids` `[B, T]` (u32) laid out as `packing` says: each
    /// sequence of a row sees only itself, with positions from 0.
    pub fn hidden_states_packed(
        &self,
        ids: &Tensor,
        packing: &Packing,
    ) -> Result<Tensor, ModelError> {
        let (b, t) = ids.dims2()?;
        if packing.rows() != b || packing.len() != t {
            return Err(ModelError::Input(format!(
                "a packing of {} rows of {} for a batch of [{b}, {t}]",
                packing.rows(),
                packing.len()
            )));
        }
        let h = self.config.hidden_size;
        let mut x = self.embedding.rows(&ids.flatten_all()?)?; // [B*T, H]
        let tables = self.tables(t)?;
        let (segments, positions) = packing.segments_and_positions();
        let (cos, sin) = if packing.is_packed() {
            let positions = Tensor::from_vec(positions, b * t, &self.device)?;
            let half = tables.cos.dim(1)?;
            (
                tables
                    .cos
                    .index_select(&positions, 0)?
                    .reshape((b, t, half))?,
                tables
                    .sin
                    .index_select(&positions, 0)?
                    .reshape((b, t, half))?,
            )
        } else {
            (tables.cos.narrow(0, 0, t)?, tables.sin.narrow(0, 0, t)?)
        };
        let segments = Tensor::from_vec(segments, (b, t), &self.device)?;
        let masks = self.attention_masks(&tables, &segments)?;
        for layer in &self.layers {
            let attn = self.attention(
                layer,
                &rms_norm(&x, &layer.input_norm, self.config.rms_norm_eps)?,
                b,
                t,
                &cos,
                &sin,
                &masks,
            )?;
            let attn = match &layer.post_self_attn_norm {
                Some(w) => rms_norm(&attn, w, self.config.rms_norm_eps)?,
                None => attn,
            };
            x = (x + attn)?;
            let mlp = self.mlp(
                layer,
                &rms_norm(&x, &layer.post_attention_norm, self.config.rms_norm_eps)?,
            )?;
            let mlp = match &layer.post_mlp_norm {
                Some(w) => rms_norm(&mlp, w, self.config.rms_norm_eps)?,
                None => mlp,
            };
            x = (x + mlp)?;
        }
        Ok(rms_norm(&x, &self.final_norm, self.config.rms_norm_eps)?.reshape((b, t, h))?)
    }

    /// Logits `[N, V]` (in the model dtype) for hidden states `[N, H]`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor, ModelError> {
        Ok(self.lm_head.matmul_t(hidden)?)
    }

    /// Calls `f` with the f32 logits `[N, V]` (row-major) of hidden states `[N, H]`, without
    /// allocating a new buffer when the LM head is mapped.
    pub fn with_logits<R>(
        &self,
        hidden: &Tensor,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, ModelError> {
        if let (Matrix::Mapped(head), DType::F32) = (&self.lm_head, hidden.dtype()) {
            let hidden = hidden.contiguous()?;
            let (n, _) = hidden.dims2()?;
            let (storage, layout) = hidden.storage_and_layout();
            if let (Storage::Cpu(CpuStorage::F32(all)), Some((begin, end))) =
                (&*storage, layout.contiguous_offsets())
            {
                let mut buffer = self
                    .logit_buffer
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                head.matmul_t_into(&all[begin..end], n, &mut buffer)?;
                return Ok(f(&buffer));
            }
        }
        let logits = self
            .logits(hidden)?
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?
            .contiguous()?;
        let (storage, layout) = logits.storage_and_layout();
        match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(all)), Some((begin, end))) => Ok(f(&all[begin..end])),
            _ => Err(ModelError::Input(
                "logits are not a contiguous f32 CPU tensor".into(),
            )),
        }
    }

    /// Full logits `[B, T, V]` as f32.
    pub fn forward(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor, ModelError> {
        let hidden = self.hidden_states(ids, lengths)?;
        let (b, t, h) = hidden.dims3()?;
        let logits = self.logits(&hidden.reshape((b * t, h))?)?;
        Ok(logits
            .to_dtype(DType::F32)?
            .reshape((b, t, self.config.vocab_size))?)
    }

    /// Rows of queries per attention block: at most `rows` when set, else as many as keep one
    /// block's f32 scores within [`SCORE_BYTES`] on the CPU, [`GPU_SCORE_BYTES`] on a GPU (the
    /// whole sequence when it fits).
    pub fn set_query_block(&mut self, rows: Option<usize>) {
        self.query_block = rows;
    }

    /// Rotary tables and causal mask for sequences of up to `t` positions, made on the device
    /// the first time a length is longer than any before and narrowed for shorter ones.
    fn tables(&self, t: usize) -> Result<Arc<Tables>, ModelError> {
        let mut cache = self
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tables) = cache.as_ref().filter(|tables| tables.len >= t) {
            return Ok(tables.clone());
        }
        let positions = Tensor::arange(0u32, t as u32, &self.device)?;
        // `pos * inv_freq[i]` in f32 (u32 -> f32 is exact below 2^24), cos and sin in f32.
        let angles = positions
            .to_dtype(DType::F32)?
            .reshape((t, 1))?
            .broadcast_mul(&self.inv_freq)?;
        let causal = positions
            .reshape((1, t))?
            .broadcast_le(&positions.reshape((t, 1))?)?; // [query, key]: 1 where key <= query
        let tables = Arc::new(Tables {
            len: t,
            cos: angles.cos()?.to_dtype(self.dtype)?,
            sin: angles.sin()?.to_dtype(self.dtype)?,
            causal,
        });
        *cache = Some(tables.clone());
        Ok(tables)
    }

    /// Additive f32 masks `[B, 1, rows, keys]` of each block of queries: a query sees the keys
    /// of its own sequence at or before it (`segments` `[B, T]`, see [`Packing`]). A block's
    /// keys stop at its last query, since later keys are masked anyway.
    fn attention_masks(
        &self,
        tables: &Tables,
        segments: &Tensor,
    ) -> Result<Vec<QueryBlock>, ModelError> {
        let (b, t) = segments.dims2()?;
        let c = &self.config;
        let rows = self.query_block.unwrap_or_else(|| {
            let per_row = b * c.num_attention_heads * t * std::mem::size_of::<f32>();
            let budget = match self.device.is_cpu() {
                true => SCORE_BYTES,
                false => GPU_SCORE_BYTES,
            };
            (budget / per_row.max(1)).max(1)
        });
        let rows = if rows >= t {
            t
        } else {
            (rows / LENGTH_ALIGN * LENGTH_ALIGN)
                .max(LENGTH_ALIGN)
                .min(t)
        };
        let mut blocks = Vec::with_capacity(t.div_ceil(rows));
        for start in (0..t).step_by(rows) {
            let n = rows.min(t - start);
            let keys = start + n;
            let causal = tables.causal.narrow(0, start, n)?.narrow(1, 0, keys)?;
            let same = segments
                .narrow(1, start, n)?
                .unsqueeze(2)?
                .broadcast_eq(&segments.narrow(1, 0, keys)?.unsqueeze(1)?)?; // [B, n, keys]
            let visible = same.broadcast_mul(&causal)?;
            let zero = Tensor::zeros((b, n, keys), DType::F32, &self.device)?;
            let hidden = Tensor::full(f32::NEG_INFINITY, (b, n, keys), &self.device)?;
            blocks.push(QueryBlock {
                start,
                len: n,
                mask: visible.where_cond(&zero, &hidden)?.unsqueeze(1)?,
            });
        }
        Ok(blocks)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        b: usize,
        t: usize,
        cos: &Tensor,
        sin: &Tensor,
        blocks: &[QueryBlock],
    ) -> Result<Tensor, ModelError> {
        let c = &self.config;
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        let groups = nh / nkv;
        let mut qkv = match layer.qkv.as_slice() {
            [fused] => fused.matmul_t(x)?,
            parts => Tensor::cat(
                &parts
                    .iter()
                    .map(|w| w.matmul_t(x))
                    .collect::<Result<Vec<_>, _>>()?,
                1,
            )?,
        };
        if let Some(bias) = &layer.qkv_bias {
            qkv = qkv.broadcast_add(bias)?;
        }
        let heads = |start: usize, n: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(1, start * hd, n * hd)?
                .reshape((b, t, n, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = self.rotate(&heads(0, nh)?, cos, sin)?;
        let k = self.rotate(&heads(nh, nkv)?, cos, sin)?;
        let v = heads(nh + nkv, nkv)?;
        let scale = 1.0 / (hd as f64).sqrt();
        // Query head j reads key/value head j / groups: the heads of one group are contiguous, so
        // folding them into the row dim shares K and V without copying them. Queries go in
        // blocks so that the f32 scores of a long window never exist all at once.
        let mut outs = Vec::with_capacity(blocks.len());
        for block in blocks {
            let (n, keys) = (block.len, block.start + block.len);
            let (q, k, v) = if n == t {
                (q.clone(), k.clone(), v.clone())
            } else {
                (
                    q.narrow(2, block.start, n)?.contiguous()?,
                    k.narrow(2, 0, keys)?.contiguous()?,
                    v.narrow(2, 0, keys)?.contiguous()?,
                )
            };
            let q = q.reshape((b, nkv, groups * n, hd))?;
            let scores = (q.matmul(&k.t()?)? * scale)?.reshape((b, nh, n, keys))?;
            let scores = scores.to_dtype(DType::F32)?.broadcast_add(&block.mask)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(self.dtype)?;
            let out = probs.reshape((b, nkv, groups * n, keys))?.matmul(&v)?; // [B, nkv, g*n, hd]
            outs.push(out.reshape((b, nh, n, hd))?);
        }
        let out = match outs.len() {
            1 => outs.pop().expect("one block"),
            _ => Tensor::cat(&outs, 2)?,
        };
        let out = out.transpose(1, 2)?.reshape((b * t, nh * hd))?;
        Ok(layer.out_proj.matmul_t(&out)?)
    }

    /// Rotates the first R dims of each head in interleaved pairs `(x[2i], x[2i+1])`.
    fn rotate(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor, ModelError> {
        let hd = self.config.head_dim;
        let r = self.config.rotary_dim();
        if r == hd {
            return Ok(candle_nn::rotary_emb::rope_i(x, cos, sin)?);
        }
        let rotated =
            candle_nn::rotary_emb::rope_i(&x.narrow(D::Minus1, 0, r)?.contiguous()?, cos, sin)?;
        Ok(Tensor::cat(
            &[rotated, x.narrow(D::Minus1, r, hd - r)?],
            D::Minus1,
        )?)
    }

    fn mlp(&self, layer: &Layer, x: &Tensor) -> Result<Tensor, ModelError> {
        let f = self.config.intermediate_size;
        let gate_up = layer.gate_up.matmul_t(x)?;
        let act = (gate_up.narrow(1, 0, f)?.silu()? * gate_up.narrow(1, f, f)?)?;
        Ok(layer.down.matmul_t(&act)?)
    }
}

/// `w * x / sqrt(mean(x^2) + eps)`, normalised in f32 and cast back before the weight multiply.
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor, ModelError> {
    if x.dtype() == DType::F32 {
        return Ok(candle_nn::ops::rms_norm(
            &x.contiguous()?,
            weight,
            eps as f32,
        )?);
    }
    let x32 = x.to_dtype(DType::F32)?;
    let mean_square = x32.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = x32.broadcast_div(&(mean_square + eps)?.sqrt()?)?;
    Ok(normed.to_dtype(x.dtype())?.broadcast_mul(weight)?)
}
