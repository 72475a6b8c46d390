//! Scoring documents against transformers run window by window (scripts/model/make_golden.py).

use candle_core::{DType, Device};
use glmkit::corpus::{Document, Source};
use glmkit::model::score::{
    Bucket, BucketCutoffs, BucketStep, PplThresholds, ScoreOptions, ScoreStep, Scorer, Tokenizer,
};
use glmkit::model::{Checkpoint, Glm4, GlmConfig};
use glmkit::pipeline::{Step, Verdict};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("score_golden.json")).unwrap())
        .unwrap()
}

/// The golden scores' model (fixtures/model), in f32 on the CPU.
fn golden_model() -> Glm4 {
    fixture_model(golden()["model"].as_str().unwrap())
}

/// A fixture model directory under fixtures/model, in f32 on the CPU.
fn fixture_model(name: &str) -> Glm4 {
    let dir = fixtures().join(name);
    Glm4::load(
        &GlmConfig::from_dir(&dir).unwrap(),
        &Checkpoint::open(&dir).unwrap(),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap()
}

fn scorer(batch_tokens: usize) -> Scorer {
    let golden = golden();
    let model = golden_model();
    let tokenizer = Tokenizer::open(&fixtures().join("tokenizer.json")).unwrap();
    let options = ScoreOptions {
        max_tokens: golden["options"]["max_tokens"].as_u64().unwrap() as usize,
        stride: golden["options"]["stride"].as_u64().unwrap() as usize,
        batch_tokens,
        head_tokens: None,
    };
    Scorer::new(model, Box::new(tokenizer), options).unwrap()
}

fn texts(golden: &Value) -> Vec<String> {
    golden["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn scores_match_transformers_window_by_window() {
    let golden = golden();
    let texts = texts(&golden);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let scores = scorer(64).score_texts(&refs).unwrap();
    for (score, expected) in scores.iter().zip(golden["docs"].as_array().unwrap()) {
        assert_eq!(score.tokens as u64, expected["tokens"].as_u64().unwrap());
        assert_eq!(
            score.predicted as u64,
            expected["predicted"].as_u64().unwrap()
        );
        match expected["ppl"].as_f64() {
            Some(ppl) => {
                let ours = score.perplexity().unwrap();
                assert!(
                    (ours - ppl).abs() / ppl < 1e-5,
                    "{:?}: {ours} vs {ppl}",
                    expected["text"]
                );
            }
            None => assert_eq!(score.perplexity(), None),
        }
    }
    // The long document needed several windows.
    assert!(scores[4].tokens > 24);
}

#[test]
fn a_document_scores_the_same_in_any_batch() {
    let golden = golden();
    let texts = texts(&golden);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let together = scorer(4096).score_texts(&refs).unwrap();
    let small_batches = scorer(16).score_texts(&refs).unwrap();
    let alone = scorer(4096);
    for (i, text) in refs.iter().enumerate() {
        let single = alone.score_texts(&[text]).unwrap()[0];
        assert_eq!(
            single.sum_nll.to_bits(),
            together[i].sum_nll.to_bits(),
            "doc {i}"
        );
        assert_eq!(
            small_batches[i].sum_nll.to_bits(),
            together[i].sum_nll.to_bits(),
            "doc {i}"
        );
    }
    // Nor on the number of threads.
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let single_threaded = one_thread.install(|| scorer(64).score_texts(&refs).unwrap());
    for (a, b) in single_threaded.iter().zip(&together) {
        assert_eq!(a.sum_nll.to_bits(), b.sum_nll.to_bits());
    }
}

fn doc(id: &str, text: &str, lang: &str) -> Document {
    let mut d = Document::new(
        id,
        text,
        Source {
            file: "test.jsonl".into(),
            line: 1,
        },
    );
    d.meta.insert("lang".into(), lang.into());
    d
}

#[test]
fn score_step_annotates_and_thresholds() {
    let golden = golden();
    let texts = texts(&golden);
    let mut docs: Vec<Document> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| doc(&format!("d{i}"), t, if i % 2 == 0 { "en" } else { "zh" }))
        .collect();
    // English keeps everything below 1e6, Chinese nothing above 100.
    let step = ScoreStep::new(
        scorer(256),
        PplThresholds::parse(&["1e6", "zh=100"]).unwrap(),
    );
    let verdicts = step.apply_batch(&mut docs).unwrap();
    for (i, (d, verdict)) in docs.iter().zip(&verdicts).enumerate() {
        let expected = &golden["docs"][i];
        assert_eq!(
            d.annotation("tokens").unwrap().as_u64(),
            expected["tokens"].as_u64()
        );
        match expected["ppl"].as_f64() {
            None => {
                assert!(d.annotation("ppl").is_none());
                assert_eq!(*verdict, Verdict::Keep);
            }
            Some(ppl) => {
                let ours = d.annotation("ppl").unwrap().as_f64().unwrap();
                assert!((ours - ppl).abs() / ppl < 1e-5);
                let nll = d.annotation("nll").unwrap().as_f64().unwrap();
                assert!((nll.exp() - ours).abs() < 1e-9 * ours);
                let rejected = d.field("lang").unwrap() == "zh" && ppl > 100.0;
                match verdict {
                    Verdict::Reject(r) => {
                        assert!(rejected, "doc {i} rejected");
                        assert_eq!(
                            (r.step.as_str(), r.reason.as_str()),
                            ("score", "perplexity")
                        );
                    }
                    Verdict::Keep => assert!(!rejected, "doc {i} kept"),
                }
            }
        }
    }
    // The same step on one document gives the same annotation.
    let mut single = doc("x", &texts[1], "en");
    step.apply(&mut single).unwrap();
    assert_eq!(single.annotation("ppl"), docs[1].annotation("ppl"));
}

#[test]
fn bucket_step_splits_each_language_at_its_percentiles() {
    let mut docs: Vec<Document> = (0..10)
        .map(|i| {
            let mut d = doc(&format!("d{i}"), "", if i < 5 { "en" } else { "zh" });
            d.annotate(
                "ppl",
                if i < 5 {
                    10.0 + i as f64
                } else {
                    100.0 * i as f64
                },
            );
            d
        })
        .collect();
    let cutoffs = BucketCutoffs::compute(
        docs.iter()
            .map(|d| ("", d.annotation("ppl").unwrap().as_f64().unwrap()))
            .take(0),
        (30.0, 60.0),
    )
    .unwrap();
    assert!(cutoffs.languages.is_empty());
    let pairs: Vec<(String, f64)> = docs
        .iter()
        .map(|d| {
            (
                glmkit::model::score::document_language(d),
                d.annotation("ppl").unwrap().as_f64().unwrap(),
            )
        })
        .collect();
    let cutoffs =
        BucketCutoffs::compute(pairs.iter().map(|(l, p)| (l.as_str(), *p)), (30.0, 60.0)).unwrap();
    let step = BucketStep::new(cutoffs, vec![Bucket::Head, Bucket::Middle]);
    let verdicts: Vec<Verdict> = docs.iter_mut().map(|d| step.apply(d).unwrap()).collect();
    let buckets: Vec<&str> = docs
        .iter()
        .map(|d| d.annotation("bucket").unwrap().as_str().unwrap())
        .collect();
    // Five documents per language: ranks 0-1 head (<= 30th pct), 2 middle (<= 60th), 3-4 tail.
    assert_eq!(
        buckets,
        ["head", "head", "middle", "tail", "tail", "head", "head", "middle", "tail", "tail"]
    );
    let rejected: Vec<bool> = verdicts
        .iter()
        .map(|v| matches!(v, Verdict::Reject(_)))
        .collect();
    assert_eq!(
        rejected,
        [false, false, false, true, true, false, false, false, true, true]
    );
}

/// The fixture tokenizer, except on texts with a marker: `FAIL` makes encoding fail (a
/// document the tokenizer refuses); `BOOM` adds an id past the model's vocabulary, which the
/// model fails on (a failure of the model, not of a document).
struct Tricky(Tokenizer);

impl glmkit::model::score::TextEncoder for Tricky {
    fn encode(&self, text: &str) -> Result<Vec<u32>, glmkit::model::ModelError> {
        if text.contains("FAIL") {
            return Err(glmkit::model::ModelError::Input("cannot tokenize".into()));
        }
        let mut ids = self.0.encode(text)?;
        if text.contains("BOOM") {
            ids.push(1 << 30);
        }
        Ok(ids)
    }
    fn prefix(&self) -> &[u32] {
        self.0.prefix()
    }
    fn max_id(&self) -> u32 {
        self.0.max_id()
    }
}

/// A score step of the golden model with the [`Tricky`] tokenizer.
fn tricky_step() -> ScoreStep {
    use glmkit::model::score::TextEncoder;
    let model = golden_model();
    let tokenizer = Tokenizer::open(&fixtures().join("tokenizer.json")).unwrap();
    assert_eq!(tokenizer.prefix().len(), 2);
    let options = ScoreOptions {
        max_tokens: 24,
        stride: 10,
        batch_tokens: 64,
        head_tokens: None,
    };
    ScoreStep::new(
        Scorer::new(model, Box::new(Tricky(tokenizer)), options).unwrap(),
        PplThresholds::default(),
    )
}

#[test]
fn a_document_the_tokenizer_rejects_does_not_stop_the_others() {
    let golden = golden();
    let step = tricky_step();
    let mut docs = vec![
        doc("a", golden["docs"][0]["text"].as_str().unwrap(), "en"),
        doc("b", "FAIL here", "en"),
    ];
    let verdicts = step.apply_batch(&mut docs).unwrap();
    assert_eq!(verdicts[0], Verdict::Keep);
    let ppl = docs[0].annotation("ppl").unwrap().as_f64().unwrap();
    assert!((ppl - golden["docs"][0]["ppl"].as_f64().unwrap()).abs() < 1e-3);
    match &verdicts[1] {
        Verdict::Reject(r) => assert_eq!(
            (r.step.as_str(), r.reason.as_str()),
            ("score", "score_error")
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn windows_longer_than_the_model_allows_are_refused() {
    let model = fixture_model("glm4-gqa");
    let tokenizer = Tokenizer::open(&fixtures().join("tokenizer.json")).unwrap();
    let options = ScoreOptions {
        max_tokens: 100_000,
        stride: 10,
        batch_tokens: 64,
        head_tokens: None,
    };
    let err = Scorer::new(model, Box::new(tokenizer), options)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("max_position_embeddings"), "{err}");
}

/// GLM-4's tokenizer ships as a tiktoken rank file: scoring reads it through glmkit's BPE
/// encoder and gets the ids that the same vocabulary gives as tokenizer.json (documents
/// without special-token strings, which a rank file encodes as plain text).
#[test]
fn a_tiktoken_rank_file_tokenizes_like_its_tokenizer_json() {
    use glmkit::bpe::formats::{write_tiktoken, write_tokenizer_json, GLM4_SPECIAL_TOKENS};
    use glmkit::bpe::input::InputOptions;
    use glmkit::bpe::stages::count_inputs;
    use glmkit::bpe::{train, PreTokenizer, TrainerConfig};
    use glmkit::model::score::TextEncoder;

    let bpe_fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bpe");
    let inputs: Vec<String> = ["mixed.jsonl", "zh.jsonl"]
        .iter()
        .map(|f| bpe_fixtures.join(f).to_string_lossy().into_owned())
        .collect();
    let files = glmkit::corpus::expand_inputs(&inputs).unwrap();
    let pre = PreTokenizer::new(glmkit::bpe::pattern::GLM4).unwrap();
    let (counts, _) = count_inputs(&files, &InputOptions::default(), &pre, None).unwrap();
    let config = TrainerConfig {
        vocab_size: 700,
        special_tokens: GLM4_SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let vocab = train(&counts, &config, pre.pattern());
    let dir = tempfile::tempdir().unwrap();
    let (json, model) = (
        dir.path().join("tokenizer.json"),
        dir.path().join("tokenizer.model"),
    );
    write_tokenizer_json(&vocab, &json).unwrap();
    write_tiktoken(&vocab, &model).unwrap();

    let from_json = Tokenizer::open(&json).unwrap();
    let from_ranks = Tokenizer::open(&model).unwrap();
    assert!(matches!(from_ranks, Tokenizer::RankFile(_)));
    assert_eq!(
        from_ranks.prefix().len(),
        2,
        "[gMASK]<sop> found among the specials"
    );
    assert_eq!(from_ranks.prefix(), from_json.prefix());
    let mut checked = 0;
    for file in ["mixed.jsonl", "zh.jsonl", "edge.jsonl"] {
        for line in std::fs::read_to_string(bpe_fixtures.join(file))
            .unwrap()
            .lines()
        {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = doc["text"].as_str().unwrap();
            if GLM4_SPECIAL_TOKENS.iter().any(|s| text.contains(s)) {
                continue;
            }
            let ids = from_ranks.encode(text).unwrap();
            assert_eq!(ids.is_empty(), text.is_empty());
            assert_eq!(ids, from_json.encode(text).unwrap(), "{text:?}");
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} documents compared");
}

#[test]
fn a_failure_of_the_model_fails_the_step_instead_of_rejecting_documents() {
    let golden = golden();
    let step = tricky_step();
    let text = golden["docs"][0]["text"].as_str().unwrap();
    let mut docs = vec![doc("a", text, "en"), doc("b", "BOOM", "en")];
    let error = step.apply_batch(&mut docs).unwrap_err();
    assert!(!error.to_string().is_empty());
    // Nothing was decided or annotated about either document.
    assert!(docs.iter().all(|d| d.annotation("ppl").is_none()));
    let mut fine = vec![doc("a", text, "en")];
    assert_eq!(step.apply_batch(&mut fine).unwrap(), vec![Verdict::Keep]);
}

#[test]
fn head_tokens_scores_the_first_tokens_of_a_document_only() {
    let golden = golden();
    let text = golden["docs"][0]["text"].as_str().unwrap();
    let whole = scorer(64);
    let ids = whole.encode(text).unwrap();
    let head = 5;
    assert!(
        ids.len() > whole.prefix_len() + head,
        "the document is long enough"
    );
    let cut = whole
        .score_ids(
            &[ids[..whole.prefix_len() + head].to_vec()],
            whole.prefix_len(),
        )
        .unwrap()[0];

    let model = golden_model();
    let tokenizer = Tokenizer::open(&fixtures().join("tokenizer.json")).unwrap();
    let options = ScoreOptions {
        head_tokens: Some(head),
        ..*whole.options()
    };
    let headed = Scorer::new(model, Box::new(tokenizer), options)
        .unwrap()
        .score_texts(&[text])
        .unwrap()[0];
    assert_eq!(headed.predicted, head);
    assert_eq!(
        headed.tokens,
        ids.len() - whole.prefix_len(),
        "tokens count the whole text"
    );
    assert_eq!(headed.sum_nll, cut.sum_nll);
}
