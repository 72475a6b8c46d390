//! Corpus I/O end to end: round trips of every format, bad input, determinism across thread
//! counts, resume after an interruption.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

fn sample_records() -> Vec<Value> {
    let bytes = decompress(&sample_corpus());
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn convert(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["convert"];
    let inputs: Vec<String> = inputs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    args.extend(inputs.iter().map(String::as_str));
    let out = out.to_string_lossy().into_owned();
    args.extend(["--output", out.as_str(), "--quiet"]);
    args.extend(extra);
    glmkit(&args)
}

/// Field names of a JSON object, in order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn every_format_round_trips_fields_values_and_order() {
    let tmp = tempfile::tempdir().unwrap();
    let original = sample_records();
    for format in ["jsonl", "jsonl.zst", "jsonl.gz", "parquet"] {
        let there = tmp.path().join(format!("to-{format}"));
        assert_ok(&convert(&[&sample_corpus()], &there, &["--format", format]));
        let back = tmp.path().join(format!("from-{format}"));
        assert_ok(&convert(
            &[&there.join("kept")],
            &back,
            &["--format", "jsonl"],
        ));
        let records = read_records(&back.join("kept"));
        assert_eq!(records.len(), original.len(), "{format}");
        for (a, b) in original.iter().zip(&records) {
            assert_eq!(a, b, "{format}: values differ");
            assert_eq!(keys(a), keys(b), "{format}: field order differs");
        }
        let stats = stats_json(&back);
        assert_eq!(stats["read"], original.len());
        assert_eq!(stats["kept"], original.len());
    }
}

#[test]
fn json_types_survive_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("typed.jsonl");
    let records = [
        json!({"meta": {"a": [1, 2]}, "n": -3, "big": 18446744073709551615u64, "x": 1.5, "ok": true, "text": "一", "none": null}),
        json!({"meta": {"a": []}, "n": 4, "big": 1, "x": 2.0, "ok": false, "text": "two", "none": null, "id": "b"}),
    ];
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&input, body).unwrap();
    for format in ["jsonl.zst", "jsonl.gz"] {
        let out = tmp.path().join(format);
        assert_ok(&convert(&[&input], &out, &["--format", format]));
        let mut expected = records.clone();
        expected[0]["id"] = json!("typed.jsonl:1");
        assert_eq!(read_records(&out.join("kept")), expected, "{format}");
    }
    // Parquet stores typed columns; nested values become JSON text, which is the documented
    // mapping. Scalars keep their types.
    let out = tmp.path().join("pq");
    assert_ok(&convert(&[&input], &out, &["--format", "parquet"]));
    let back = tmp.path().join("pq-back");
    assert_ok(&convert(
        &[&out.join("kept")],
        &back,
        &["--format", "jsonl"],
    ));
    let got = read_records(&back.join("kept"));
    assert_eq!(got[0]["n"], -3);
    assert_eq!(got[0]["big"], 18446744073709551615u64);
    assert_eq!(got[0]["x"], 1.5);
    assert_eq!(got[1]["x"], 2.0);
    assert_eq!(got[0]["ok"], true);
    assert_eq!(got[0]["meta"], r#"{"a":[1,2]}"#);
    assert_eq!(
        keys(&got[0]),
        keys(&records[0])
            .into_iter()
            .chain(["id".to_string()])
            .collect::<Vec<_>>()
    );
    assert_eq!(got[0]["id"], "typed.jsonl:1");
}

#[test]
fn parquet_to_parquet_keeps_column_types() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.parquet");
    let mut df = df!(
        "id" => ["a", "b", "c"],
        "small" => [1i32, 2, 3],
        "ratio" => [0.5f32, 1.5, 2.5],
        "flag" => [true, false, true],
        "text" => ["alpha", "beta", "gamma"],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&input).unwrap())
        .finish(&mut df)
        .unwrap();
    let out = tmp.path().join("out");
    assert_ok(&convert(&[&input], &out, &["--format", "parquet"]));
    let written = out.join("kept/in-00000.parquet");
    let back = ParquetReader::new(std::fs::File::open(&written).unwrap())
        .finish()
        .unwrap();
    assert_eq!(back.schema(), df.schema());
    assert!(back.equals(&df));
}

