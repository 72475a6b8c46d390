//! One internal GLM-4 configuration, read from any of the three `config.json` layouts:
//! transformers' `glm` (GLM-4-9B "-hf"), transformers' `glm4` (GLM-4-0414, sandwich norms) and
//! THUDM's original `chatglm` (`ChatGLMModel`). Defaults follow the classes that write these
//! files (`GlmConfig`, `Glm4Config`, `ChatGLMConfig`), so a config that omits a key means what
//! it means to transformers.

use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;

use super::error::ModelError;

/// Which config layout a `config.json` was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigLayout {
    /// transformers `GlmForCausalLM` (`model_type: "glm"`).
    Glm,
    /// transformers `Glm4ForCausalLM` (`model_type: "glm4"`): extra post-attention and post-MLP norms.
    Glm4,
    /// THUDM `ChatGLMModel` (`model_type: "chatglm"`).
    Chatglm,
}

/// The GLM-4 architecture, in transformers' names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlmConfig {
    pub layout: ConfigLayout,
    /// Rows of the embedding and LM head (the padded vocabulary).
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub partial_rotary_factor: f64,
    /// Q, K and V projections carry a bias.
    pub attention_bias: bool,
    /// GLM-4-0414's extra norms on each sub-block's output (`post_self_attn_layernorm`,
    /// `post_mlp_layernorm`).
    pub sandwich_norms: bool,
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: usize,
}

