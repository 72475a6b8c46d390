//! Line- and paragraph-level dedup: recurring units are removed everywhere, documents left
//! empty are rejected, changed documents say how many units went.

use glmkit::dedup::{
    input::InputSet,
    lines::{self, LinesOptions, Unit},
    output::read_records,
    ShardSpec, Stage,
};
use glmkit::pipeline::RunOptions;
use serde_json::{json, Map, Value};
use std::path::Path;

fn corpus(dir: &Path) -> Vec<String> {
    let docs = [
        json!({"id": "a", "text": "Home | About\nReal content one.\nFooter (c) 2024\n", "lang": "en"}),
        json!({"id": "b", "text": "HOME  |  about\nOther real text.\n\nFooter (c) 2024"}),
        json!({"id": "c", "text": "Home | About\nFooter (c) 2024"}),
        json!({"id": "d", "text": "Nothing here recurs.\nAt all."}),
    ];
    let mut files = Vec::new();
    for (i, chunk) in docs.chunks(2).enumerate() {
        let path = dir.join(format!("{i}.jsonl"));
        std::fs::write(
            &path,
            chunk.iter().map(|d| format!("{d}\n")).collect::<String>(),
        )
        .unwrap();
        files.push(path.display().to_string());
    }
    files
}

type Records = Vec<Map<String, Value>>;

/// (kept, rejected) records of a run with `tasks` tasks per stage.
fn run(dir: &Path, opts: &LinesOptions, tasks: usize) -> (Records, Records) {
    let inputs = InputSet::expand(&corpus(dir), "text", "id").unwrap();
    let (work, out) = (
        dir.join(format!("work{tasks}")),
        dir.join(format!("out{tasks}")),
    );
    if tasks == 1 {
        let s = lines::run(
            &inputs,
            opts,
            &work,
            &run_opts(&out, ShardSpec::default(), None),
            Stage::All,
        )
        .unwrap()
        .unwrap()
        .total;
        assert_eq!(s.read, s.kept + s.rejected + s.quarantined);
    } else {
        for stage in [Stage::Signatures, Stage::Buckets, Stage::Filter] {
            for i in 0..tasks {
                lines::run(
                    &inputs,
                    opts,
                    &work,
                    &run_opts(&out, ShardSpec::new(i, tasks).unwrap(), Some(2)),
                    stage,
                )
                .unwrap();
            }
        }
    }
    (
        read_records(&out, "kept").unwrap(),
        read_records(&out, "rejected").unwrap(),
    )
}

#[test]
fn recurring_lines_go_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, rejected) = run(dir.path(), &LinesOptions::default(), 1);
    let by_id = |id: &str| kept.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by_id("a")["text"], "Real content one.\n");
    assert_eq!(by_id("a")["lang"], "en", "other fields stay");
    assert_eq!(by_id("a")["glmkit"]["dedup_lines_removed"], 2);
    // Aggressive normalization: case, spacing and punctuation do not matter; blank lines stay.
    assert_eq!(by_id("b")["text"], "Other real text.\n\n");
    assert_eq!(by_id("d")["text"], "Nothing here recurs.\nAt all.");
    assert!(by_id("d").get("glmkit").is_none());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["id"], "c");
    assert_eq!(rejected[0]["glmkit"]["reason"], "dup_lines_empty");

    // The same with 3 tasks.
    let (kept3, rejected3) = run(dir.path(), &LinesOptions::default(), 3);
    let mut a: Vec<String> = kept
        .iter()
        .map(|r| Value::Object(r.clone()).to_string())
        .collect();
    let mut b: Vec<String> = kept3
        .iter()
        .map(|r| Value::Object(r.clone()).to_string())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(rejected3.len(), 1);
}

#[test]
fn min_count_and_paragraphs() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing occurs 3 times except nothing: no change.
    let opts = LinesOptions {
        min_count: 4,
        ..LinesOptions::default()
    };
    let (kept, rejected) = run(dir.path(), &opts, 1);
    assert_eq!((kept.len(), rejected.len()), (4, 0));
    assert!(kept.iter().all(|r| r.get("glmkit").is_none()));

    // Paragraphs: a recurring block goes, lines it shares with other blocks stay.
    let docs = [
        json!({"id": "p", "text": "Intro P.\n\nShared block\nof two lines.\n\nEnd P."}),
        json!({"id": "q", "text": "Intro Q.\n\nShared block\nof two lines.\n\nShared block\nthen different."}),
    ];
    let path = dir.path().join("para.jsonl");
    std::fs::write(
        &path,
        docs.iter().map(|d| format!("{d}\n")).collect::<String>(),
    )
    .unwrap();
    let inputs = InputSet::expand(&[path.display().to_string()], "text", "id").unwrap();
    let opts = LinesOptions {
        unit: Unit::Paragraph,
        ..LinesOptions::default()
    };
    let out = dir.path().join("para-out");
    lines::run(
        &inputs,
        &opts,
        &dir.path().join("para-work"),
        &run_opts(&out, ShardSpec::default(), None),
        Stage::All,
    )
    .unwrap();
    let kept = read_records(&out, "kept").unwrap();
    assert_eq!(kept[0]["text"], "Intro P.\n\nEnd P.");
    assert_eq!(kept[1]["text"], "Intro Q.\n\nShared block\nthen different.");
    assert_eq!(kept[1]["glmkit"]["dedup_lines_removed"], 1);
}

fn run_opts(out: &std::path::Path, shard: ShardSpec, threads: Option<usize>) -> RunOptions {
    let mut run = RunOptions::new(out);
    run.shard = shard;
    run.threads = threads;
    run
}
