//! The forward pass against transformers: golden logits and NLL from scripts/model/make_golden.py.

#[path = "common/logits.rs"]
mod logits;

use candle_core::{DType, Device, Tensor};
use glmkit::model::{forward_batch, Batch, Checkpoint, ConfigLayout, Glm4, GlmConfig, WeightNames};
use logits::max_logit_diff;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

struct Golden {
    json: Value,
    logits: HashMap<String, Tensor>,
}

fn golden() -> Golden {
    let json =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("golden.json")).unwrap())
            .unwrap();
    let logits =
        candle_core::safetensors::load(fixtures().join("golden.safetensors"), &Device::Cpu)
            .unwrap();
    Golden { json, logits }
}

impl Golden {
    fn batch(&self, input: &str) -> Batch {
        serde_json::from_value(self.json["inputs"][input].clone()).unwrap()
    }

    /// The transformers model whose outputs `model` must reproduce (converted models share them).
    fn source<'a>(&'a self, model: &'a str) -> &'a str {
        self.json["models"][model]["same_as"]
            .as_str()
            .unwrap_or(model)
    }
}

fn load(name: &str, dtype: DType) -> Glm4 {
    let dir = fixtures().join(name);
    let config = GlmConfig::from_dir(&dir).unwrap();
    let checkpoint = Checkpoint::open(&dir).unwrap();
    Glm4::load(&config, &checkpoint, dtype, &Device::Cpu).unwrap()
}

const MODELS: [&str; 5] = [
    "glm-gqa",
    "glm-mqa",
    "glm4-gqa",
    "chatglm-gqa",
    "chatglm-mqa",
];
const INPUTS: [&str; 2] = ["padded", "long"];

#[test]
fn f32_matches_transformers() {
    let golden = golden();
    for name in MODELS {
        let model = load(name, DType::F32);
        let source = golden.source(name);
        for input in INPUTS {
            let batch = golden.batch(input);
            let (logits, nll) = forward_batch(&model, &batch).unwrap();
            let expected = &golden.logits[&format!("{source}.{input}")];
            let diff = max_logit_diff(&logits, expected, &batch);
            eprintln!("f32 {name} {input}: max |logit diff| {diff:e}");
            assert!(diff < 1e-4, "{name} on {input}: max |logit diff| {diff}");
            let expected_nll = golden.json["models"][source][input].as_array().unwrap();
            for (b, (ours, theirs)) in nll.iter().zip(expected_nll).enumerate() {
                assert_eq!(
                    ours.n_tokens as u64,
                    theirs["n_tokens"].as_u64().unwrap(),
                    "{name} {input}[{b}]"
                );
                let ppl = theirs["perplexity"].as_f64().unwrap();
                let rel = (ours.perplexity - ppl).abs() / ppl;
                eprintln!("f32 {name} {input}[{b}]: perplexity rel diff {rel:e}");
                assert!(
                    rel < 1e-5,
                    "{name} on {input}[{b}]: perplexity {} vs {ppl} (rel {rel})",
                    ours.perplexity
                );
            }
        }
    }
}

/// Half precision follows the f32 reference within what rounding weights and activations to 8
/// (bf16) or 11 (f16) mantissa bits costs: transformers itself moves by about this much.
#[test]
fn half_precision_stays_close_to_f32() {
    let golden = golden();
    for (dtype, max_logit, max_rel_ppl) in
        [(DType::BF16, 0.25f32, 3e-2f64), (DType::F16, 0.05, 5e-3)]
    {
        for name in ["glm-gqa", "glm4-gqa"] {
            let model = load(name, dtype);
            for input in INPUTS {
                let batch = golden.batch(input);
                let (logits, nll) = forward_batch(&model, &batch).unwrap();
                let diff =
                    max_logit_diff(&logits, &golden.logits[&format!("{name}.{input}")], &batch);
                eprintln!("{dtype:?} {name} {input}: max |logit diff| {diff:e}");
                assert!(
                    diff < max_logit,
                    "{dtype:?} {name} on {input}: max |logit diff| {diff}"
                );
                for (b, (ours, theirs)) in nll
                    .iter()
                    .zip(golden.json["models"][name][input].as_array().unwrap())
                    .enumerate()
                {
                    let ppl = theirs["perplexity"].as_f64().unwrap();
                    let rel = (ours.perplexity - ppl).abs() / ppl;
                    eprintln!("{dtype:?} {name} {input}[{b}]: perplexity rel diff {rel:e}");
                    assert!(
                        rel < max_rel_ppl,
                        "{dtype:?} {name} on {input}[{b}]: perplexity rel diff {rel}"
                    );
                }
            }
        }
    }
}

#[test]
fn layouts_are_detected() {
    let expect = [
        ("glm-gqa", ConfigLayout::Glm, WeightNames::Hf, 1),
        ("glm4-gqa", ConfigLayout::Glm4, WeightNames::Hf, 5),
        (
            "chatglm-mqa",
            ConfigLayout::Chatglm,
            WeightNames::Chatglm,
            1,
        ),
    ];
    for (name, layout, names, files) in expect {
        let dir = fixtures().join(name);
        let report = glmkit::model::inspect(&glmkit::model::ModelSource::Dir(dir.clone())).unwrap();
        assert_eq!(report.config.layout, layout, "{name}");
        assert_eq!(report.weight_names, names, "{name}");
        assert_eq!(report.files.len(), files, "{name}");
        assert!(
            report.is_complete(),
            "{name}: {:?} {:?}",
            report.missing,
            report.wrong_shape
        );
        assert!(report.unused.is_empty(), "{name}: {:?}", report.unused);
    }
    // The converted checkpoint carries ChatGLM's rotary cache, which the model recomputes.
    let report = glmkit::model::inspect(&glmkit::model::ModelSource::Dir(
        fixtures().join("chatglm-gqa"),
    ))
    .unwrap();
    assert_eq!(
        report.ignored,
        vec!["transformer.rotary_pos_emb.inv_freq".to_string()]
    );
    assert_eq!(
        report.parameters,
        glmkit::model::inspect(&glmkit::model::ModelSource::Dir(fixtures().join("glm-gqa")))
            .unwrap()
            .parameters
    );
}

/// f32 weights are used in place from the map, with the same results as copied weights.
#[test]
fn mapped_weights_match_copied_weights() {
    let golden = golden();
    for name in ["glm-gqa", "chatglm-mqa", "glm4-gqa"] {
        let dir = fixtures().join(name);
        let config = GlmConfig::from_dir(&dir).unwrap();
        let checkpoint = Checkpoint::open(&dir).unwrap();
        let mapped = Glm4::load(&config, &checkpoint, DType::F32, &Device::Cpu).unwrap();
        let copied = Glm4::load_copied(&config, &checkpoint, DType::F32, &Device::Cpu).unwrap();
        assert!(mapped.weights_mapped() && !copied.weights_mapped());
        for input in INPUTS {
            let batch = golden.batch(input);
            let (a, _) = forward_batch(&mapped, &batch).unwrap();
            let (b, _) = forward_batch(&copied, &batch).unwrap();
            let diff = max_logit_diff(&a, &b, &batch);
            assert!(diff == 0.0, "{name} {input}: mapped vs copied {diff}");
        }
    }
}