#[test]
fn plain_text_files_are_one_document_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("docs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("b.txt"), "second\nline two\n").unwrap();
    std::fs::write(dir.join("a.txt"), "first").unwrap();
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    let out = tmp.path().join("out");
    assert_ok(&convert(&[&dir], &out, &["--format", "jsonl"]));
    let mut kept = read_records(&out.join("kept"));
    kept.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
    assert_eq!(
        kept,
        [
            json!({"text": "first", "id": "a.txt"}),
            json!({"text": "second\nline two\n", "id": "b.txt"})
        ]
    );
    let stats = stats_json(&out);
    assert_eq!(
        (stats["read"].as_u64(), stats["quarantined"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(stats["quarantine_by_reason"]["empty_text"], 1);
}

#[test]
fn bad_records_go_to_quarantine_and_counts_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("bad.jsonl");
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"id\": \"ok1\", \"text\": \"fine\"}\n");
    body.extend_from_slice(b"{\"id\": \"broken\", \"text\": \n");
    body.extend_from_slice(b"{\"id\": \"utf\", \"text\": \"caf\xc3\x28\"}\n");
    body.extend_from_slice(b"{\"id\": \"notext\", \"body\": \"x\"}\n");
    body.extend_from_slice(b"{\"id\": \"num\", \"text\": 12}\n");
    body.extend_from_slice(b"{\"id\": \"empty\", \"text\": \"\"}\n");
    body.extend_from_slice(b"{\"text\": \"no id here\"}\n");
    std::fs::write(&input, &body).unwrap();
    let out = tmp.path().join("out");
    assert_ok(&convert(&[&input], &out, &["--format", "jsonl"]));
    let stats = stats_json(&out);
    assert_eq!(stats["read"], 7);
    assert_eq!(stats["kept"], 2);
    assert_eq!(stats["quarantined"], 5);
    assert_eq!(
        stats["quarantine_by_reason"],
        json!({"malformed_json": 1, "invalid_utf8": 1, "missing_text": 1, "text_not_string": 1, "empty_text": 1})
    );
    let kept = read_records(&out.join("kept"));
    assert_eq!(
        kept[1]["id"], "bad.jsonl:7",
        "a record without id gets FILE:LINE"
    );
    let quarantine = read_records(&out.join("quarantine"));
    let lines: Vec<u64> = quarantine
        .iter()
        .map(|q| q["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert!(quarantine
        .iter()
        .all(|q| q["source"].as_str().unwrap().ends_with("bad.jsonl")));
    assert_eq!(quarantine[1]["reason"], "invalid_utf8");
    assert!(quarantine[1]["raw"].as_str().unwrap().contains("\"utf\""));
}

/// A compressed corpus cut in the middle: what was read is processed, the break is reported
/// in the quarantine and the stats, and the exit status says so unless --allow-partial.
#[test]
fn truncated_compressed_files_are_reported_not_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    // Text that compresses poorly, so that half of the compressed file holds whole blocks.
    let plain = pseudo_random_corpus(3000);
    let total_lines = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gz = gz.finish().unwrap();
    for (name, bytes) in [("cut.jsonl.zst", zst), ("cut.jsonl.gz", gz)] {
        let input = tmp.path().join(name);
        std::fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        let failed = convert(&[&input], &out, &[]);
        assert!(
            !failed.status.success(),
            "{name}: a truncated input must fail the run"
        );
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            stderr.contains(name) && stderr.contains("--allow-partial"),
            "{stderr}"
        );
        let stats = stats_json(&out);
        let read = stats["read"].as_u64().unwrap();
        assert!(
            read > 0 && read < total_lines,
            "{name}: read {read} of {total_lines}"
        );
        assert_eq!(
            read,
            stats["kept"].as_u64().unwrap() + stats["quarantined"].as_u64().unwrap()
        );
        assert_eq!(stats["breaks"].as_array().unwrap().len(), 1);
        assert!(stats["breaks"][0]["file"].as_str().unwrap().ends_with(name));
        let quarantine = read_records(&out.join("quarantine"));
        assert_eq!(quarantine.last().unwrap()["reason"], "stream_break");
        assert_eq!(
            read_records(&out.join("kept")).len() as u64,
            stats["kept"].as_u64().unwrap()
        );

        let allowed = tmp.path().join(format!("allowed-{name}"));
        assert_ok(&convert(&[&input], &allowed, &["--allow-partial"]));
    }
}

