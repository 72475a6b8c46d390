//! Exact dedup as a step of `glmkit run`: the same documents removed as the staged
//! `glmkit dedup exact`, whatever the thread count.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// The sample corpus with every third document copied again under a new id, its spaces doubled
/// (which basic normalization undoes), split over two files so that copies cross files.
fn corpus_with_copies(dir: &Path) -> usize {
    let plain = decompress(&sample_corpus());
    let mut records: Vec<Value> = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let copies: Vec<Value> = records
        .iter()
        .step_by(3)
        .map(|r| {
            let mut copy = r.clone();
            copy["id"] = format!("copy-of-{}", r["id"].as_str().unwrap()).into();
            copy["text"] = r["text"].as_str().unwrap().replace(' ', "  ").into();
            copy
        })
        .collect();
    let planted = copies.len();
    records.extend(copies);
    std::fs::create_dir_all(dir).unwrap();
    let (first, second) = records.split_at(records.len() / 2);
    for (name, part) in [("a.jsonl", first), ("b.jsonl", second)] {
        let body: String = part.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(dir.join(name), body).unwrap();
    }
    planted
}

fn rejected_ids(out: &Path) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = read_records(&out.join("rejected"))
        .iter()
        .map(|r| {
            let kept = &r["glmkit"]["details"]["kept_id"];
            (
                r["id"].as_str().unwrap().to_string(),
                kept.as_str().unwrap().to_string(),
            )
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn run_step_removes_what_the_staged_command_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let planted = corpus_with_copies(&input);
    let pipeline = tmp.path().join("dedup.toml");
    std::fs::write(
        &pipeline,
        "[[step]]\nkind = \"dedup_exact\"\nnormalize = \"basic\"\n",
    )
    .unwrap();
    let (input_arg, pipeline_arg) = (
        input.to_string_lossy().into_owned(),
        pipeline.to_string_lossy().into_owned(),
    );

    let mut runs = Vec::new();
    for threads in ["1", "2"] {
        let out = tmp.path().join(format!("run-{threads}"));
        let out_arg = out.to_string_lossy().into_owned();
        assert_ok(&glmkit(&[
            "run",
            &pipeline_arg,
            &input_arg,
            "-o",
            &out_arg,
            "--threads",
            threads,
            "-q",
        ]));
        runs.push(out);
    }
    assert_eq!(tree_bytes(&runs[0]), tree_bytes(&runs[1]));
    let stats = stats_json(&runs[0]);
    assert_eq!(stats["by_reason"]["dup_exact"], planted);

    let staged = tmp.path().join("staged");
    let staged_arg = staged.to_string_lossy().into_owned();
    assert_ok(&glmkit(&[
        "dedup",
        "exact",
        &input_arg,
        "-o",
        &staged_arg,
        "-q",
    ]));
    let removed = rejected_ids(&runs[0]);
    assert_eq!(removed.len(), planted);
    assert!(
        removed
            .iter()
            .all(|(id, kept)| id == &format!("copy-of-{kept}")),
        "{removed:?}"
    );
    assert_eq!(removed, rejected_ids(&staged));
}
