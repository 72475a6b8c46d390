//! Fuzzy and line dedup as steps of `glmkit run`: a pipeline removes the same documents as
//! running its document-local steps, then the staged `glmkit dedup fuzzy` and
//! `glmkit dedup lines`, one after the other; counts add up; the output does not depend on the
//! thread count; bad settings are reported with the line and the key.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The near-duplicate fixture split over two files (so that clusters cross files), plus one
/// malformed record for the quarantine.
fn corpus(dir: &Path) -> usize {
    let lines = neardup_slice_records();
    std::fs::create_dir_all(dir).unwrap();
    let (first, second) = lines.split_at(lines.len() / 2);
    for (name, part, extra) in [
        ("a.jsonl", first, ""),
        ("b.jsonl", second, "{\"id\": \"broken\", \"text\": \n"),
    ] {
        let mut body: Vec<u8> = part.join(&b'\n');
        body.push(b'\n');
        body.extend_from_slice(extra.as_bytes());
        std::fs::write(dir.join(name), body).unwrap();
    }
    lines.len() + 1
}

const FILTERS: &str = r#"
[[step]]
kind = "langid"
keep = ["en", "cs", "nl", "zh", "it", "hu", "uk", "de"]

[[step]]
kind = "dedup_exact"
"#;

const DEDUP: &str = r#"
[[step]]
kind = "dedup_fuzzy"
bands = 14
rows = 8

[[step]]
kind = "dedup_lines"
unit = "line"
min_count = 2
"#;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn run(pipeline: &Path, input: &Path, out: &Path, threads: &str) {
    assert_ok(&glmkit(&[
        "run",
        &s(pipeline),
        &s(input),
        "-o",
        &s(out),
        "--threads",
        threads,
        "-q",
    ]));
}

/// The output tree without the work directories (whose manifests name the output folder).
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    tree_bytes(dir)
        .into_iter()
        .filter(|(path, _)| !path.starts_with(".work") && !path.starts_with(".dedup-work"))
        .collect()
}

/// (id, reason, details) of every rejected record.
fn rejections(out: &Path, reason: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = read_records(&out.join("rejected"))
        .iter()
        .filter(|r| r["glmkit"]["reason"] == reason)
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["glmkit"]["details"].to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

/// The decompressed kept records, in file order.
fn kept_lines(out: &Path) -> Vec<Value> {
    read_records(&out.join("kept"))
}

#[test]
fn fuzzy_and_lines_steps_decide_like_the_staged_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let records = corpus(&input);
    let full = tmp.path().join("full.toml");
    std::fs::write(&full, format!("{FILTERS}{DEDUP}")).unwrap();
    let filters = tmp.path().join("filters.toml");
    std::fs::write(&filters, FILTERS).unwrap();

    let outs: Vec<PathBuf> = ["1", "2"]
        .iter()
        .map(|threads| {
            let out = tmp.path().join(format!("run-{threads}"));
            run(&full, &input, &out, threads);
            out
        })
        .collect();
    assert_eq!(outputs(&outs[0]), outputs(&outs[1]), "1 vs 2 threads");
    // A rerun into the same folder redoes every phase and leaves nothing stale.
    run(&full, &input, &outs[0], "2");
    assert_eq!(outputs(&outs[0]), outputs(&outs[1]), "rerun");
    let out = &outs[0];

    // The same work, step by step: the document-local steps, then the staged commands.
    let local = tmp.path().join("local");
    run(&filters, &input, &local, "2");
    let (fuzzy, lines) = (tmp.path().join("fuzzy"), tmp.path().join("lines"));
    for (command, from, to) in [("fuzzy", &local, &fuzzy), ("lines", &fuzzy, &lines)] {
        assert_ok(&glmkit(&[
            "dedup",
            command,
            &s(&from.join("kept")),
            "-o",
            &s(to),
            "-q",
        ]));
    }
    let fuzzy_removed = rejections(&fuzzy, "dup_fuzzy");
    assert!(fuzzy_removed.len() >= 10, "{fuzzy_removed:?}");
    assert_eq!(rejections(out, "dup_fuzzy"), fuzzy_removed);
    let lines_removed = rejections(&lines, "dup_lines_empty");
    assert_eq!(rejections(out, "dup_lines_empty"), lines_removed);
    assert_eq!(
        rejections(out, "dup_exact"),
        rejections(&local, "dup_exact")
    );
    assert_eq!(rejections(out, "language"), rejections(&local, "language"));
    let kept = kept_lines(out);
    assert_eq!(kept, kept_lines(&lines));
    let shortened = kept
        .iter()
        .filter(|r| r["glmkit"]["dedup_lines_removed"].is_u64())
        .count();
    assert!(shortened > 0, "no document lost lines");

    // Counts add up over the whole run and per step.
    let stats = stats_json(out);
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(n(&stats["read"]), records as u64);
    assert_eq!(n(&stats["quarantined"]), 1);
    assert_eq!(n(&stats["kept"]), kept.len() as u64);
    assert_eq!(
        n(&stats["read"]),
        n(&stats["kept"]) + n(&stats["rejected"]) + n(&stats["quarantined"])
    );
    let by_reason: u64 = stats["by_reason"]
        .as_object()
        .unwrap()
        .values()
        .map(n)
        .sum();
    assert_eq!(by_reason, n(&stats["rejected"]));
    assert_eq!(
        n(&stats["by_reason"]["dup_fuzzy"]),
        fuzzy_removed.len() as u64
    );
    let local_stats = stats_json(&local);
    let steps = &stats["by_step"];
    assert_eq!(n(&steps["langid"]["seen"]), records as u64 - 1);
    assert_eq!(n(&steps["dedup_fuzzy"]["seen"]), n(&local_stats["kept"]));
    assert_eq!(
        n(&steps["dedup_lines"]["seen"]),
        n(&stats_json(&fuzzy)["kept"])
    );
    assert_eq!(n(&stats["files"]), 2);
    // Each input file's marker adds up as well.
    for stem in ["a", "b"] {
        let marker: Value =
            serde_json::from_slice(&std::fs::read(out.join(format!(".done/{stem}.json"))).unwrap())
                .unwrap();
        let m = &marker["stats"];
        assert_eq!(
            n(&m["read"]),
            n(&m["kept"]) + n(&m["rejected"]) + n(&m["quarantined"])
        );
        for file in marker["outputs"].as_array().unwrap() {
            assert!(out.join(file.as_str().unwrap()).is_file(), "{file}");
        }
    }
}

