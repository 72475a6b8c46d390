//! The `score` and `ppl_bucket` step kinds in pipeline files.

use glmkit::corpus::{Document, Source};
use glmkit::pipeline::{Pipeline, Verdict};
use glmkit::steps::Catalog;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

fn registry() -> Catalog {
    Catalog::default()
}

#[test]
fn score_step_from_a_pipeline_file() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("score_golden.json")).unwrap(),
    )
    .unwrap();
    // Paths relative to the pipeline file, which sits in fixtures/model.
    let text = r#"
[[step]]
kind = "score"
model = "glm4-gqa"
tokenizer = "tokenizer.json"
max_tokens = 24
stride = 10
batch_tokens = 64
max_ppl_by_lang = { zh = 100.0 }
"#;
    let pipeline = Pipeline::parse(text, &fixtures().join("pipeline.toml"), &registry()).unwrap();
    assert_eq!(pipeline.kinds, vec!["score"]);
    let mut docs = vec![
        Document::new(
            "a",
            golden["docs"][1]["text"].as_str().unwrap(),
            Source {
                file: "x".into(),
                line: 1,
            },
        ),
        Document::new(
            "b",
            golden["docs"][1]["text"].as_str().unwrap(),
            Source {
                file: "x".into(),
                line: 2,
            },
        ),
    ];
    docs[1].meta.insert("lang".into(), "zh".into());
    let verdicts = pipeline.steps[0]
        .document()
        .unwrap()
        .apply_batch(&mut docs)
        .unwrap();
    let ppl = docs[0].annotation("ppl").unwrap().as_f64().unwrap();
    let expected = golden["docs"][1]["ppl"].as_f64().unwrap();
    assert!((ppl - expected).abs() / expected < 1e-5);
    assert_eq!(verdicts[0], Verdict::Keep);
    assert!(
        matches!(&verdicts[1], Verdict::Reject(r) if r.reason == "perplexity"),
        "{verdicts:?}"
    );
}

#[test]
fn unknown_score_setting_names_the_key() {
    let text = "[[step]]\nkind = \"score\"\nmodel = \"glm4-gqa\"\nmax_tokenz = 3\n";
    let err = Pipeline::parse(text, &fixtures().join("pipeline.toml"), &registry())
        .err()
        .unwrap();
    assert!(err.to_string().contains("max_tokenz"), "{err}");
}

#[test]
fn bucket_step_reads_cutoffs_written_by_score() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ppl_cutoffs.json"),
        r#"{"percentiles": [30.0, 60.0], "languages": {"en": {"low": 10.0, "high": 20.0, "documents": 9}}}"#,
    )
    .unwrap();
    let text =
        "[[step]]\nkind = \"ppl_bucket\"\ncutoffs = \"ppl_cutoffs.json\"\nkeep = [\"head\"]\n";
    let pipeline = Pipeline::parse(text, &dir.path().join("p.toml"), &registry()).unwrap();
    let mut doc = Document::new(
        "a",
        "t",
        Source {
            file: "x".into(),
            line: 1,
        },
    );
    doc.meta.insert("lang".into(), "en".into());
    doc.annotate("ppl", 15.0);
    let verdict = pipeline.steps[0]
        .document()
        .unwrap()
        .apply(&mut doc)
        .unwrap();
    assert_eq!(doc.annotation("bucket").unwrap(), "middle");
    assert!(matches!(verdict, Verdict::Reject(r) if r.reason == "perplexity"));
}
