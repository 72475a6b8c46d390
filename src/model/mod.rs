//! The GLM-4 forward pass on candle, checkpoint loading, and perplexity.
//!
//! - [`GlmConfig`]: one config from transformers' `glm` / `glm4` or THUDM's `chatglm` config.json.
//! - [`Checkpoint`]: memory-mapped (sharded) safetensors in transformers' or THUDM's names.
//! - [`ModelSource`]: a model directory or the built-in reference model (`builtin`), resolved in
//!   one place for every command and pipeline step.
//! - [`Glm4`]: the model; [`Batch`] and [`sequence_nll`] for per-sequence NLL and perplexity.

mod batch;
mod config;
mod device;
mod error;
mod glm4;
mod inspect;
mod mapped;
mod nll;
mod packing;
pub mod score;
mod source;
mod weights;

pub use batch::{forward_batch, sequence_nll, Batch, SequenceNll};
pub use config::{ConfigLayout, GlmConfig};
pub use device::{parse_device, parse_dtype, parse_dtype_for};
pub use error::ModelError;
pub use glm4::Glm4;
pub use inspect::{inspect, InspectReport};
pub use nll::{log_sum_exp, target_nll, token_nll};
pub use packing::{Packing, PADDING};
pub use source::{builtin, ModelSource};
pub use weights::{expected_tensors, tensor_name, Checkpoint, Part, StoredTensor, WeightNames};