impl GlmConfig {
    /// Reads `config.json` from a model directory.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| e.in_file(&path))
    }

    pub fn from_json_str(text: &str) -> Result<Self, ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ModelError::Config {
            key: "(json)".into(),
            message: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(ModelError::Config {
                key: "(root)".into(),
                message: "config.json must hold a JSON object".into(),
            });
        };
        Self::from_map(&map)
    }

    pub fn from_map(map: &Map<String, Value>) -> Result<Self, ModelError> {
        let keys = Keys(map);
        let model_type = keys.string("model_type")?;
        let config = match model_type.as_deref() {
            Some("glm") => hf(&keys, ConfigLayout::Glm)?,
            Some("glm4") => hf(&keys, ConfigLayout::Glm4)?,
            Some("chatglm") => chatglm(&keys)?,
            None if is_chatglm_architecture(&keys)? => chatglm(&keys)?,
            Some(other) => {
                return Err(config_error(
                    "model_type",
                    format!("`{other}` is not a GLM-4 model (expected glm, glm4 or chatglm)"),
                ))
            }
            None => {
                return Err(config_error(
                    "model_type",
                    "missing, and `architectures` does not name ChatGLMModel",
                ))
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Number of leading dims of each head that the rotary embedding rotates.
    pub fn rotary_dim(&self) -> usize {
        (self.head_dim as f64 * self.partial_rotary_factor) as usize
    }

    /// Width of the fused Q, K, V projection output.
    pub fn qkv_size(&self) -> usize {
        (self.num_attention_heads + 2 * self.num_key_value_heads) * self.head_dim
    }

    fn validate(&self) -> Result<(), ModelError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(config_error(key, "must be positive"));
            }
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(config_error(
                "num_key_value_heads",
                format!(
                    "{} key/value heads do not divide {} attention heads",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if !(self.partial_rotary_factor > 0.0 && self.partial_rotary_factor <= 1.0) {
            return Err(config_error(
                "partial_rotary_factor",
                format!("{} is outside (0, 1]", self.partial_rotary_factor),
            ));
        }
        let rotary = self.rotary_dim();
        if rotary == 0 || !rotary.is_multiple_of(2) {
            return Err(config_error(
                "partial_rotary_factor",
                format!(
                    "gives a rotary dim of {rotary} for head_dim {}; it must be even and positive",
                    self.head_dim
                ),
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return Err(config_error(
                "rms_norm_eps",
                format!("{} must be a positive number", self.rms_norm_eps),
            ));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(config_error(
                "rope_theta",
                format!("{} must be a positive number", self.rope_theta),
            ));
        }
        Ok(())
    }
}

fn config_error(key: &str, message: impl Into<String>) -> ModelError {
    ModelError::Config {
        key: key.to_string(),
        message: message.into(),
    }
}

fn is_chatglm_architecture(keys: &Keys) -> Result<bool, ModelError> {
    Ok(match keys.0.get("architectures") {
        Some(Value::Array(items)) => items.iter().any(|a| {
            matches!(
                a.as_str(),
                Some("ChatGLMModel" | "ChatGLMForConditionalGeneration")
            )
        }),
        _ => false,
    })
}

/// transformers' `GlmConfig` / `Glm4Config` (identical apart from the decoder layer).
fn hf(keys: &Keys, layout: ConfigLayout) -> Result<GlmConfig, ModelError> {
    keys.expect_str("hidden_act", "silu")?;
    keys.expect_absent_or_null("rope_scaling", "rope scaling is not part of GLM-4")?;
    let num_attention_heads = keys.usize_or("num_attention_heads", 32)?;
    let num_key_value_heads = match keys.0.get("num_key_value_heads") {
        Some(Value::Null) => num_attention_heads,
        _ => keys.usize_or("num_key_value_heads", 2)?,
    };
    // transformers >= 5 nests rope settings under `rope_parameters`; Hub files have them on top.
    let (rope_theta, partial_rotary_factor) = match keys.0.get("rope_parameters") {
        Some(Value::Object(params)) => {
            let nested = Keys(params);
            if let Some(kind) = nested.string("rope_type")? {
                if kind != "default" {
                    return Err(config_error(
                        "rope_parameters.rope_type",
                        format!("`{kind}` is not supported (only `default`)"),
                    ));
                }
            }
            let theta = nested
                .f64_opt("rope_theta")?
                .map(Ok)
                .unwrap_or_else(|| keys.f64_or("rope_theta", 10000.0))?;
            let factor = match nested.f64_opt("partial_rotary_factor")? {
                Some(f) => f,
                None => keys.f64_or("partial_rotary_factor", 0.5)?,
            };
            (theta, factor)
        }
        Some(Value::Null) | None => (
            keys.f64_or("rope_theta", 10000.0)?,
            keys.f64_or("partial_rotary_factor", 0.5)?,
        ),
        Some(_) => return Err(config_error("rope_parameters", "must be an object")),
    };
    Ok(GlmConfig {
        layout,
        vocab_size: keys.usize_or("vocab_size", 151552)?,
        hidden_size: keys.usize_or("hidden_size", 4096)?,
        intermediate_size: keys.usize_or("intermediate_size", 13696)?,
        num_hidden_layers: keys.usize_or("num_hidden_layers", 40)?,
        num_attention_heads,
        num_key_value_heads,
        head_dim: keys.usize_or("head_dim", 128)?,
        rms_norm_eps: keys.f64_or("rms_norm_eps", 1.5625e-7)?,
        rope_theta,
        partial_rotary_factor,
        attention_bias: keys.bool_or("attention_bias", true)?,
        sandwich_norms: layout == ConfigLayout::Glm4,
        tie_word_embeddings: keys.bool_or("tie_word_embeddings", false)?,
        max_position_embeddings: keys.usize_or("max_position_embeddings", 131072)?,
    })
}

/// THUDM's `ChatGLMConfig` (configuration_chatglm.py), mapped as `convert_glm_weights_to_hf.py` does.
fn chatglm(keys: &Keys) -> Result<GlmConfig, ModelError> {
    // Variants of the block that GLM-4 does not use: refuse them rather than compute something else.
    keys.expect_bool("rmsnorm", true, "GLM-4 uses RMSNorm")?;
    keys.expect_bool("post_layer_norm", true, "GLM-4 has a final norm")?;
    keys.expect_bool(
        "apply_residual_connection_post_layernorm",
        false,
        "GLM-4 takes the residual before the norm",
    )?;
    keys.expect_bool(
        "add_bias_linear",
        false,
        "GLM-4 has no bias on o_proj and the MLP",
    )?;
    keys.expect_bool("fp32_residual_connection", false, "not supported")?;
    // ChatGLMConfig defaults to false: full multi-head attention with query_key_value
    // interleaved per head, which GLM-4 never uses (it packs [Q; K; V] with grouped KV heads).
    if !keys.bool_or("multi_query_attention", false)? {
        return Err(config_error(
            "multi_query_attention",
            "false or absent (ChatGLMConfig's default) is not supported: GLM-4 sets it to true",
        ));
    }
    let num_layers = keys.usize_opt("num_layers")?;
    let num_hidden_layers = keys.usize_opt("num_hidden_layers")?;
    let layers = match (num_layers, num_hidden_layers) {
        (Some(a), Some(b)) if a != b => {
            return Err(config_error(
                "num_layers",
                format!("{a} disagrees with num_hidden_layers {b}"),
            ))
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => 28,
    };
    let hidden_size = keys.usize_or("hidden_size", 4096)?;
    let num_attention_heads = keys.usize_or("num_attention_heads", 32)?;
    let rope_ratio = keys.f64_or("rope_ratio", 1.0)?;
    if rope_ratio.is_nan() || rope_ratio <= 0.0 {
        return Err(config_error(
            "rope_ratio",
            format!("{rope_ratio} must be positive"),
        ));
    }
    Ok(GlmConfig {
        layout: ConfigLayout::Chatglm,
        vocab_size: keys.usize_or("padded_vocab_size", 65024)?,
        hidden_size,
        intermediate_size: keys.usize_or("ffn_hidden_size", 13696)?,
        num_hidden_layers: layers,
        num_attention_heads,
        num_key_value_heads: keys.usize_or("multi_query_group_num", 1)?,
        head_dim: keys.usize_or("kv_channels", 128)?,
        rms_norm_eps: keys.f64_or("layernorm_epsilon", 1e-5)?,
        rope_theta: 10000.0 * rope_ratio,
        partial_rotary_factor: 0.5,
        attention_bias: keys.bool_or("add_qkv_bias", false)?,
        sandwich_norms: false,
        tie_word_embeddings: keys.bool_or("tie_word_embeddings", false)?,
        max_position_embeddings: keys.usize_or("seq_length", 2048)?,
    })
}

/// Typed access to config keys; every error names the key.
struct Keys<'a>(&'a Map<String, Value>);

impl Keys<'_> {
    fn present(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>, ModelError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(config_error(
                key,
                format!("expected a string, found {other}"),
            )),
        }
    }

    fn usize_opt(&self, key: &str) -> Result<Option<usize>, ModelError> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) => Ok(Some(n as usize)),
                None => Err(config_error(
                    key,
                    format!("expected a non-negative integer, found {v}"),
                )),
            },
        }
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize, ModelError> {
        Ok(self.usize_opt(key)?.unwrap_or(default))
    }

    fn f64_opt(&self, key: &str) -> Result<Option<f64>, ModelError> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) => Ok(Some(n)),
                None => Err(config_error(key, format!("expected a number, found {v}"))),
            },
        }
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64, ModelError> {
        Ok(self.f64_opt(key)?.unwrap_or(default))
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, ModelError> {
        match self.present(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(config_error(
                key,
                format!("expected true or false, found {other}"),
            )),
        }
    }

    fn expect_bool(&self, key: &str, supported: bool, why: &str) -> Result<(), ModelError> {
        let value = self.bool_or(key, supported)?;
        if value != supported {
            return Err(config_error(
                key,
                format!("{value} is not supported ({why})"),
            ));
        }
        Ok(())
    }

    fn expect_str(&self, key: &str, supported: &str) -> Result<(), ModelError> {
        match self.string(key)? {
            Some(value) if value != supported => Err(config_error(
                key,
                format!("`{value}` is not supported (GLM-4 uses `{supported}`)"),
            )),
            _ => Ok(()),
        }
    }

    fn expect_absent_or_null(&self, key: &str, why: &str) -> Result<(), ModelError> {
        match self.present(key) {
            None => Ok(()),
            Some(v) => Err(config_error(key, format!("{v} is not supported ({why})"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HF_GLM: &str = r#"{
        "architectures": ["GlmForCausalLM"], "model_type": "glm", "vocab_size": 151552,
        "hidden_size": 4096, "intermediate_size": 13696, "num_hidden_layers": 40,
        "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128,
        "rms_norm_eps": 1.5625e-07, "rope_theta": 5000000.0, "partial_rotary_factor": 0.5,
        "attention_bias": true, "hidden_act": "silu", "tie_word_embeddings": false,
        "max_position_embeddings": 131072, "torch_dtype": "bfloat16"
    }"#;

    const CHATGLM: &str = r#"{
        "architectures": ["ChatGLMModel"], "model_type": "chatglm", "add_bias_linear": false,
        "add_qkv_bias": true, "apply_residual_connection_post_layernorm": false,
        "ffn_hidden_size": 13696, "fp32_residual_connection": false, "hidden_size": 4096,
        "kv_channels": 128, "layernorm_epsilon": 1.5625e-07, "multi_query_attention": true,
        "multi_query_group_num": 2, "num_attention_heads": 32, "num_layers": 40,
        "original_rope": true, "padded_vocab_size": 151552, "post_layer_norm": true,
        "rmsnorm": true, "rope_ratio": 500, "seq_length": 131072, "tie_word_embeddings": false
    }"#;

    #[test]
    fn chatglm_maps_to_the_same_config_as_hf() {
        let hf = GlmConfig::from_json_str(HF_GLM).unwrap();
        let chat = GlmConfig::from_json_str(CHATGLM).unwrap();
        assert_eq!(hf.layout, ConfigLayout::Glm);
        assert_eq!(chat.layout, ConfigLayout::Chatglm);
        assert_eq!(
            GlmConfig {
                layout: ConfigLayout::Glm,
                ..chat
            },
            hf
        );
        assert_eq!(hf.rotary_dim(), 64);
        assert_eq!(hf.qkv_size(), 4608);
    }

    #[test]
    fn nested_rope_parameters_are_read() {
        let text = r#"{"model_type": "glm4", "head_dim": 64,
            "rope_parameters": {"rope_theta": 12345.0, "partial_rotary_factor": 0.25, "rope_type": "default"}}"#;
        let config = GlmConfig::from_json_str(text).unwrap();
        assert!(config.sandwich_norms);
        assert_eq!(config.rope_theta, 12345.0);
        assert_eq!(config.rotary_dim(), 16);
    }

    fn error_key(text: &str) -> String {
        match GlmConfig::from_json_str(text) {
            Err(ModelError::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(error_key(r#"{"model_type": "llama"}"#), "model_type");
        assert_eq!(
            error_key(r#"{"model_type": "glm", "hidden_act": "gelu"}"#),
            "hidden_act"
        );
        assert_eq!(
            error_key(r#"{"model_type": "glm", "num_key_value_heads": 3}"#),
            "num_key_value_heads"
        );
        assert_eq!(
            error_key(r#"{"model_type": "glm", "hidden_size": "big"}"#),
            "hidden_size"
        );
        assert_eq!(
            error_key(r#"{"model_type": "glm", "rope_parameters": {"rope_type": "yarn"}}"#),
            "rope_parameters.rope_type"
        );
        assert_eq!(
            error_key(
                r#"{"model_type": "chatglm", "multi_query_attention": true, "num_layers": 2, "num_hidden_layers": 3}"#
            ),
            "num_layers"
        );
        assert_eq!(
            error_key(r#"{"model_type": "chatglm", "multi_query_attention": false}"#),
            "multi_query_attention"
        );
        assert_eq!(
            error_key(r#"{"model_type": "chatglm"}"#),
            "multi_query_attention"
        );
        assert_eq!(
            error_key(r#"{"model_type": "chatglm", "add_bias_linear": true}"#),
            "add_bias_linear"
        );
        assert_eq!(
            error_key(r#"{"model_type": "glm", "head_dim": 6, "partial_rotary_factor": 0.5}"#),
            "partial_rotary_factor"
        );
    }
}