#[test]
fn a_pipeline_of_one_corpus_step_writes_what_the_command_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    corpus(&input);
    let pipeline = tmp.path().join("fuzzy.toml");
    std::fs::write(&pipeline, "[[step]]\nkind = \"dedup_fuzzy\"\n").unwrap();
    let out = tmp.path().join("run");
    run(&pipeline, &input, &out, "2");
    let staged = tmp.path().join("staged");
    assert_ok(&glmkit(&[
        "dedup",
        "fuzzy",
        &s(&input),
        "-o",
        &s(&staged),
        "-q",
    ]));
    assert_eq!(outputs(&out), outputs(&staged));
}

fn error_of(pipeline: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    corpus(&input);
    let path = tmp.path().join("p.toml");
    std::fs::write(&path, pipeline).unwrap();
    let out = s(&tmp.path().join("out"));
    let mut args = vec![
        "run",
        path.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        &out,
    ];
    args.extend_from_slice(extra);
    let output = glmkit(&args);
    assert!(!output.status.success(), "{pipeline} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_settings_name_the_line_and_the_key_and_sharding_needs_a_stage() {
    let e = error_of(
        "[[step]]\nkind = \"langid\"\n\n[[step]]\nkind = \"dedup_fuzzy\"\nband = 9\n",
        &[],
    );
    assert!(
        e.contains("p.toml:6: key `band`: step 2: (dedup_fuzzy) unknown field `band`"),
        "{e}"
    );

    let e = error_of("[[step]]\nkind = \"dedup_fuzzy\"\nrows = 0\n", &[]);
    assert!(e.contains("p.toml:3: key `rows`:"), "{e}");
    assert!(e.contains("at least 1"), "{e}");

    let e = error_of("[[step]]\nkind = \"dedup_lines\"\nunit = \"word\"\n", &[]);
    assert!(e.contains("p.toml:3: key `unit`:"), "{e}");

    let e = error_of(
        "[[step]]\nkind = \"c4\"\n\n[[step]]\nkind = \"dedup_lines\"\n",
        &["--shard", "1/2"],
    );
    // c4 | dedup_lines.counts, .buckets | pass-1 | finish
    assert!(e.contains("p.toml compiles to 5 stages"), "{e}");
    assert!(e.contains("--stage K --shard i/n"), "{e}");
}

#[test]
fn the_example_dedup_pipeline_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pipelines/dedup.toml");
    let out = tmp.path().join("out");
    assert_ok(&glmkit(&["run", &s(&pipeline), "-o", &s(&out), "-q"]));
    let stats = stats_json(&out);
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    assert_eq!(
        n(&stats["read"]),
        n(&stats["kept"]) + n(&stats["rejected"]) + n(&stats["quarantined"])
    );
    for step in ["langid", "c4", "dedup_exact", "dedup_fuzzy", "dedup_lines"] {
        assert!(n(&stats["by_step"][step]["seen"]) > 0, "{step}: {stats}");
    }
    for reason in ["dup_exact", "dup_fuzzy", "too_few_sentences"] {
        assert!(n(&stats["by_reason"][reason]) > 0, "{reason}: {stats}");
    }
}

#[test]
fn a_rerun_with_dedup_exact_redoes_the_files_an_interrupted_run_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.jsonl"),
        "{\"id\":\"1\",\"text\":\"hello world\"}\n",
    )
    .unwrap();
    std::fs::write(
        input.join("b.jsonl"),
        "{\"id\":\"2\",\"text\":\"hello  world\"}\n",
    )
    .unwrap();
    let pipeline = tmp.path().join("p.toml");
    std::fs::write(&pipeline, "[[step]]\nkind = \"dedup_exact\"\n").unwrap();
    let out = tmp.path().join("out");
    let args = ["run", &s(&pipeline), &s(&input), "-o", &s(&out), "-q"];
    // The first run stops after a.jsonl, as a crash would.
    let first = glmkit(&[&args[..], &["--stop-after-files", "1"]].concat());
    assert!(!first.status.success());
    assert!(out.join(".done/a.json").is_file());
    // Skipping a.jsonl now would leave its text out of the seen set and keep the copy in b.
    assert_ok(&glmkit(&args));
    assert_eq!(rejections(&out, "dup_exact").len(), 1);
    assert_eq!(stats_json(&out)["read"], 2);
}
