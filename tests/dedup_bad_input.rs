//! Bad and extreme inputs, each with its defined outcome (docs/dedup.md, "Edge cases"):
//! empty text, one giant line, text shorter than a shingle, all duplicates, no duplicates,
//! malformed records, and damaged or mismatched intermediate files.

use glmkit::dedup::{
    exact, exact::ExactOptions, fuzzy, fuzzy::FuzzyOptions, input::InputSet, lines,
    lines::LinesOptions, output::read_records, ShardSpec, Stage,
};
use glmkit::pipeline::{RunOptions, Stats};
use serde_json::json;
use std::path::{Path, PathBuf};

fn write_jsonl(dir: &Path, name: &str, records: &[serde_json::Value]) -> String {
    let path = dir.join(name);
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn inputs(files: &[String]) -> InputSet {
    InputSet::expand(files, "text", "id").unwrap()
}

fn ids(out: &Path, part: &str) -> Vec<String> {
    read_records(out, part)
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

struct Run {
    out: PathBuf,
    stats: Stats,
}

fn exact_run(dir: &Path, files: &[String]) -> Run {
    let out = dir.join("exact-out");
    let stats = exact::run(
        &inputs(files),
        &ExactOptions::default(),
        &dir.join("exact-work"),
        &run_opts(&out, ShardSpec::default(), None),
        Stage::All,
    )
    .unwrap()
    .unwrap()
    .total;
    Run { out, stats }
}

fn fuzzy_run(dir: &Path, files: &[String]) -> Run {
    let out = dir.join("fuzzy-out");
    let stats = fuzzy::run(
        &inputs(files),
        &FuzzyOptions::default(),
        &dir.join("fuzzy-work"),
        &run_opts(&out, ShardSpec::default(), None),
        Stage::All,
    )
    .unwrap()
    .unwrap()
    .total;
    Run { out, stats }
}

fn lines_run(dir: &Path, files: &[String]) -> Run {
    let out = dir.join("lines-out");
    let stats = lines::run(
        &inputs(files),
        &LinesOptions::default(),
        &dir.join("lines-work"),
        &run_opts(&out, ShardSpec::default(), None),
        Stage::All,
    )
    .unwrap()
    .unwrap()
    .total;
    Run { out, stats }
}

fn assert_adds_up(s: &Stats) {
    assert_eq!(s.read, s.kept + s.rejected + s.quarantined, "{s:?}");
}

#[test]
fn empty_texts() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_jsonl(
        dir.path(),
        "e.jsonl",
        &[
            json!({"id": "e1", "text": ""}),
            json!({"id": "e2", "text": "  \n "}),
            json!({"id": "e3", "text": "\t"}),
            json!({"id": "x", "text": "some words here"}),
        ],
    );
    // An empty text field is quarantined by the reader (`empty_text`), in every command.
    // Exact: blank texts normalize to the empty text, so e3 is a copy of e2.
    let r = exact_run(dir.path(), std::slice::from_ref(&f));
    assert_adds_up(&r.stats);
    assert_eq!(r.stats.quarantine_by_reason["empty_text"], 1);
    assert_eq!(ids(&r.out, "rejected"), vec!["e3"]);
    // Fuzzy: no token, no signature: never a near duplicate, kept.
    let r = fuzzy_run(dir.path(), std::slice::from_ref(&f));
    assert_adds_up(&r.stats);
    assert_eq!((r.stats.kept, r.stats.quarantined), (3, 1));
    // Lines: blank lines are never counted or removed: kept as they are.
    let r = lines_run(dir.path(), &[f]);
    assert_eq!((r.stats.kept, r.stats.quarantined), (3, 1));
    assert_eq!(modified(&r.out), 0);
}

/// Kept records whose lines changed.
fn modified(out: &Path) -> usize {
    read_records(out, "kept")
        .unwrap()
        .iter()
        .filter(|r| {
            r.get("glmkit")
                .is_some_and(|g| g["dedup_lines_removed"].is_u64())
        })
        .count()
}

/// One document of one line of `bytes` bytes, an edited copy of it, and a small document.
fn giant_line_case(bytes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::with_capacity(bytes + 16);
    let mut i = 0u64;
    while text.len() < bytes {
        text.push_str(&format!("w{} ", (i * 2654435761) % 100_000));
        i += 1;
    }
    let edited = text.replacen("w0 ", "changed ", 1);
    let f = write_jsonl(
        dir.path(),
        "giant.jsonl",
        &[
            json!({"id": "giant", "text": text}),
            json!({"id": "edited", "text": edited}),
            json!({"id": "small", "text": "a b c d e f"}),
        ],
    );
    drop(text);
    let r = exact_run(dir.path(), std::slice::from_ref(&f));
    assert_eq!(r.stats.rejected, 0);
    // One shingle in hundreds of thousands differs: the copy is removed.
    let r = fuzzy_run(dir.path(), std::slice::from_ref(&f));
    assert_eq!(ids(&r.out, "rejected"), vec!["edited"]);
    // The two giant lines differ, so neither recurs: nothing removed.
    let r = lines_run(dir.path(), &[f]);
    assert_eq!(modified(&r.out), 0);
    assert_eq!(r.stats.kept, 3);
}

/// A 2 MB line in the default (debug) test profile, where MinHash runs ~100x slower than in
/// release.
#[test]
fn one_giant_line() {
    giant_line_case(2 << 20);
}

/// The 50 MB case: `cargo test --release --test dedup_bad_input -- --ignored`.
#[test]
#[ignore = "50 MB of MinHash: minutes in the debug profile, seconds in release"]
fn one_50_mb_line() {
    giant_line_case(50 << 20);
}

#[test]
fn shorter_than_one_shingle() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_jsonl(
        dir.path(),
        "s.jsonl",
        &[
            json!({"id": "a", "text": "hello world"}),
            json!({"id": "b", "text": "Hello, world!"}),
            json!({"id": "c", "text": "hello there"}),
            json!({"id": "d", "text": "你好"}),
            json!({"id": "e", "text": "你好。"}),
        ],
    );
    // Fewer tokens than a shingle: the whole token sequence is one shingle.
    let r = fuzzy_run(dir.path(), &[f]);
    assert_eq!(ids(&r.out, "rejected"), vec!["b", "e"]);
    assert_eq!(ids(&r.out, "kept"), vec!["a", "c", "d"]);
}

