//! `glmkit filter` and `glmkit run` end to end on the filter fixtures.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

fn glmkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glmkit"))
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Every record under `dir` (all .jsonl.zst parts, in name order).
fn records(dir: &Path) -> Vec<Value> {
    let mut parts: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => return Vec::new(),
    };
    parts.sort();
    let mut out = Vec::new();
    for part in parts
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.zst"))
    {
        let reader =
            BufReader::new(zstd::Decoder::new(std::fs::File::open(part).unwrap()).unwrap());
        out.extend(
            reader
                .lines()
                .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap()),
        );
    }
    out
}

/// Runs `glmkit filter -q ARGS -o OUT INPUTS` and checks that it succeeded.
fn filter_into(out: &Path, args: &[&str], inputs: &[String]) {
    let status = glmkit()
        .args(["filter", "-q"])
        .args(args)
        .arg("-o")
        .arg(out)
        .args(inputs)
        .status()
        .unwrap();
    assert!(status.success(), "glmkit filter {args:?}");
}

/// The clean and noisy filter fixtures.
fn both_fixtures() -> Vec<String> {
    vec![
        fixture("filter/clean.jsonl.zst"),
        fixture("filter/noisy.jsonl.zst"),
    ]
}

fn stats(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap()
}

#[test]
fn filter_annotates_every_record_and_removes_junk() {
    let out = tempfile::tempdir().unwrap();
    filter_into(out.path(), &["--threads", "2"], &both_fixtures());
    let kept = records(&out.path().join("kept"));
    let rejected = records(&out.path().join("rejected"));
    let s = stats(out.path());
    assert_eq!(
        s["read"].as_u64().unwrap() as usize,
        kept.len() + rejected.len()
    );
    for record in kept.iter().chain(&rejected) {
        let lang = record["glmkit"]["lang"].as_str().unwrap();
        let score = record["glmkit"]["lang_score"].as_f64().unwrap();
        assert!(!lang.is_empty() && (0.0..=1.0).contains(&score), "{record}");
    }
    for record in &rejected {
        let g = &record["glmkit"];
        assert!(g["step"].is_string() && g["reason"].is_string(), "{g}");
        assert!(
            g["details"]["value"].is_number() && g["details"]["threshold"].is_number(),
            "{g}"
        );
    }
    // All the junk goes; the original fields of kept records stay.
    assert!(
        kept.iter().all(|r| r.get("defect").is_none()),
        "a noisy document was kept"
    );
    assert!(kept
        .iter()
        .all(|r| r["lang"].is_string() && r["format"].is_string()));
}

#[test]
fn rules_none_only_annotates_and_langs_keeps_languages() {
    let out = tempfile::tempdir().unwrap();
    let status = glmkit()
        .args(["filter", "-q", "--rules", "none", "--langs", "zh,ja", "-o"])
        .arg(out.path())
        .arg(fixture("filter/clean.jsonl.zst"))
        .status()
        .unwrap();
    assert!(status.success());
    let kept = records(&out.path().join("kept"));
    let rejected = records(&out.path().join("rejected"));
    assert!(kept.len() >= 40, "{}", kept.len());
    for r in &kept {
        let lang = r["glmkit"]["lang"].as_str().unwrap();
        assert!(lang == "zh" || lang == "ja");
        assert_eq!(r["lang"].as_str().unwrap(), lang, "{}", r["id"]);
    }
    assert!(rejected
        .iter()
        .all(|r| r["glmkit"]["step"] == "langid" && r["glmkit"]["reason"] == "language"));
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = tempfile::tempdir().unwrap();
        filter_into(
            out.path(),
            &["--normalize", "--threads", threads],
            &both_fixtures(),
        );
        let mut files = Vec::new();
        for sub in ["kept", "rejected"] {
            let mut names: Vec<PathBuf> = std::fs::read_dir(out.path().join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for name in names {
                files.push((
                    name.file_name().unwrap().to_owned(),
                    std::fs::read(&name).unwrap(),
                ));
            }
        }
        outputs.push(files);
    }
    assert!(!outputs[0].is_empty());
    assert!(
        outputs[0] == outputs[1],
        "outputs differ between 1 and 2 threads"
    );
}

