//! `glmkit model inspect` and `glmkit model forward` end to end.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

fn glmkit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn forward_prints_nll_and_writes_logits() {
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("golden.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("batch.json");
    std::fs::write(&input, golden["inputs"]["padded"].to_string()).unwrap();
    let logits = dir.path().join("logits.safetensors");
    let model = fixtures().join("chatglm-mqa");
    let out = glmkit(&[
        "model",
        "forward",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        logits.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sequences = printed["sequences"].as_array().unwrap();
    let expected = golden["models"]["glm-mqa"]["padded"].as_array().unwrap();
    assert_eq!(sequences.len(), expected.len());
    for (ours, theirs) in sequences.iter().zip(expected) {
        assert_eq!(ours["n_tokens"], theirs["n_tokens"]);
        for key in ["sum_nll", "mean_nll", "perplexity"] {
            let (a, b) = (ours[key].as_f64().unwrap(), theirs[key].as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{key}: {a} vs {b}"
            );
        }
    }
    let written = candle_core::safetensors::load(&logits, &candle_core::Device::Cpu).unwrap();
    assert_eq!(written["logits"].dims(), &[3, 12, 100]);
    assert_eq!(written["logits"].dtype(), candle_core::DType::F32);
}

#[test]
fn inspect_reports_layout_and_parameters() {
    let model = fixtures().join("glm4-gqa");
    let out = glmkit(&["model", "inspect", model.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["config_layout"], "glm4");
    assert_eq!(report["weight_names"], "hf");
    assert_eq!(report["dtypes"]["F32"], 29);
    assert!(report["parameters"].as_u64().unwrap() > 20_000);
}

#[test]
fn cuda_request_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("batch.json");
    std::fs::write(&input, r#"{"input_ids": [[1, 2, 3]]}"#).unwrap();
    let model = fixtures().join("glm-gqa");
    let out = glmkit(&[
        "model",
        "forward",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without CUDA support"), "{stderr}");
}