#[test]
fn all_duplicates_and_none() {
    let dir = tempfile::tempdir().unwrap();
    let same: Vec<_> = (0..40).map(|i| json!({"id": format!("d{i}"), "text": "the same text of a document, again and again"})).collect();
    let f = write_jsonl(dir.path(), "same.jsonl", &same);
    for r in [
        exact_run(dir.path(), std::slice::from_ref(&f)),
        fuzzy_run(dir.path(), std::slice::from_ref(&f)),
    ] {
        assert_adds_up(&r.stats);
        assert_eq!(ids(&r.out, "kept"), vec!["d0"]);
        assert_eq!(r.stats.rejected, 39);
        for rec in read_records(&r.out, "rejected").unwrap() {
            assert_eq!(rec["glmkit"]["details"]["kept_id"], "d0");
        }
    }
    // Lines: the only line recurs everywhere, so every document is left empty.
    let r = lines_run(dir.path(), &[f]);
    assert_eq!(r.stats.by_reason["dup_lines_empty"], 40);

    let dir = tempfile::tempdir().unwrap();
    let unique: Vec<_> =
        (0..40).map(|i| json!({"id": format!("u{i}"), "text": format!("document number {i} says {} things", i * i)})).collect();
    let f = write_jsonl(dir.path(), "unique.jsonl", &unique);
    for r in [
        exact_run(dir.path(), std::slice::from_ref(&f)),
        fuzzy_run(dir.path(), std::slice::from_ref(&f)),
        lines_run(dir.path(), std::slice::from_ref(&f)),
    ] {
        assert_eq!(r.stats.kept, 40);
        assert_eq!(r.stats.rejected, 0);
        // Unchanged records are written back byte for byte.
        let kept = zstd::stream::decode_all(
            &std::fs::read(r.out.join("kept/unique-00000.jsonl.zst")).unwrap()[..],
        )
        .unwrap();
        assert_eq!(kept, std::fs::read(&f).unwrap());
    }
}

