//! Exact dedup with duplicates planted across files, shards and threads: all of them are
//! found, nothing else is, and the output is the same whatever the tasks and threads.

use glmkit::dedup::{
    exact, exact::ExactOptions, input::InputSet, output::read_records, ShardSpec, Stage,
};
use glmkit::pipeline::RunOptions;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes 3 files of unique documents plus planted copies (some re-flowed, which `basic`
/// normalization must see through). Returns the inputs and, for each planted copy, the id of
/// the original.
fn corpus(dir: &Path) -> (Vec<String>, BTreeMap<String, String>) {
    let mut planted = BTreeMap::new();
    let mut files = Vec::new();
    let mut originals: Vec<(String, String)> = Vec::new();
    for f in 0..3 {
        let mut lines = String::new();
        for i in 0..300 {
            let id = format!("f{f}-{i}");
            let text = format!(
                "Document {f} {i}.\nIt says {} and {}.",
                i * 7 + f,
                (i * 31 + f * 17) % 101
            );
            if i % 23 == 5 && !originals.is_empty() {
                // A copy of an earlier document, possibly from another file, re-flowed.
                let (orig_id, orig_text) = originals[(i * 13 + f) % originals.len()].clone();
                let copy_id = format!("copy-{f}-{i}");
                let copy = if i % 2 == 0 {
                    orig_text.replace('\n', "  \r\n ")
                } else {
                    orig_text.clone()
                };
                lines.push_str(&serde_json::json!({"id": copy_id, "text": copy}).to_string());
                lines.push('\n');
                planted.insert(copy_id, orig_id);
            }
            lines.push_str(&serde_json::json!({"id": id, "text": text, "n": i}).to_string());
            lines.push('\n');
            originals.push((id, text));
        }
        let path = dir.join(format!("part-{f}.jsonl"));
        std::fs::write(&path, lines).unwrap();
        files.push(path.display().to_string());
    }
    (files, planted)
}

fn run(
    files: &[String],
    root: &Path,
    tasks: usize,
    threads: usize,
) -> (BTreeMap<String, String>, Vec<String>) {
    let inputs = InputSet::expand(files, "text", "id").unwrap();
    let opts = ExactOptions {
        partitions: 4,
        ..ExactOptions::default()
    };
    let (work, out) = (root.join("work"), root.join("out"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        if tasks == 1 {
            let stats = exact::run(
                &inputs,
                &opts,
                &work,
                &run_opts(&out, ShardSpec::default(), None),
                Stage::All,
            )
            .unwrap()
            .unwrap()
            .total;
            assert_eq!(stats.read, stats.kept + stats.rejected + stats.quarantined);
        } else {
            for stage in [Stage::Signatures, Stage::Buckets, Stage::Filter] {
                for i in 0..tasks {
                    exact::run(
                        &inputs,
                        &opts,
                        &work,
                        &run_opts(&out, ShardSpec::new(i, tasks).unwrap(), Some(threads)),
                        stage,
                    )
                    .unwrap();
                }
            }
        }
    });
    let removed = read_records(&out, "rejected")
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["glmkit"]["reason"], "dup_exact");
            (
                r["id"].as_str().unwrap().to_string(),
                r["glmkit"]["details"]["kept_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let mut kept: Vec<String> = read_records(&out, "kept")
        .unwrap()
        .iter()
        .map(|r| r["id"].to_string())
        .collect();
    kept.sort();
    (removed, kept)
}

#[test]
fn planted_duplicates_are_found_whatever_the_sharding() {
    let dir = tempfile::tempdir().unwrap();
    let (files, planted) = corpus(dir.path());
    assert!(planted.len() > 30);
    let (removed, kept) = run(&files, &dir.path().join("a"), 1, 1);
    assert_eq!(
        removed, planted,
        "exactly the planted copies, each pointing at its original"
    );
    assert_eq!(kept.len(), 900);
    for (tasks, threads) in [(2, 2), (5, 3)] {
        let (r, k) = run(
            &files,
            &dir.path().join(format!("t{tasks}")),
            tasks,
            threads,
        );
        assert_eq!(r, planted, "{tasks} tasks");
        assert_eq!(k, kept, "{tasks} tasks");
    }
}

#[test]
fn normalization_none_sees_reflowed_copies_as_different() {
    let dir = tempfile::tempdir().unwrap();
    let (files, planted) = corpus(dir.path());
    let inputs = InputSet::expand(&files, "text", "id").unwrap();
    let opts = ExactOptions {
        normalize: glmkit::dedup::Normalization::None,
        ..ExactOptions::default()
    };
    let out = dir.path().join("out");
    let stats = exact::run(
        &inputs,
        &opts,
        &dir.path().join("work"),
        &run_opts(&out, ShardSpec::default(), None),
        Stage::All,
    )
    .unwrap()
    .unwrap()
    .total;
    assert!(stats.rejected > 0 && (stats.rejected as usize) < planted.len());
}

fn run_opts(out: &std::path::Path, shard: ShardSpec, threads: Option<usize>) -> RunOptions {
    let mut run = RunOptions::new(out);
    run.shard = shard;
    run.threads = threads;
    run
}

/// Exact dedup only decides, so the executor writes kept records as they were read (spacing,
/// key order and escapes included) and rejected ones as read plus their `glmkit` field,
/// decodes in full only what it must rewrite (records without an id, or with a `glmkit` field
/// already), and quarantines bad lines as every command does.
#[test]
fn kept_records_are_written_byte_for_byte_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{ "n" : 1,"id":"a",  "text": "caf\u00e9 au lait\nsecond line" }"#,
        r#"{"text":"other text","id":2,"meta":{"deep":[1,2.50,null]}}"#,
        r#"{"id":"c","text":"café  au lait second line","extra":"kept in the rejected record"}"#,
        r#"{"text":"no id here"}"#,
        r#"{"id":"e","text":"x","big":1e999}"#,
        r#"{"id":"f","text":"other  text"}"#,
        r#"{"id":"g","glmkit":{"lang":"fr"},"text":"other text"}"#,
    ];
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let inputs = InputSet::expand(&[input.display().to_string()], "text", "id").unwrap();
    let out = dir.path().join("out");
    let mut run = run_opts(&out, ShardSpec::default(), Some(2));
    run.format = glmkit::corpus::Format::Jsonl;
    let stats = exact::run(
        &inputs,
        &ExactOptions::default(),
        &dir.path().join("work"),
        &run,
        Stage::All,
    )
    .unwrap()
    .unwrap()
    .total;
    assert_eq!(
        (stats.read, stats.kept, stats.rejected, stats.quarantined),
        (7, 3, 3, 1)
    );
    let kept = std::fs::read_to_string(out.join("kept/in-00000.jsonl")).unwrap();
    let kept: Vec<&str> = kept.lines().collect();
    assert_eq!(kept[..2], [lines[0], lines[1]], "written as read");
    // Without an id, the record is decoded and gets its generated id written into it.
    let generated: serde_json::Value = serde_json::from_str(kept[2]).unwrap();
    assert_eq!(generated["id"], "in.jsonl:4");
    // A rejected record is the line as read with the rejection added as its last field...
    let rejected_lines = std::fs::read_to_string(out.join("rejected/in-00000.jsonl")).unwrap();
    let first = rejected_lines.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{},\"glmkit\":{{\"step\":\"dedup_exact\",\"reason\":\"dup_exact\",\"details\":{{\"kept_id\":\"a\"}}}}}}",
            lines[2].strip_suffix('}').unwrap()
        )
    );
    let rejected = read_records(&out, "rejected").unwrap();
    // ...unless it has a `glmkit` field, which the rejection joins.
    assert_eq!(rejected[2]["glmkit"]["lang"], "fr");
    assert_eq!(rejected[2]["glmkit"]["reason"], "dup_exact");
    assert_eq!(rejected[0]["id"], "c");
    assert_eq!(rejected[0]["extra"], "kept in the rejected record");
    assert_eq!(rejected[0]["glmkit"]["details"]["kept_id"], "a");
    assert_eq!(rejected[1]["glmkit"]["details"]["kept_id"], "2");
    let quarantined = std::fs::read_to_string(out.join("quarantine/in-00000.jsonl")).unwrap();
    assert!(quarantined.contains("malformed_json"), "{quarantined}");
}