#[test]
fn corrupt_parquet_and_bad_paths_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let corrupt = tmp.path().join("corrupt.parquet");
    std::fs::write(&corrupt, b"PAR1 this is not parquet at all PAR1").unwrap();
    let out = tmp.path().join("out");
    let failed = convert(&[&corrupt], &out, &[]);
    assert!(!failed.status.success());
    assert_eq!(stats_json(&out)["breaks"][0]["offset"], 0);

    let missing = tmp.path().join("missing.jsonl");
    let failed = convert(&[&missing], &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        !failed.status.success()
            && stderr.contains("missing.jsonl")
            && stderr.contains("no such file"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one-line error: {stderr}");

    let unknown = tmp.path().join("data.csv");
    std::fs::write(&unknown, "a,b\n").unwrap();
    let failed = convert(&[&unknown], &out, &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        !failed.status.success()
            && stderr.contains("data.csv")
            && stderr.contains("unknown format"),
        "{stderr}"
    );
}

/// `n` JSON lines of deterministic pseudo-random words.
fn pseudo_random_corpus(n: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    for i in 0..n {
        let words: Vec<String> = (0..60)
            .map(|_| {
                (0..(2 + next() % 8))
                    .map(|_| (b'a' + (next() % 26) as u8) as char)
                    .collect()
            })
            .collect();
        out.extend(
            format!(
                "{}\n",
                json!({"id": format!("r{i}"), "text": words.join(" ")})
            )
            .bytes(),
        );
    }
    out
}

/// Several input files and small output parts, so that sharding and rotation are exercised.
fn split_corpus(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let plain = decompress(&sample_corpus());
    let lines: Vec<&[u8]> = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut names = Vec::new();
    for (k, chunk) in lines.chunks(20).enumerate() {
        let name = format!("part{k}.jsonl.zst");
        let body: Vec<u8> = chunk
            .iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        std::fs::write(dir.join(&name), zstd::encode_all(&body[..], 3).unwrap()).unwrap();
        names.push(name);
    }
    names
}

#[test]
fn one_thread_and_two_threads_write_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    split_corpus(&input);
    let mut trees = Vec::new();
    for threads in ["1", "2"] {
        let out = tmp.path().join(format!("t{threads}"));
        assert_ok(&convert(
            &[&input],
            &out,
            &["--threads", threads, "--shard-docs", "7"],
        ));
        trees.push(tree_bytes(&out));
    }
    assert!(trees[0].len() > 10);
    assert_eq!(trees[0], trees[1]);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let parts = split_corpus(&input);
    assert!(parts.len() >= 4);
    let input_arg = input.to_string_lossy().into_owned();
    let whole = tmp.path().join("whole");
    assert_ok(&convert(&[&input], &whole, &["--shard-docs", "6"]));

    let resumed = tmp.path().join("resumed");
    let resumed_arg = resumed.to_string_lossy().into_owned();
    let args = [
        "convert",
        input_arg.as_str(),
        "--output",
        resumed_arg.as_str(),
        "--shard-docs",
        "6",
        "--quiet",
    ];
    let stopped = glmkit(&[&args[..], &["--stop-after-files", "2"]].concat());
    assert!(!stopped.status.success());
    assert_eq!(std::fs::read_dir(resumed.join(".done")).unwrap().count(), 2);
    // A crash can also leave a half-written part behind; the rerun must not keep it.
    std::fs::write(resumed.join("kept/.part3-00000.jsonl.zst.tmp"), b"partial").unwrap();
    let rerun = glmkit(&args);
    assert_ok(&rerun);
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("2 already done"));
    assert_eq!(tree_bytes(&whole), tree_bytes(&resumed));
}

