//! `glmkit run --default` (what `glmkit run` runs without arguments) on a small corpus, and the
//! report it writes: the HTML parses and holds every figure, the counts add up.

mod common;

use common::{assert_ok, decompress, glmkit, read_records, stats_json};
use std::path::Path;

/// English and Chinese documents of the filter fixtures, three of them twice (exact copies under
/// other ids), and a few noisy ones.
fn small_corpus(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/filter");
    let mut lines = Vec::new();
    let mut copies = Vec::new();
    for line in String::from_utf8(decompress(&root.join("clean.jsonl.zst")))
        .unwrap()
        .lines()
    {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let lang = doc["lang"].as_str().unwrap();
        let taken = lines
            .iter()
            .filter(|l: &&String| l.contains(&format!("\"lang\":\"{lang}\"")))
            .count();
        if matches!(lang, "en" | "zh") && taken < 12 {
            if copies.len() < 3 {
                let mut copy = doc.clone();
                copy["id"] = format!("{}#copy", doc["id"].as_str().unwrap()).into();
                copies.push(copy.to_string());
            }
            lines.push(doc.to_string());
        }
    }
    let noisy = String::from_utf8(decompress(&root.join("noisy.jsonl.zst"))).unwrap();
    lines.extend(noisy.lines().take(6).map(String::from));
    lines.extend(copies);
    let path = dir.join("small.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn default_run_writes_every_output_and_a_report_with_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let input = small_corpus(tmp.path());
    let out = tmp.path().join("run");
    let result = glmkit(&[
        "run",
        "--default",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_ok(&result);
    let summary = String::from_utf8(result.stdout).unwrap();
    for part in [
        "dedup_exact",
        "score",
        "ppl_bucket",
        "report.html",
        "Megatron",
    ] {
        assert!(summary.contains(part), "summary lacks {part}:\n{summary}");
    }

    // The counts add up, in the pipeline and in the bucketing pass.
    let stats = stats_json(&out.join("pipeline"));
    let n = |k: &str| stats[k].as_u64().unwrap();
    assert_eq!(n("read"), n("kept") + n("rejected") + n("quarantined"));
    assert_eq!(stats["by_reason"]["dup_exact"].as_u64(), Some(3));
    let kept = read_records(&out.join("pipeline/kept"));
    assert_eq!(kept.len() as u64, n("kept"));
    assert!(kept.iter().all(|d| d["glmkit"]["ppl"].as_f64().is_some()));
    let bucketed = read_records(&out.join("kept"));
    assert_eq!(bucketed.len(), kept.len(), "every bucket is kept");
    assert!(bucketed.iter().all(|d| d["glmkit"]["bucket"].is_string()));
    assert!(out.join("ppl_cutoffs.json").is_file());
    assert!(out.join("tokenizer/tokenizer.json").is_file());
    let idx = std::fs::metadata(out.join("megatron/corpus.idx")).unwrap();
    assert!(idx.len() > 0);

    // The report parses as XML and holds every figure, each drawn as SVG.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&html);
    let mut figures: Vec<(String, usize)> = Vec::new();
    let mut open_figure: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if name == "figure" {
                    let id = e
                        .try_get_attribute("id")
                        .unwrap()
                        .map(|a| String::from_utf8(a.value.to_vec()).unwrap())
                        .unwrap_or_default();
                    figures.push((id.clone(), 0));
                    open_figure = Some(id);
                } else if name == "svg" && open_figure.is_some() {
                    figures.last_mut().unwrap().1 += 1;
                }
            }
            Ok(quick_xml::events::Event::End(e)) if e.name().as_ref() == b"figure" => {
                open_figure = None;
            }
            Ok(_) => {}
            Err(e) => panic!(
                "report.html does not parse at {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    let ids: Vec<&str> = figures.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, glmkit::report::FIGURES, "figures in order");
    for (id, svgs) in &figures {
        assert!(*svgs >= 1, "figure {id} holds no SVG");
    }
    let perplexity = figures.iter().find(|(id, _)| id == "perplexity").unwrap();
    assert_eq!(perplexity.1, 2, "one histogram each for en and zh");

    // `glmkit report` rewrites the same page from the same run.
    let before = html.clone();
    assert_ok(&glmkit(&["report", out.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(out.join("report.html")).unwrap(),
        before
    );
}

#[test]
fn print_default_prints_the_default_pipeline_file() {
    let out = glmkit(&["run", "--print-default"]);
    assert_ok(&out);
    let file = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pipelines/default.toml"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), file);
}

/// A reader that stops early (`glmkit ... | head`) ends glmkit as it ends other Unix tools: by
/// SIGPIPE, without a panic message.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_glmkit_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    // `head -c 0` exits at once, so every write glmkit makes goes to a pipe without a reader.
    let mut head = Command::new("head")
        .args(["-c", "0"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("head runs");
    let pipe = head.stdin.take().unwrap();
    head.wait().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_glmkit"))
        .args(["run", "--print-default"])
        .stdout(pipe)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}

#[test]
fn default_run_refuses_a_folder_that_holds_something_else() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let out = glmkit(&["run", "-o", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no earlier glmkit run"), "{err}");
    assert!(tmp.path().join("precious.txt").is_file());
}
