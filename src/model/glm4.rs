//! The GLM-4 forward pass (GLM-4-9B and GLM-4-0414), for scoring whole sequences.
//!
//! Pre-norm decoder blocks with RMSNorm, grouped-query attention with QKV bias and a partial,
//! interleaved rotary embedding, a fused gate/up SwiGLU MLP, a final norm and an untied LM head.
//! GLM-4-0414 adds a norm on each sub-block's output before the residual add. The numerics follow
//! transformers' `modeling_glm.py` / `modeling_glm4.py`: rotary tables and the attention softmax
//! in f32, RMSNorm in f32 and cast back before the weight multiply.

use candle_core::{CpuStorage, DType, Device, Storage, Tensor, D};
use std::sync::Mutex;

use super::config::GlmConfig;
use super::error::ModelError;
use super::mapped::MappedMatrix;
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

/// A loaded GLM-4 model.
pub struct Glm4 {
    config: GlmConfig,
    dtype: DType,
    device: Device,
    embedding: Matrix,
    layers: Vec<Layer>,
    final_norm: Tensor,
    lm_head: Matrix,
    /// `1 / theta^(2i / R)` for the R rotated dims of each head, in f32.
    inv_freq: Vec<f32>,
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
        let inv_freq = (0..rotary / 2)
            .map(|i| 1.0 / (config.rope_theta as f32).powf((2 * i) as f32 / rotary as f32))
            .collect();
        Ok(Glm4 {
            config: config.clone(),
            dtype,
            device: device.clone(),
            embedding,
            final_norm: get(Part::FinalNorm, &[h])?,
            lm_head,
            layers,
            inv_freq,
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
        let h = self.config.hidden_size;
        let mut x = self.embedding.rows(&ids.flatten_all()?)?; // [B*T, H]
        let (cos, sin) = self.rotary_tables(t)?;
        let mask = self.attention_mask(t, lengths)?;
        for layer in &self.layers {
            let attn = self.attention(
                layer,
                &rms_norm(&x, &layer.input_norm, self.config.rms_norm_eps)?,
                b,
                t,
                &cos,
                &sin,
                &mask,
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

    /// `cos` and `sin` of `pos * inv_freq[i]`, `[T, R/2]`, computed in f32 and cast to the model dtype.
    fn rotary_tables(&self, t: usize) -> Result<(Tensor, Tensor), ModelError> {
        let half = self.inv_freq.len();
        let mut angles = Vec::with_capacity(t * half);
        for pos in 0..t {
            angles.extend(self.inv_freq.iter().map(|f| pos as f32 * f));
        }
        let angles = Tensor::from_vec(angles, (t, half), &self.device)?;
        Ok((
            angles.cos()?.to_dtype(self.dtype)?,
            angles.sin()?.to_dtype(self.dtype)?,
        ))
    }

    /// Additive f32 mask `[B, 1, T, T]`: a query sees keys at or before it that are not padding.
    fn attention_mask(&self, t: usize, lengths: &[usize]) -> Result<Tensor, ModelError> {
        let mut mask = vec![0f32; lengths.len() * t * t];
        for (b, &len) in lengths.iter().enumerate() {
            for i in 0..t {
                let row = &mut mask[(b * t + i) * t..(b * t + i + 1) * t];
                for (j, m) in row.iter_mut().enumerate() {
                    // A padded query row keeps key 0 visible so that its softmax stays finite.
                    if j > i || (j >= len && j > 0) {
                        *m = f32::NEG_INFINITY;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(
            mask,
            (lengths.len(), 1, t, t),
            &self.device,
        )?)
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
        mask: &Tensor,
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
        // Query head j reads key/value head j / groups: the heads of one group are contiguous, so
        // folding them into the row dim shares K and V without copying them.
        let q = q.reshape((b, nkv, groups * t, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.reshape((b, nh, t, t))?;
        let scores = scores.to_dtype(DType::F32)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(self.dtype)?;
        let out = probs.reshape((b, nkv, groups * t, t))?.matmul(&v)?; // [B, nkv, g*T, hd]
        let out = out
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((b * t, nh * hd))?;
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