#[test]
fn shards_split_the_files_and_sum_to_the_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    split_corpus(&input);
    let whole = tmp.path().join("whole");
    assert_ok(&convert(&[&input], &whole, &[]));
    let sharded = tmp.path().join("sharded");
    for shard in ["0/3", "1/3", "2/3"] {
        assert_ok(&convert(&[&input], &sharded, &["--shard", shard]));
    }
    assert_eq!(tree_bytes(&whole), tree_bytes(&sharded));
    let stats = stats_json(&sharded);
    assert_eq!(stats["read"], sample_records().len());

    // The Slurm variables choose the shard when --shard is not given.
    let slurm = tmp.path().join("slurm");
    let (input_arg, slurm_arg) = (
        input.to_string_lossy().into_owned(),
        slurm.to_string_lossy().into_owned(),
    );
    let args = [
        "convert",
        input_arg.as_str(),
        "--output",
        slurm_arg.as_str(),
        "--quiet",
    ];
    assert_ok(&glmkit_env(
        &args,
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    let one = stats_json(&slurm)["files"].as_u64().unwrap();
    assert_eq!(one, 2, "of part0..part4, shard 1/3 owns part1 and part4");
}

#[test]
fn stats_reports_sizes_percentiles_and_field_counts() {
    let out = glmkit(&[
        "stats",
        sample_corpus().to_str().unwrap(),
        "--by",
        "lang",
        "--json",
    ]);
    assert_ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = sample_records();
    assert_eq!(report["documents"], records.len());
    let bytes: usize = records
        .iter()
        .map(|r| r["text"].as_str().unwrap().len())
        .sum();
    let chars: usize = records
        .iter()
        .map(|r| r["text"].as_str().unwrap().chars().count())
        .sum();
    assert_eq!(report["bytes"], bytes);
    assert_eq!(report["chars"], chars);
    let min = records
        .iter()
        .map(|r| r["text"].as_str().unwrap().chars().count())
        .min()
        .unwrap();
    assert_eq!(report["length_chars"]["p0"], min);
    assert_eq!(report["by"]["lang"]["zh"], 4);
    assert_eq!(report["by"]["lang"].as_object().unwrap().len(), 23);
}

/// A rerun with another output format replaces the earlier parts instead of leaving them
/// beside the new ones (a reader of `kept/` would see every document twice).
#[test]
fn rerun_with_another_format_leaves_no_stale_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_ok(&convert(
        &[&sample_corpus()],
        &out,
        &["--format", "jsonl.zst"],
    ));
    assert_ok(&convert(
        &[&sample_corpus()],
        &out,
        &["--format", "jsonl", "--force"],
    ));
    let names: Vec<String> = std::fs::read_dir(out.join("kept"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.ends_with(".jsonl")),
        "{names:?}"
    );
    assert_eq!(
        read_records(&out.join("kept")).len(),
        sample_records().len()
    );
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("a.jsonl"),
        b"\xEF\xBB\xBF{\"id\":\"1\",\"text\":\"first\"}\n{\"id\":\"2\",\"text\":\"second\"}\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.txt"), b"\xEF\xBB\xBFplain").unwrap();
    let out = tmp.path().join("out");
    for pass_through in [false, true] {
        let mut extra = vec!["--format", "jsonl", "--force"];
        if pass_through {
            // dedup exact only decides, so kept lines are written as read.
            let args = [
                "dedup",
                "exact",
                dir.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--format",
                "jsonl",
                "--force",
                "-q",
            ];
            assert_ok(&glmkit(&args));
        } else {
            extra.push("--threads");
            extra.push("1");
            assert_ok(&convert(&[&dir], &out, &extra));
        }
        let stats = stats_json(&out);
        assert_eq!(stats["quarantined"], 0, "{stats}");
        let mut kept = read_records(&out.join("kept"));
        kept.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
        let texts: Vec<&str> = kept.iter().map(|r| r["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["first", "second", "plain"], "{kept:?}");
        let a = std::fs::read(out.join("kept/a-00000.jsonl")).unwrap();
        assert!(
            a.starts_with(b"{\"id\":\"1\""),
            "{:?}",
            String::from_utf8_lossy(&a)
        );
    }
}

#[test]
fn a_parquet_file_without_the_text_column_is_a_schema_error() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.parquet");
    let mut df = df!("id" => ["a", "b"], "content" => ["alpha", "beta"]).unwrap();
    ParquetWriter::new(std::fs::File::create(&input).unwrap())
        .finish(&mut df)
        .unwrap();
    let out = tmp.path().join("out");
    let run = convert(&[&input], &out, &[]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("in.parquet") && stderr.contains("no column `text`"),
        "{stderr}"
    );
    assert!(stderr.contains("id, content"), "{stderr}");
    assert!(!out.join(".done/in.json").exists());
    // The column named with --text-field is read; an id field that was not named may be missing.
    let run = convert(
        &[&input],
        &out,
        &["--text-field", "content", "--id-field", "uid"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("no column `uid`"),
        "{stderr}"
    );
    let mut df = df!("content" => ["alpha", "beta"]).unwrap();
    ParquetWriter::new(std::fs::File::create(&input).unwrap())
        .finish(&mut df)
        .unwrap();
    assert_ok(&convert(
        &[&input],
        &out,
        &["--text-field", "content", "--force"],
    ));
    assert_eq!(stats_json(&out)["kept"], 2);
}
