//! `glmkit score` end to end: the executor reads a corpus, the score step annotates it, thresholds
//! and buckets split it.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

/// Every JSON line of every file in `dir`.
fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        for line in std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
        {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

fn score(input: &Path, out: &Path, extra: &[&str]) {
    let model = fixtures().join("glm4-gqa");
    let tokenizer = fixtures().join("tokenizer.json");
    let mut args = vec![
        "score",
        input.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "--max-tokens",
        "24",
        "--stride",
        "10",
        "--batch-tokens",
        "64",
        "--output",
        out.to_str().unwrap(),
        "--format",
        "jsonl",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let status = Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn corpus(dir: &Path) -> (PathBuf, Value) {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("score_golden.json")).unwrap(),
    )
    .unwrap();
    let input = dir.join("docs.jsonl");
    let lines: Vec<String> = golden["docs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            serde_json::json!({"id": format!("d{i}"), "text": d["text"], "lang": if i % 2 == 0 { "en" } else { "zh" }})
                .to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    (input, golden)
}

#[test]
fn score_annotates_and_rejects_above_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (input, golden) = corpus(dir.path());
    let out = dir.path().join("out");
    score(&input, &out, &["--max-ppl", "zh=140"]);
    let kept = records(&out.join("kept"));
    let rejected = records(&out.join("rejected"));
    // The empty document goes to quarantine (the corpus reader's rule), the rest is scored.
    assert_eq!(records(&out.join("quarantine")).len(), 1);
    assert_eq!(kept.len() + rejected.len(), 5);
    for record in kept.iter().chain(&rejected) {
        let i: usize = record["id"].as_str().unwrap()[1..].parse().unwrap();
        let expected = &golden["docs"][i];
        assert_eq!(record["glmkit"]["tokens"], expected["tokens"]);
        match expected["ppl"].as_f64() {
            Some(ppl) => {
                let ours = record["glmkit"]["ppl"].as_f64().unwrap();
                assert!((ours - ppl).abs() / ppl < 1e-5, "{ours} vs {ppl}");
            }
            None => assert!(record["glmkit"].get("ppl").is_none()),
        }
    }
    // zh documents (odd ids) above 140 are rejected, nothing else.
    let expect_rejected: Vec<String> = (0..6)
        .filter(|i| i % 2 == 1 && golden["docs"][i]["ppl"].as_f64().is_some_and(|p| p > 140.0))
        .map(|i| format!("d{i}"))
        .collect();
    assert!(!expect_rejected.is_empty());
    let got: Vec<String> = rejected
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, expect_rejected);
    for r in &rejected {
        assert_eq!(
            (r["glmkit"]["step"].as_str(), r["glmkit"]["reason"].as_str()),
            (Some("score"), Some("perplexity"))
        );
        assert_eq!(r["glmkit"]["details"]["max_ppl"], 140.0);
    }
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["read"], 6);
    assert_eq!(
        stats["rejected"].as_u64().unwrap() as usize,
        expect_rejected.len()
    );
}

#[test]
fn buckets_split_each_language_by_percentile() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = corpus(dir.path());
    let out = dir.path().join("out");
    score(&input, &out, &["--buckets", "head,middle"]);
    let cutoffs: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ppl_cutoffs.json")).unwrap())
            .unwrap();
    assert!(cutoffs["languages"]["en"]["low"].as_f64().is_some());
    let kept = records(&out.join("kept"));
    let rejected = records(&out.join("rejected"));
    assert_eq!(kept.len() + rejected.len(), 5);
    for r in &kept {
        assert!(
            matches!(r["glmkit"]["bucket"].as_str(), Some("head" | "middle")),
            "{r}"
        );
    }
    assert!(!rejected.is_empty());
    for r in &rejected {
        assert_eq!(r["glmkit"]["bucket"], "tail");
    }
    assert_eq!(records(&out.join("scored/kept")).len(), 5);
}