#[test]
fn malformed_records_go_to_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    std::fs::write(&path, "{\"id\": \"a\", \"text\": \"x y\"}\n{not json\n{\"id\": \"b\"}\n{\"id\": \"c\", \"text\": \"x y\"}\n").unwrap();
    let f = path.display().to_string();
    for r in [
        exact_run(dir.path(), std::slice::from_ref(&f)),
        fuzzy_run(dir.path(), std::slice::from_ref(&f)),
        lines_run(dir.path(), std::slice::from_ref(&f)),
    ] {
        assert_adds_up(&r.stats);
        assert_eq!(r.stats.read, 4);
        assert_eq!(r.stats.quarantined, 2);
        let q = read_records(&r.out, "quarantine").unwrap();
        assert_eq!(q[0]["line"], 2);
        assert!(q[1]["error"].as_str().unwrap().contains("text"));
    }
}

fn fuzzy_stage(
    files: &[String],
    opts: &FuzzyOptions,
    work: &Path,
    stage: Stage,
    shard: ShardSpec,
) -> Result<(), String> {
    fuzzy::run(
        &inputs(files),
        opts,
        work,
        &run_opts(&work.join("out"), shard, None),
        stage,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[test]
fn damaged_or_mismatched_stage_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<_> = (0..50)
        .map(|i| json!({"id": i, "text": format!("text {} of a document here", i % 10)}))
        .collect();
    let files = vec![write_jsonl(dir.path(), "d.jsonl", &docs)];
    let opts = FuzzyOptions {
        partitions: 2,
        ..FuzzyOptions::default()
    };
    let work = dir.path().join("work");

    // Only task 0 of 2 ran the signatures: the buckets stage names the missing manifest.
    fuzzy_stage(
        &files,
        &opts,
        &work,
        Stage::Signatures,
        ShardSpec::new(0, 2).unwrap(),
    )
    .unwrap();
    let err = fuzzy_stage(&files, &opts, &work, Stage::Buckets, ShardSpec::default()).unwrap_err();
    assert!(
        err.contains("manifest-00001-of-00002.json") && err.contains("missing"),
        "{err}"
    );

    // Another configuration: refused, naming the manifest.
    fuzzy_stage(
        &files,
        &opts,
        &work,
        Stage::Signatures,
        ShardSpec::new(1, 2).unwrap(),
    )
    .unwrap();
    let other = FuzzyOptions {
        minhash: glmkit::dedup::minhash::MinHashParams {
            bands: 10,
            ..Default::default()
        },
        ..opts.clone()
    };
    let err = fuzzy_stage(&files, &other, &work, Stage::Buckets, ShardSpec::default()).unwrap_err();
    assert!(
        err.contains("manifest-0000") && err.contains("another configuration"),
        "{err}"
    );

    // A truncated bucket file: refused, naming it.
    let victim = work.join("fuzzy-signatures/p00001-00000-of-00002.bin");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 7]).unwrap();
    let err = fuzzy_stage(&files, &opts, &work, Stage::Buckets, ShardSpec::default()).unwrap_err();
    assert!(
        err.contains("p00001-00000-of-00002.bin") && err.contains("truncated"),
        "{err}"
    );

    // Same length, one byte flipped: the checksum catches it.
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x40;
    std::fs::write(&victim, &flipped).unwrap();
    let err = fuzzy_stage(&files, &opts, &work, Stage::Buckets, ShardSpec::default()).unwrap_err();
    assert!(
        err.contains("p00001-00000-of-00002.bin") && err.contains("checksum"),
        "{err}"
    );

    // Repaired: the run completes. Inputs changed since the signatures: the filter refuses.
    std::fs::write(&victim, &bytes).unwrap();
    for stage in [Stage::Buckets, Stage::Cluster, Stage::Filter] {
        fuzzy_stage(&files, &opts, &work, stage, ShardSpec::default()).unwrap();
    }
    let more: Vec<_> = (0..51)
        .map(|i| json!({"id": i, "text": format!("text {i}")}))
        .collect();
    write_jsonl(dir.path(), "d.jsonl", &more);
    let err = fuzzy_stage(&files, &opts, &work, Stage::Filter, ShardSpec::default()).unwrap_err();
    assert!(err.contains("another configuration"), "{err}");
}

