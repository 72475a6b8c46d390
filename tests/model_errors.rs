//! Broken checkpoints and inputs give errors that name the tensor, key or position.

use candle_core::{DType, Device, Tensor};
use glmkit::model::{Batch, Checkpoint, Glm4, GlmConfig, ModelError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model/glm-gqa")
}

/// A copy of glm-gqa whose tensors went through `edit`.
fn edited(edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        source_dir().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let mut tensors =
        candle_core::safetensors::load(source_dir().join("model.safetensors"), &Device::Cpu)
            .unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();
    dir
}

fn load_error(dir: &Path) -> ModelError {
    let config = GlmConfig::from_dir(dir).unwrap();
    let checkpoint = Checkpoint::open(dir).unwrap();
    match Glm4::load(&config, &checkpoint, DType::F32, &Device::Cpu) {
        Err(e) => e,
        Ok(_) => panic!("a broken checkpoint loaded"),
    }
}

const K_PROJ: &str = "model.layers.1.self_attn.k_proj.weight";

#[test]
fn missing_tensor_is_named_with_its_shape() {
    let dir = edited(|t| {
        t.remove(K_PROJ);
    });
    let err = load_error(dir.path()).to_string();
    assert!(
        err.contains(K_PROJ) && err.contains("missing") && err.contains("[16, 32]"),
        "{err}"
    );
    let report =
        glmkit::model::inspect(&glmkit::model::ModelSource::Dir(dir.path().to_path_buf())).unwrap();
    assert_eq!(report.missing, vec![(K_PROJ.to_string(), vec![16, 32])]);
}

#[test]
fn wrong_shape_names_both_shapes() {
    let dir = edited(|t| {
        t.insert(
            K_PROJ.into(),
            Tensor::zeros((16, 31), DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let err = load_error(dir.path()).to_string();
    assert!(
        err.contains(K_PROJ) && err.contains("[16, 31]") && err.contains("[16, 32]"),
        "{err}"
    );
}

#[test]
fn integer_tensor_is_a_dtype_error() {
    let dir = edited(|t| {
        t.insert(
            K_PROJ.into(),
            Tensor::zeros((16, 32), DType::U8, &Device::Cpu).unwrap(),
        );
    });
    let err = load_error(dir.path()).to_string();
    assert!(err.contains(K_PROJ) && err.contains("U8"), "{err}");
}

#[test]
fn unused_tensors_are_listed() {
    let dir = edited(|t| {
        t.insert(
            "model.layers.7.mlp.extra.weight".into(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let report =
        glmkit::model::inspect(&glmkit::model::ModelSource::Dir(dir.path().to_path_buf())).unwrap();
    assert_eq!(
        report.unused,
        vec!["model.layers.7.mlp.extra.weight".to_string()]
    );
}

#[test]
fn bf16_checkpoint_loads_into_f32() {
    let dir = edited(|t| {
        for v in t.values_mut() {
            *v = v.to_dtype(DType::BF16).unwrap();
        }
    });
    let config = GlmConfig::from_dir(dir.path()).unwrap();
    let model = Glm4::load(
        &config,
        &Checkpoint::open(dir.path()).unwrap(),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let batch: Batch = serde_json::from_str(r#"{"input_ids": [[5, 6, 7, 8]]}"#).unwrap();
    let (_, nll) = glmkit::model::forward_batch(&model, &batch).unwrap();
    assert_eq!(nll[0].n_tokens, 3);
    assert!(nll[0].perplexity.is_finite() && nll[0].perplexity > 1.0);
}

#[test]
fn bad_config_names_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(source_dir().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"silu\"", "\"gelu\""),
    )
    .unwrap();
    let err = GlmConfig::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("hidden_act") && err.contains("gelu"),
        "{err}"
    );
}

/// transformers' first GLM converter wrote one `qkv_proj` instead of q/k/v_proj.
#[test]
fn fused_qkv_proj_checkpoint_gives_the_same_logits() {
    let dir = edited(|t| {
        for i in 0..2 {
            let p = format!("model.layers.{i}.self_attn.");
            for kind in ["weight", "bias"] {
                let parts: Vec<Tensor> = ["q", "k", "v"]
                    .iter()
                    .map(|x| t.remove(&format!("{p}{x}_proj.{kind}")).unwrap())
                    .collect();
                t.insert(
                    format!("{p}qkv_proj.{kind}"),
                    Tensor::cat(&parts, 0).unwrap(),
                );
            }
        }
    });
    let batch: Batch = serde_json::from_str(r#"{"input_ids": [[5, 6, 7, 8, 9]]}"#).unwrap();
    let run = |d: &Path| {
        let config = GlmConfig::from_dir(d).unwrap();
        let checkpoint = Checkpoint::open(d).unwrap();
        let model = Glm4::load(&config, &checkpoint, DType::F32, &Device::Cpu).unwrap();
        let (logits, _) = glmkit::model::forward_batch(&model, &batch).unwrap();
        logits.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    let (fused, split) = (run(dir.path()), run(&source_dir()));
    let diff = fused
        .iter()
        .zip(&split)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");
    let report =
        glmkit::model::inspect(&glmkit::model::ModelSource::Dir(dir.path().to_path_buf())).unwrap();
    assert!(
        report.is_complete() && report.unused.is_empty(),
        "{:?} {:?}",
        report.missing,
        report.unused
    );
}