#[test]
fn run_executes_the_example_pipeline() {
    let out = tempfile::tempdir().unwrap();
    let status = glmkit()
        .args(["run", "-q"])
        .arg(fixture("pipelines/filter.toml"))
        .arg("-o")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let s = stats(out.path());
    let steps = s["by_step"].as_object().unwrap();
    for step in [
        "normalize",
        "langid",
        "encoding",
        "gopher_repetition",
        "gopher_quality",
        "c4",
        "fineweb",
    ] {
        assert!(steps.contains_key(step), "{step} missing from {steps:?}");
    }
    let kept = records(&out.path().join("kept"));
    assert!(kept
        .iter()
        .all(|r| r["glmkit"]["normalize_changed"].is_u64() && r["glmkit"]["lang"].is_string()));
}

#[test]
fn a_bad_pipeline_names_the_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[step]]\nkind = \"normalize\"\n\n[[step]]\nkind = \"c4\"\nthresholdz = []\n",
    )
    .unwrap();
    let output = glmkit()
        .arg("run")
        .arg(&path)
        .arg(fixture("filter/noisy.jsonl.zst"))
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:6: key `thresholdz`"), "{stderr}");
}

/// Rejected records of `glmkit filter` on the clean fixture with extra arguments.
fn filter_clean(extra: &[&str]) -> Vec<Value> {
    let out = tempfile::tempdir().unwrap();
    filter_into(out.path(), extra, &[fixture("filter/clean.jsonl.zst")]);
    records(&out.path().join("rejected"))
}

#[test]
fn the_published_preset_removes_more_than_the_defaults() {
    let by_default = filter_clean(&[]);
    let published = filter_clean(&["--thresholds", "published"]);
    // Every document the defaults remove is removed by the stricter published values too.
    let ids = |records: &[Value]| -> Vec<String> {
        records.iter().map(|r| r["id"].to_string()).collect()
    };
    let published_ids = ids(&published);
    for id in ids(&by_default) {
        assert!(
            published_ids.contains(&id),
            "{id} kept by the published values"
        );
    }
    assert!(
        published.len() > 2 * by_default.len().max(10),
        "{}",
        published.len()
    );
    // A 21-word help page: complete, so kept by default; under Gopher's 50 words.
    let page = "\"mallard/fi/gnome-user-docs/help/fi/gnome-help/privacy.page\"";
    assert!(!ids(&by_default).iter().any(|id| id == page));
    assert!(
        published_ids.iter().any(|id| id == page),
        "{page} kept by the published values"
    );
}

#[test]
fn an_unknown_thresholds_file_names_the_presets() {
    let out = tempfile::tempdir().unwrap();
    let output = glmkit()
        .args(["filter", "-q", "--thresholds", "no-such-file.toml", "-o"])
        .arg(out.path())
        .arg(fixture("filter/noisy.jsonl.zst"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no-such-file.toml") && stderr.contains("preset: published"),
        "{stderr}"
    );
}

#[test]
fn one_step_for_all_rules_counts_and_records_as_one_step_per_rule() {
    // `glmkit filter` runs the rules as one step on a shared analysis; the example pipeline
    // runs the same steps one per rule. Records, counts and markers must be the same bytes.
    let inputs = both_fixtures();
    let one = tempfile::tempdir().unwrap();
    filter_into(one.path(), &["--normalize"], &inputs);
    let per_rule = tempfile::tempdir().unwrap();
    let status = glmkit()
        .args(["run", "-q"])
        .arg(fixture("pipelines/filter.toml"))
        .args(&inputs)
        .arg("-o")
        .arg(per_rule.path())
        .status()
        .unwrap();
    assert!(status.success());
    let s = stats(one.path());
    for rule in [
        "encoding",
        "gopher_repetition",
        "gopher_quality",
        "c4",
        "fineweb",
    ] {
        assert!(
            s["by_step"][rule]["seen"].as_u64().unwrap() > 0,
            "{rule}: {s}"
        );
    }
    assert!(s["by_step"].get("quality").is_none(), "{s}");
    let (a, b) = (
        common::tree_bytes(one.path()),
        common::tree_bytes(per_rule.path()),
    );
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{path} differs");
    }
}
