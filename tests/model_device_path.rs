//! The scoring path meant for GPUs (windows packed into shared rows, log-softmax and target
//! gather on the device, attention in query blocks), run on the CPU backend and compared with
//! the CPU path (one window per row, NLLs on the host, whole-window attention).

#[path = "common/logits.rs"]
mod logits;

use candle_core::{DType, Device};
use glmkit::model::score::{DocScore, ScoreOptions, ScorePlan, Scorer, Tokenizer};
use glmkit::model::{forward_batch, Batch, Checkpoint, Glm4, GlmConfig};
use logits::max_logit_diff;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("score_golden.json")).unwrap())
        .unwrap()
}

fn model(name: &str, dtype: DType, query_block: Option<usize>) -> Glm4 {
    let dir = fixtures().join(name);
    let config = GlmConfig::from_dir(&dir).unwrap();
    let mut model = Glm4::load(
        &config,
        &Checkpoint::open(&dir).unwrap(),
        dtype,
        &Device::Cpu,
    )
    .unwrap();
    model.set_query_block(query_block);
    model
}

/// The golden documents, plus longer ones so that windows fill rows and blocks of queries.
fn texts() -> Vec<String> {
    let golden = golden();
    let mut texts: Vec<String> = golden["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_string())
        .collect();
    let long = texts.iter().max_by_key(|t| t.len()).unwrap().clone();
    texts.push(format!("{long} {long}"));
    texts.push(long.chars().rev().collect());
    texts
}

fn score(
    dtype: DType,
    plan: Option<ScorePlan>,
    query_block: Option<usize>,
    max_tokens: usize,
) -> (Vec<DocScore>, f64) {
    let golden = golden();
    let model = model(golden["model"].as_str().unwrap(), dtype, query_block);
    let tokenizer = Tokenizer::open(&fixtures().join("tokenizer.json")).unwrap();
    let options = ScoreOptions {
        max_tokens,
        stride: max_tokens / 2,
        batch_tokens: 256,
        head_tokens: None,
    };
    let mut scorer = Scorer::new(model, Box::new(tokenizer), options).unwrap();
    if let Some(plan) = plan {
        scorer = scorer.with_plan(plan);
    }
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let scores = scorer.score_texts(&refs).unwrap();
    // The plan without the model computes the padding that scoring computed.
    let sequences: Vec<Vec<u32>> = refs.iter().map(|t| scorer.encode(t).unwrap()).collect();
    assert_eq!(
        scorer.planned_padding(&sequences, scorer.prefix_len()),
        scorer.padding()
    );
    (scores, scorer.padding().share())
}

fn assert_close(ours: &[DocScore], reference: &[DocScore], relative: f64, what: &str) {
    assert_eq!(ours.len(), reference.len());
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert_eq!(
            (a.tokens, a.predicted),
            (b.tokens, b.predicted),
            "{what}: doc {i}"
        );
        let diff = (a.sum_nll - b.sum_nll).abs();
        assert!(
            diff <= relative * b.sum_nll.abs(),
            "{what}: doc {i}: {} vs {} (relative {:e})",
            a.sum_nll,
            b.sum_nll,
            diff / b.sum_nll.abs()
        );
    }
}

const DEVICE_PATH: ScorePlan = ScorePlan {
    pack: true,
    nll_on_device: true,
};

#[test]
fn the_cpu_default_is_one_window_per_row_with_host_nlls() {
    assert_eq!(
        ScorePlan::for_device(&Device::Cpu),
        ScorePlan {
            pack: false,
            nll_on_device: false
        }
    );
}

#[test]
fn every_part_of_the_device_path_matches_the_cpu_path_in_f32() {
    for max_tokens in [24, 64] {
        let (reference, _) = score(DType::F32, None, None, max_tokens);
        assert!(reference.iter().any(|s| s.predicted > 100));
        for (plan, block, what) in [
            (Some(DEVICE_PATH), None, "packed, NLL on the device"),
            (
                Some(ScorePlan {
                    pack: false,
                    nll_on_device: true,
                }),
                None,
                "NLL on the device",
            ),
            (
                Some(ScorePlan {
                    pack: true,
                    nll_on_device: false,
                }),
                None,
                "packed",
            ),
            (None, Some(16), "queries in blocks of 16"),
            (Some(DEVICE_PATH), Some(16), "all of it"),
        ] {
            let (ours, _) = score(DType::F32, plan, block, max_tokens);
            assert_close(
                &ours,
                &reference,
                1e-6,
                &format!("{what}, windows of {max_tokens}"),
            );
        }
    }
}

#[test]
fn packing_cuts_padding() {
    let (_, one_per_row) = score(DType::F32, None, None, 64);
    let (_, packed) = score(DType::F32, Some(DEVICE_PATH), None, 64);
    eprintln!("padding share: one window per row {one_per_row:.3}, packed {packed:.3}");
    assert!(packed < one_per_row, "{packed} vs {one_per_row}");
}

#[test]
fn the_device_path_is_deterministic_run_to_run_and_across_thread_counts() {
    let (first, _) = score(DType::F32, Some(DEVICE_PATH), Some(16), 64);
    let (second, _) = score(DType::F32, Some(DEVICE_PATH), Some(16), 64);
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (single, _) = one_thread.install(|| score(DType::F32, Some(DEVICE_PATH), Some(16), 64));
    for ((a, b), c) in first.iter().zip(&second).zip(&single) {
        assert_eq!(a.sum_nll.to_bits(), b.sum_nll.to_bits());
        assert_eq!(a.sum_nll.to_bits(), c.sum_nll.to_bits());
    }
}

#[test]
fn bf16_on_the_device_path_stays_within_the_half_precision_tolerance() {
    let (reference, _) = score(DType::F32, None, None, 64);
    let (ours, _) = score(DType::BF16, Some(DEVICE_PATH), Some(16), 64);
    // The golden tests' bf16 bound on perplexity: 3e-2 relative.
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        let (pa, pb) = (a.perplexity().unwrap_or(1.0), b.perplexity().unwrap_or(1.0));
        assert!((pa - pb).abs() <= 3e-2 * pb, "doc {i}: ppl {pa} vs {pb}");
    }
}

#[test]
fn logits_in_query_blocks_match_transformers() {
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("golden.json")).unwrap())
            .unwrap();
    let expected =
        candle_core::safetensors::load(fixtures().join("golden.safetensors"), &Device::Cpu)
            .unwrap();
    for name in ["glm-gqa", "glm4-gqa"] {
        let model = model(name, DType::F32, Some(16));
        for input in ["padded", "long"] {
            let batch: Batch = serde_json::from_value(golden["inputs"][input].clone()).unwrap();
            let (logits, _) = forward_batch(&model, &batch).unwrap();
            let theirs = &expected[&format!("{name}.{input}")];
            let diff = max_logit_diff(&logits, theirs, &batch);
            assert!(diff < 1e-4, "{name} {input}: max |logit diff| {diff}");
        }
    }
}
