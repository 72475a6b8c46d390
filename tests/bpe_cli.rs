//! The BPE commands end to end through the `glmkit` binary.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/bpe")
        .join(name)
}

fn glmkit(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "glmkit {args:?} failed: {stderr}");
    (stdout, stderr)
}

#[test]
fn train_encode_tokenize_eval() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tok");
    let (mixed, zh, en) = (
        fixture("mixed.jsonl"),
        fixture("zh.jsonl"),
        fixture("en.txt"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_string();
    glmkit(&[
        "bpe",
        "train",
        &s(&mixed),
        &s(&zh),
        &s(&en),
        "--vocab-size",
        "1200",
        "--special-tokens",
        "glm4",
        "--output",
        &s(&out),
        "--threads",
        "2",
    ]);
    for f in [
        "tokenizer.json",
        "tokenizer.model",
        "special_tokens.json",
        "train_report.json",
    ] {
        assert!(out.join(f).exists(), "{f} written");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train_report.json")).unwrap())
            .unwrap();
    assert_eq!(report["vocab"], 1200);
    assert_eq!(report["merges"], 1200 - 256 - 14);

    // Shards of the same inputs, merged, give the same tokenizer.json byte for byte.
    let shards = dir.path().join("shards");
    for i in 0..2 {
        glmkit(&[
            "bpe",
            "train",
            &s(&mixed),
            &s(&zh),
            &s(&en),
            "--shard",
            &format!("{i}/2"),
            "--output",
            &s(&shards),
        ]);
    }
    let merged = dir.path().join("merged");
    let counts: Vec<String> = (0..2)
        .map(|i| s(&shards.join(format!("word-counts-{i}-of-2.counts"))))
        .collect();
    let mut args = vec!["bpe", "train"];
    args.extend(counts.iter().map(String::as_str));
    args.extend([
        "--vocab-size",
        "1200",
        "--special-tokens",
        "glm4",
        "--output",
        merged.to_str().unwrap(),
    ]);
    glmkit(&args);
    assert_eq!(
        std::fs::read(merged.join("tokenizer.json")).unwrap(),
        std::fs::read(out.join("tokenizer.json")).unwrap()
    );

    // One thread gives the same bytes.
    let single = dir.path().join("single");
    glmkit(&[
        "bpe",
        "train",
        &s(&mixed),
        &s(&zh),
        &s(&en),
        "--vocab-size",
        "1200",
        "--special-tokens",
        "glm4",
        "--output",
        &s(&single),
        "--threads",
        "1",
    ]);
    for f in ["tokenizer.json", "tokenizer.model", "special_tokens.json"] {
        assert_eq!(
            std::fs::read(single.join(f)).unwrap(),
            std::fs::read(out.join(f)).unwrap(),
            "{f}"
        );
    }

    // encode from stdin: one document per line; both tokenizer formats agree.
    let tokenizer = s(&out.join("tokenizer.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args(["bpe", "encode", "--tokenizer", &tokenizer])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("你好，世界\nhello  world<|endoftext|>\n".as_bytes())
        .unwrap();
    let stdout = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "1");
    assert_eq!(
        lines[1]["ids"].as_array().unwrap().last().unwrap(),
        0,
        "<|endoftext|> is id 0"
    );
    let (from_json, _) = glmkit(&["bpe", "encode", "--tokenizer", &tokenizer, &s(&zh)]);
    let (from_ranks, _) = glmkit(&[
        "bpe",
        "encode",
        "--tokenizer",
        &s(&out.join("tokenizer.model")),
        &s(&zh),
    ]);
    assert_eq!(from_json, from_ranks);
    assert_eq!(from_json.lines().count(), 15);

    let prefix = dir.path().join("train-shard");
    let (stats, _) = glmkit(&[
        "tokenize",
        &s(&zh),
        "--tokenizer",
        &tokenizer,
        "--output",
        &s(&prefix),
        "--append-eod",
    ]);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["documents"], 15);
    let idx = std::fs::read(dir.path().join("train-shard.idx")).unwrap();
    assert_eq!(&idx[..9], b"MMIDIDX\0\0");
    let prefix1 = dir.path().join("train-shard-1");
    glmkit(&[
        "tokenize",
        &s(&zh),
        "--tokenizer",
        &tokenizer,
        "--output",
        &s(&prefix1),
        "--append-eod",
        "--threads",
        "1",
    ]);
    for ext in ["bin", "idx"] {
        let a = std::fs::read(dir.path().join(format!("train-shard.{ext}"))).unwrap();
        assert_eq!(
            a,
            std::fs::read(dir.path().join(format!("train-shard-1.{ext}"))).unwrap(),
            "{ext} with 1 thread"
        );
    }

    let (eval, _) = glmkit(&["bpe", "eval", "--tokenizer", &tokenizer, &s(&mixed)]);
    let eval: Value = serde_json::from_str(&eval).unwrap();
    assert!(eval["by_lang"]["zh"]["bytes_per_token"].as_f64().unwrap() > 1.0);
    assert_eq!(eval["all"]["documents"], 43);
}

#[test]
fn memory_cap_prunes_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = glmkit(&[
        "bpe",
        "train",
        fixture("mixed.jsonl").to_str().unwrap(),
        "--vocab-size",
        "400",
        "--max-memory",
        "64K",
        "--output",
        dir.path().to_str().unwrap(),
    ]);
    assert!(stderr.contains("memory cap: pruned"), "{stderr}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("train_report.json")).unwrap(),
    )
    .unwrap();
    assert!(report["pruned"]["words"].as_u64().unwrap() > 0);
}

#[test]
fn bad_records_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"ok ok\"}\n{\"text\": 5}\n").unwrap();
    let (_, stderr) = glmkit(&[
        "bpe",
        "train",
        bad.to_str().unwrap(),
        "--vocab-size",
        "300",
        "--output",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("skipped 1 records") && stderr.contains("bad.jsonl:2: text_not_string"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("train_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["quarantined"], 1);
    assert_eq!(report["documents"], 1);

    // A missing input is an error naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args([
            "bpe",
            "train",
            "/nonexistent/x.jsonl",
            "--vocab-size",
            "300",
            "--output",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("/nonexistent/x.jsonl"));
}
