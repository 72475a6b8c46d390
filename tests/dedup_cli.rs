//! `glmkit dedup` end to end through the binary: output layout, stats, explain, errors.

use std::path::Path;
use std::process::Command;

const SLICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/dedup/neardup-slice.jsonl.zst"
);

fn glmkit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args(args)
        .output()
        .unwrap()
}

fn stats(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("stats.json")).unwrap()).unwrap()
}

#[test]
fn fuzzy_then_explain() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let work = dir.path().join("work");
    let (o, w) = (out.to_str().unwrap(), work.to_str().unwrap());
    let run = glmkit(&[
        "dedup",
        "fuzzy",
        SLICE,
        "--output",
        o,
        "--work-dir",
        w,
        "--threads",
        "2",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s = stats(&out);
    assert_eq!(s["read"], 133);
    assert_eq!(
        s["read"].as_u64(),
        Some(
            s["kept"].as_u64().unwrap()
                + s["rejected"].as_u64().unwrap()
                + s["quarantined"].as_u64().unwrap()
        )
    );

    let rejected = glmkit::dedup::output::read_records(&out, "rejected").unwrap();
    let first = &rejected[0];
    let id = first["id"].as_str().unwrap();
    let explain = glmkit(&["dedup", "explain", id, "--work-dir", w, "--json"]);
    assert!(
        explain.status.success(),
        "{}",
        String::from_utf8_lossy(&explain.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(e["status"], "removed");
    assert_eq!(e["kept_id"], first["glmkit"]["details"]["kept_id"]);
    assert_eq!(e["cluster"], first["glmkit"]["details"]["cluster"]);
    let versus = &e["versus_kept"];
    assert!(versus["estimated_jaccard"].as_f64().unwrap() >= 0.5);
    assert!(versus["exact_jaccard"].as_f64().unwrap() >= 0.5, "{e}");

    let text = glmkit(&["dedup", "explain", id, "--work-dir", w]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("removed") && text.contains("estimated Jaccard"),
        "{text}"
    );

    let missing = glmkit(&["dedup", "explain", "no-such-id", "--work-dir", w]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-id"));
}

#[test]
fn exact_and_lines_write_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    for (cmd, extra) in [
        ("exact", vec!["--normalize", "aggressive"]),
        ("lines", vec!["--unit", "paragraph", "--min-count", "3"]),
    ] {
        let out = dir.path().join(cmd);
        let mut args = vec!["dedup", cmd, SLICE, "-o", out.to_str().unwrap()];
        args.extend(extra);
        let run = glmkit(&args);
        assert!(
            run.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        for part in [
            "kept/neardup-slice-00000.jsonl.zst",
            "rejected/neardup-slice-00000.jsonl.zst",
        ] {
            assert!(out.join(part).exists(), "{cmd} {part}");
        }
        assert_eq!(stats(&out)["read"], 133);
    }
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("o");
    let bad_shard = glmkit(&[
        "dedup",
        "exact",
        SLICE,
        "-o",
        o.to_str().unwrap(),
        "--shard",
        "3/3",
    ]);
    assert!(!bad_shard.status.success());
    assert!(String::from_utf8_lossy(&bad_shard.stderr).contains("3/3"));
    let missing = glmkit(&[
        "dedup",
        "exact",
        "/no/such/file.jsonl",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/file.jsonl"));
    let all_sharded = glmkit(&[
        "dedup",
        "fuzzy",
        SLICE,
        "-o",
        o.to_str().unwrap(),
        "--shard",
        "0/2",
    ]);
    assert!(String::from_utf8_lossy(&all_sharded.stderr).contains("one stage at a time"));
}

/// The documented multi-task commands: every stage as tasks i/2 (the filter as 3 tasks), into
/// one shared work and output directory, give the same records as one run.
#[test]
fn staged_tasks_match_one_run() {
    let dir = tempfile::tempdir().unwrap();
    // Two input files, so the filter tasks split by file.
    // Inputs in a folder of their own: outputs and manifests must not become inputs.
    let input_dir = dir.path().join("in");
    std::fs::create_dir(&input_dir).unwrap();
    let (a, b) = (input_dir.join("a.jsonl.zst"), input_dir.join("b.jsonl.zst"));
    let text = zstd::stream::decode_all(&std::fs::read(SLICE).unwrap()[..]).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let half = lines.len() / 2;
    for (path, part) in [(&a, &lines[..half]), (&b, &lines[half..])] {
        let body: Vec<u8> = part
            .iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        std::fs::write(path, zstd::stream::encode_all(&body[..], 3).unwrap()).unwrap();
    }
    let inputs = input_dir.display().to_string();
    let one = dir.path().join("one");
    let run = glmkit(&["dedup", "fuzzy", &inputs, "-o", one.to_str().unwrap(), "-q"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let (out, work) = (dir.path().join("many"), dir.path().join("work"));
    for (stage, tasks) in [
        ("signatures", 2),
        ("buckets", 2),
        ("cluster", 2),
        ("filter", 3),
    ] {
        for i in 0..tasks {
            let shard = format!("{i}/{tasks}");
            let args = [
                "dedup",
                "fuzzy",
                &inputs,
                "-o",
                out.to_str().unwrap(),
                "--work-dir",
                work.to_str().unwrap(),
                "--stage",
                stage,
                "--shard",
                &shard,
                "-q",
            ];
            let run = glmkit(&args);
            assert!(
                run.status.success(),
                "{stage} {shard}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
    }
    let ids = |root: &Path, part: &str| {
        let mut v: Vec<String> = glmkit::dedup::output::read_records(root, part)
            .unwrap()
            .iter()
            .map(|r| serde_json::Value::Object(r.clone()).to_string())
            .collect();
        v.sort();
        v
    };
    assert!(!ids(&one, "rejected").is_empty());
    assert_eq!(ids(&one, "kept"), ids(&out, "kept"));
    assert_eq!(ids(&one, "rejected"), ids(&out, "rejected"));
    assert_eq!(stats(&one)["read"], stats(&out)["read"]);
}

/// Rerunning into the same output with other options gives the new decisions, not the
/// outputs the first run left (whose completion markers are still there).
#[test]
fn rerun_with_other_options_replaces_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let first = glmkit(&["dedup", "fuzzy", SLICE, "-o", o, "-q"]);
    assert!(first.status.success());
    let removed_default = stats(&out)["rejected"].as_u64().unwrap();
    let second = glmkit(&["dedup", "fuzzy", SLICE, "-o", o, "-q", "--no-verify"]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let removed_unverified = stats(&out)["rejected"].as_u64().unwrap();
    assert!(
        removed_unverified > removed_default,
        "{removed_unverified} vs {removed_default}"
    );
    let records = glmkit::dedup::output::read_records(&out, "rejected").unwrap();
    assert_eq!(records.len() as u64, removed_unverified);
}
