//! Where a model comes from: a checkpoint directory, or the reference model compiled into glmkit
//! (`builtin`). Every command and pipeline step that takes a model resolves it here.

use candle_core::{DType, Device};
use std::fmt;
use std::path::{Path, PathBuf};

use super::config::GlmConfig;
use super::error::ModelError;
use super::glm4::Glm4;
use super::score::Tokenizer;
use super::weights::Checkpoint;

/// The reference model shipped inside the binary: a small GLM-4 (transformers `glm` layout, bf16)
/// trained by `scripts/model/train_reference.py` on the bundled corpus (docs/model.md).
pub mod builtin {
    /// The name that selects it wherever a model is taken.
    pub const NAME: &str = "builtin";
    pub const CONFIG: &str = include_str!("../../data/model/config.json");
    pub const TOKENIZER: &str = include_str!("../../data/model/tokenizer.json");
    pub static WEIGHTS: &[u8] = include_bytes!("../../data/model/model.safetensors");
    /// What it was trained on and how (held-out document ids, settings, losses).
    pub const TRAIN_REPORT: &str = include_str!("../../data/model/train_report.json");
}

/// A model: a directory (config.json + safetensors [+ tokenizer]) or the built-in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Dir(PathBuf),
    Builtin,
}

impl ModelSource {
    /// `builtin` selects the built-in model; anything else is a directory.
    pub fn parse(spec: &str) -> Self {
        Self::parse_with(spec, |dir| PathBuf::from(dir))
    }

    /// Like [`ModelSource::parse`], with directories resolved by `resolve` (a pipeline file
    /// resolves them against its own folder).
    pub fn parse_with(spec: &str, resolve: impl FnOnce(&str) -> PathBuf) -> Self {
        if spec == builtin::NAME {
            ModelSource::Builtin
        } else {
            ModelSource::Dir(resolve(spec))
        }
    }

    pub fn config(&self) -> Result<GlmConfig, ModelError> {
        match self {
            ModelSource::Dir(dir) => GlmConfig::from_dir(dir),
            ModelSource::Builtin => GlmConfig::from_json_str(builtin::CONFIG),
        }
    }

    /// The weights: mapped files, or the built-in safetensors image.
    pub fn checkpoint(&self) -> Result<Checkpoint, ModelError> {
        match self {
            ModelSource::Dir(dir) => Checkpoint::open(dir),
            ModelSource::Builtin => Checkpoint::from_static_bytes(builtin::NAME, builtin::WEIGHTS),
        }
    }

    /// Config and weights as a model in `dtype` on `device`; `copy_weights` copies f32 weights out
    /// of a mapped checkpoint instead of using them in place.
    pub fn load(
        &self,
        dtype: DType,
        device: &Device,
        copy_weights: bool,
    ) -> Result<Glm4, ModelError> {
        let config = self.config()?;
        let checkpoint = self.checkpoint()?;
        if copy_weights {
            Glm4::load_copied(&config, &checkpoint, dtype, device)
        } else {
            Glm4::load(&config, &checkpoint, dtype, device)
        }
    }

    /// `explicit` if given; else the model's own tokenizer: the built-in one, or
    /// `DIR/tokenizer.json`, else `DIR/tokenizer.model` (THUDM's GLM-4 checkpoints ship a
    /// tiktoken rank file instead of a tokenizer.json).
    pub fn tokenizer(&self, explicit: Option<&Path>) -> Result<Tokenizer, ModelError> {
        if let Some(path) = explicit {
            return Tokenizer::open(path);
        }
        match self {
            ModelSource::Builtin => Tokenizer::from_json_str(builtin::NAME, builtin::TOKENIZER),
            ModelSource::Dir(dir) => {
                let json = dir.join("tokenizer.json");
                let ranks = dir.join("tokenizer.model");
                Tokenizer::open(if !json.exists() && ranks.exists() {
                    &ranks
                } else {
                    &json
                })
            }
        }
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Dir(dir) => write!(f, "{}", dir.display()),
            ModelSource::Builtin => f.write_str(builtin::NAME),
        }
    }
}

impl std::str::FromStr for ModelSource {
    type Err = std::convert::Infallible;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Ok(ModelSource::parse(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_name_selects_the_builtin_model_and_anything_else_a_directory() {
        assert_eq!(ModelSource::parse("builtin"), ModelSource::Builtin);
        assert_eq!(
            ModelSource::parse("./builtin"),
            ModelSource::Dir(PathBuf::from("./builtin"))
        );
        assert_eq!(
            ModelSource::parse_with("m", |p| Path::new("/base").join(p)),
            ModelSource::Dir(PathBuf::from("/base/m"))
        );
    }

    #[test]
    fn builtin_model_loads_with_its_tokenizer() {
        let source = ModelSource::Builtin;
        let config = source.config().unwrap();
        let model = source.load(DType::F32, &Device::Cpu, false).unwrap();
        assert_eq!(model.config().vocab_size, config.vocab_size);
        let tokenizer = source.tokenizer(None).unwrap();
        use super::super::score::TextEncoder;
        assert!((tokenizer.max_id() as usize) < config.vocab_size);
        assert_eq!(tokenizer.prefix().len(), 2, "[gMASK]<sop> prefix");
        assert!(!tokenizer.encode("Hello, world").unwrap().is_empty());
    }
}