fn run_opts(out: &std::path::Path, shard: ShardSpec, threads: Option<usize>) -> RunOptions {
    let mut run = RunOptions::new(out);
    run.shard = shard;
    run.threads = threads;
    run
}

#[test]
fn keep_longest_keeps_the_longest_copy() {
    let dir = tempfile::tempdir().unwrap();
    let base: String = (0..200).map(|i| format!("word{i} ")).collect();
    let longer = format!("{base} and a short tail");
    let f = write_jsonl(
        dir.path(),
        "k.jsonl",
        &[
            json!({"id": "short", "text": base}),
            json!({"id": "long", "text": longer}),
            json!({"id": "other", "text": "x y z"}),
        ],
    );
    let opts = FuzzyOptions {
        keep: glmkit::dedup::fuzzy::Keep::Longest,
        ..FuzzyOptions::default()
    };
    let out = dir.path().join("out");
    fuzzy::run(
        &inputs(&[f]),
        &opts,
        &dir.path().join("work"),
        &run_opts(&out, ShardSpec::default(), None),
        Stage::All,
    )
    .unwrap();
    let rejected = read_records(&out, "rejected").unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["id"], "short");
    assert_eq!(rejected[0]["glmkit"]["details"]["kept_id"], "long");
}

#[test]
fn an_input_edited_in_place_with_the_same_size_is_not_taken_for_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<_> = (0..20)
        .map(|i| json!({"id": i, "text": format!("text {} of a document here", i % 5)}))
        .collect();
    let files = vec![write_jsonl(dir.path(), "d.jsonl", &docs)];
    let path = Path::new(&files[0]);
    let opts = ExactOptions::default();
    let stage = |inputs: &InputSet, work: &Path, stage| {
        let run = run_opts(&work.join("out"), ShardSpec::default(), None);
        exact::run(inputs, &opts, work, &run, stage)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    // The same bytes count, other text (one digit changed), written later.
    let edit = || {
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, text.replacen("text 0", "text 9", 1)).unwrap();
    };

    let work = dir.path().join("work");
    stage(&inputs(&files), &work, Stage::Signatures).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    edit();
    let err = stage(&inputs(&files), &work, Stage::Buckets).unwrap_err();
    assert!(err.contains("another configuration"), "{err}");

    // An edit that also keeps the modification time (cp -p, an archive restore): metadata
    // cannot tell, content checksums can.
    let edit_keeping_time = || {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        edit();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(modified).unwrap();
    };
    for checksums in [false, true] {
        let inputs = || inputs(&files).with_content_checksums(checksums);
        let work = dir.path().join(format!("work-{checksums}"));
        stage(&inputs(), &work, Stage::Signatures).unwrap();
        edit_keeping_time();
        let next = stage(&inputs(), &work, Stage::Buckets);
        if checksums {
            let err = next.unwrap_err();
            assert!(err.contains("another configuration"), "{err}");
        } else {
            next.unwrap();
        }
    }
}
