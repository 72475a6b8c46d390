//! `glmkit check` end to end: every rule passing and failing, exit codes, the JSON and JUnit
//! reports, contract errors and bad input.

mod common;

use common::{glmkit, sample_corpus};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Writes JSON lines (strings are written as given, so they may be malformed).
fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn doc(id: &str, text: &str) -> String {
    json!({"id": id, "text": text}).to_string()
}

/// English prose long enough for the quality rules.
const PROSE: [&str; 4] = [
    "The river runs quietly past the old mill, and the children of the village often walk along its banks in the evening. They talk about school, their friends and the small adventures of the day.",
    "Our library opens at nine in the morning and closes at six in the evening. Visitors can borrow up to five books at a time and return them within three weeks without any fee.",
    "When the weather is fine, the market in the square is full of people who come to buy fresh bread, vegetables and cheese. The farmers are proud of what they grow and sell.",
    "The new bridge was finished last spring after two years of work. It connects the two halves of the town and has made the journey to the hospital much shorter for everyone.",
];

struct Check {
    out: Output,
    report: Value,
    junit: String,
}

impl Check {
    fn code(&self) -> i32 {
        self.out.status.code().expect("glmkit exits with a code")
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn rule(&self, name: &str) -> &Value {
        self.report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == name)
            .unwrap_or_else(|| panic!("no rule {name} in {}", self.report))
    }
    fn passed(&self, name: &str) -> bool {
        self.rule(name)["passed"].as_bool().unwrap()
    }
}

/// Runs `glmkit check INPUTS --contract` with a contract written from `contract`.
fn check(dir: &Path, inputs: &[&Path], contract: &str, extra: &[&str]) -> Check {
    let contract_path = dir.join("contract.toml");
    std::fs::write(&contract_path, contract).unwrap();
    let (json_path, junit_path) = (dir.join("report.json"), dir.join("report.xml"));
    let _ = std::fs::remove_file(&json_path);
    let _ = std::fs::remove_file(&junit_path);
    let mut args: Vec<&str> = vec!["check"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let (c, j, x) = (
        contract_path.to_str().unwrap().to_string(),
        json_path.to_str().unwrap().to_string(),
        junit_path.to_str().unwrap().to_string(),
    );
    args.extend(["--contract", &c, "--json", &j, "--junit", &x]);
    args.extend(extra);
    let out = glmkit(&args);
    let report = std::fs::read_to_string(&json_path)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    let junit = std::fs::read_to_string(&junit_path).unwrap_or_default();
    Check { out, report, junit }
}

/// The test cases of a JUnit file, parsed as XML: (name, has a failure).
fn junit_cases(xml: &str) -> Vec<(String, bool)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases: Vec<(String, bool)> = Vec::new();
    loop {
        match reader
            .read_event()
            .expect("the JUnit report is well-formed XML")
        {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                let name = e
                    .try_get_attribute("name")
                    .unwrap()
                    .expect("a test case has a name")
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                cases.push((name, false));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => {
                cases.last_mut().expect("a failure is inside a test case").1 = true;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[test]
fn a_clean_shard_passes_every_rule_and_junit_has_one_case_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let tok = train_tokenizer(dir.path());
    let contract = format!(
        r#"
[schema]
required = {{ id = "string", text = "string" }}
optional = {{ lang = "string" }}
extra_fields = true
[encoding]
[length]
min_chars = 20
max_chars = 20000
min_documents = 50
[duplicates]
max_exact_rate = 0.0
max_near_rate = 0.0
[language]
min_share = {{ en = 0.02, zh = 0.02 }}
[quality]
min_pass_rate = 0.85
[tokenizer]
path = "{tok}"
max_tokens = 100000
"#
    );
    let c = check(dir.path(), &[&sample_corpus()], &contract, &[]);
    assert_eq!(
        c.code(),
        0,
        "{}\n{}",
        c.stdout(),
        String::from_utf8_lossy(&c.out.stderr)
    );
    let rules = [
        "schema",
        "encoding",
        "length",
        "duplicates",
        "language",
        "quality",
        "tokenizer",
    ];
    for rule in rules {
        assert!(c.passed(rule), "{rule}: {}", c.rule(rule));
        assert!(
            c.stdout().contains(&format!("PASS {rule}")),
            "{}",
            c.stdout()
        );
    }
    assert_eq!(c.report["documents"], 91);
    assert_eq!(c.rule("tokenizer")["values"]["round_trip_failures"], 0);
    let cases = junit_cases(&c.junit);
    assert_eq!(
        cases.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        rules.to_vec()
    );
    assert!(cases.iter().all(|c| !c.1));
}

#[test]
fn each_failing_rule_names_its_first_offending_records() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("shard.jsonl");
    let long = PROSE.join(" ");
    let near = long.replace("for everyone.", "for all of us.");
    write_lines(
        &shard,
        &[
            doc("a", &long),
            doc("b", PROSE[1]),
            r#"{"id": 3, "text": "an id that is a number, not a string"}"#.to_string(),
            doc("d", "tiny"),
            doc("e", PROSE[1]), // exact copy of line 2
            doc("f", &near),    // near copy of line 1
            "{\"id\": \"g\", \"text\": \"broken".to_string(),
            doc("h", "Der Fluss fließt ruhig an der alten Mühle vorbei, und die Kinder des Dorfes gehen am Abend oft an seinem Ufer entlang."),
        ],
    );
    // Invalid UTF-8 on line 9.
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes.extend_from_slice(b"{\"id\": \"i\", \"text\": \"caf\xff\"}\n");
    std::fs::write(&shard, bytes).unwrap();
    let contract = r#"
examples = 3
[schema]
required = { id = "string", text = "string" }
extra_fields = false
[length]
min_chars = 10
[duplicates]
max_exact_rate = 0.0
max_near_rate = 0.1
[language]
allowed = ["en"]
[quality]
min_pass_rate = 0.95
"#;
    let c = check(dir.path(), &[&shard], contract, &[]);
    assert_eq!(c.code(), 1, "{}", c.stdout());
    assert_eq!(c.report["passed"], false);
    let file = shard.to_str().unwrap();
    let out = c.stdout();
    // One line per rule, failures with file:line.
    for rule in [
        "schema",
        "encoding",
        "length",
        "duplicates",
        "language",
        "quality",
    ] {
        assert!(out.contains(&format!("FAIL {rule}")), "{rule}:\n{out}");
        assert!(!c.passed(rule));
    }
    assert!(
        out.contains(&format!("{file}:3: field `id` is not string")),
        "{out}"
    );
    assert!(out.contains(&format!("{file}:7: malformed_json")), "{out}");
    assert!(out.contains(&format!("{file}:9: invalid_utf8")), "{out}");
    assert!(out.contains(&format!("{file}:4: 4 characters")), "{out}");
    assert!(
        out.contains(&format!("{file}:5: same text as {file}:2")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{file}:6: near duplicate of {file}:1")),
        "{out}"
    );
    assert!(out.contains(&format!("{file}:8: language `de`")), "{out}");
    // Counts add up: 9 records = 7 documents + 2 that do not parse.
    assert_eq!(c.report["records"], 9);
    assert_eq!(c.report["documents"], 7);
    let encoding = &c.rule("encoding")["values"];
    assert_eq!(encoding["bad_records"], 2);
    assert_eq!(
        encoding["by_reason"],
        json!({"invalid_utf8": 1, "malformed_json": 1})
    );
    let dups = &c.rule("duplicates")["values"];
    assert_eq!(dups["exact"]["duplicates"], 1);
    // The exact copy is a near duplicate too, as dedup fuzzy counts it.
    assert_eq!(dups["near"]["duplicates"], 2);
    let counts = &c.rule("language")["values"]["counts"];
    assert_eq!(counts["de"], 1);
    let counted: u64 = counts
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 7);
    assert!(c.rule("quality")["examples"].as_array().unwrap().len() <= 3);
    // JUnit: one case per rule, a failure in each failed one.
    let cases = junit_cases(&c.junit);
    assert_eq!(cases.len(), 6);
    assert!(cases.iter().all(|(_, failed)| *failed));
}

#[test]
fn quality_fails_on_junk() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = fixtures().join("filter/noisy.jsonl.zst");
    let c = check(
        dir.path(),
        &[&noisy],
        "[quality]\nmin_pass_rate = 0.5\n",
        &[],
    );
    assert_eq!(c.code(), 1, "{}", c.stdout());
    let values = &c.rule("quality")["values"];
    assert_eq!(values["sampled"], 43);
    assert_eq!(values["passed"], 0);
    assert_eq!(c.rule("quality")["examples"].as_array().unwrap().len(), 5);
}

#[test]
fn length_bounds_on_totals_and_language_shares() {
    let dir = tempfile::tempdir().unwrap();
    let sample = sample_corpus();
    let c = check(
        dir.path(),
        &[&sample],
        "[length]\nmax_documents = 90\nmin_total_bytes = 1\n[language]\nmax_share = { en = 0.01 }\nmin_share = { zh = 0.5 }\n",
        &[],
    );
    assert_eq!(c.code(), 1);
    let length = c.rule("length");
    assert_eq!(length["failures"], json!(["documents 91 > 90"]));
    let failures = c.rule("language")["failures"].to_string();
    assert!(
        failures.contains("en share") && failures.contains("zh share"),
        "{failures}"
    );
}

#[test]
fn duplicates_against_a_reference_set() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("old");
    std::fs::create_dir(&reference).unwrap();
    write_lines(&reference.join("old.jsonl"), &[doc("x", PROSE[2])]);
    let shard = dir.path().join("new.jsonl");
    write_lines(&shard, &[doc("a", PROSE[0]), doc("b", PROSE[2])]);
    let within = "[duplicates]\nmax_exact_rate = 0.0\nmax_near_rate = 0.0\n";
    let c = check(dir.path(), &[&shard], within, &[]);
    assert_eq!(c.code(), 0, "{}", c.stdout());
    let against = format!("{within}reference = [\"old\"]\n");
    let c = check(dir.path(), &[&shard], &against, &[]);
    assert_eq!(c.code(), 1, "{}", c.stdout());
    let values = &c.rule("duplicates")["values"];
    assert_eq!(values["reference_documents"], 1);
    assert_eq!(values["exact"]["duplicates"], 1);
    assert_eq!(values["near"]["duplicates"], 1);
    let old = reference.join("old.jsonl");
    assert!(
        c.stdout()
            .contains(&format!("new.jsonl:2: same text as {}:1", old.display())),
        "{}",
        c.stdout()
    );
}

/// The near-duplicate rate is what `glmkit dedup fuzzy` removes from the same documents.
#[test]
fn near_duplicates_agree_with_dedup_fuzzy() {
    let dir = tempfile::tempdir().unwrap();
    let slice = fixtures().join("dedup/neardup-slice.jsonl.zst");
    let c = check(
        dir.path(),
        &[&slice],
        "[duplicates]\nmax_near_rate = 1.0\n",
        &[],
    );
    assert_eq!(c.code(), 0, "{}", c.stdout());
    let out = dir.path().join("fuzzy");
    let run = glmkit(&[
        "dedup",
        "fuzzy",
        slice.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    common::assert_ok(&run);
    let stats = common::stats_json(&out);
    let near = &c.rule("duplicates")["values"]["near"]["duplicates"];
    assert!(stats["rejected"].as_u64().unwrap() > 0);
    assert_eq!(near, &stats["rejected"]);
}

/// A byte-level BPE vocabulary trained on the English fixture.
fn train_tokenizer(dir: &Path) -> String {
    let out = dir.join("tok");
    let en = fixtures().join("bpe/en.txt");
    common::assert_ok(&glmkit(&[
        "bpe",
        "train",
        en.to_str().unwrap(),
        "--vocab-size",
        "300",
        "--output",
        out.to_str().unwrap(),
    ]));
    out.join("tokenizer.json").to_str().unwrap().to_string()
}

#[test]
fn tokenizer_round_trip_and_length() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("s.jsonl");
    write_lines(
        &shard,
        &[doc("a", "Hello World, 你好!"), doc("b", PROSE[0])],
    );
    let tok = train_tokenizer(dir.path());
    let c = check(
        dir.path(),
        &[&shard],
        &format!("[tokenizer]\npath = \"{tok}\"\n"),
        &[],
    );
    assert_eq!(c.code(), 0, "{}", c.stdout());
    let c = check(
        dir.path(),
        &[&shard],
        &format!("[tokenizer]\npath = \"{tok}\"\nmax_tokens = 30\n"),
        &[],
    );
    assert_eq!(c.code(), 1, "{}", c.stdout());
    assert_eq!(c.rule("tokenizer")["values"]["failing"], 1);
    assert!(c.stdout().contains("s.jsonl:2:"), "{}", c.stdout());
    // A tokenizer that lowercases and drops spaces cannot give the text back.
    let lossy = fixtures().join("model/tokenizer.json");
    let contract = format!("[tokenizer]\npath = \"{}\"\n", lossy.display());
    let c = check(dir.path(), &[&shard], &contract, &[]);
    assert_eq!(c.code(), 1, "{}", c.stdout());
    assert_eq!(c.rule("tokenizer")["values"]["round_trip_failures"], 2);
    assert!(
        c.stdout().contains("decode(encode(text)) != text"),
        "{}",
        c.stdout()
    );
}

/// The golden documents of the scoring fixture (without the empty one).
fn golden_docs() -> Vec<(String, f64)> {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("model/score_golden.json")).unwrap(),
    )
    .unwrap();
    golden["docs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["text"].as_str().unwrap().is_empty())
        .map(|d| {
            (
                d["text"].as_str().unwrap().to_string(),
                d["ppl"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn perplexity_contract(extra: &str) -> String {
    let model = fixtures().join("model");
    format!(
        "[language]\ncandidates = [\"en\"]\n[perplexity]\nmodel = \"{}\"\ntokenizer = \"{}\"\nmax_tokens = 24\nstride = 10\n{extra}",
        model.join("glm4-gqa").display(),
        model.join("tokenizer.json").display()
    )
}

#[test]
fn perplexity_medians_match_the_golden_scores_and_fail_above_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let docs = golden_docs();
    let shard = dir.path().join("s.jsonl");
    let lines: Vec<String> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| doc(&i.to_string(), &d.0))
        .collect();
    write_lines(&shard, &lines);
    let mut ppl: Vec<f64> = docs.iter().map(|d| d.1).collect();
    ppl.sort_by(f64::total_cmp);
    let median = ppl[ppl.len() / 2];
    let c = check(
        dir.path(),
        &[&shard],
        &perplexity_contract("max_median = 1000.0\nmax_p95 = 1000.0\n"),
        &[],
    );
    assert_eq!(c.code(), 0, "{}", c.stdout());
    let en = &c.rule("perplexity")["values"]["languages"]["en"];
    assert_eq!(en["documents"], docs.len());
    let measured = en["median"].as_f64().unwrap();
    assert!(
        (measured - median).abs() < 1e-3 * median,
        "{measured} vs {median}"
    );
    // A limit under the median fails and names the worst documents.
    let c = check(
        dir.path(),
        &[&shard],
        &perplexity_contract("max_median = 100.0\n"),
        &[],
    );
    assert_eq!(c.code(), 1, "{}", c.stdout());
    let worst = docs.iter().position(|d| d.1 == ppl[ppl.len() - 1]).unwrap() + 1;
    assert!(
        c.stdout()
            .contains(&format!("s.jsonl:{worst}: en perplexity")),
        "{}",
        c.stdout()
    );
}

#[test]
fn the_perplexity_sample_is_seeded_and_the_same_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("s.jsonl");
    let lines: Vec<String> = golden_docs()
        .iter()
        .enumerate()
        .map(|(i, d)| doc(&i.to_string(), &d.0))
        .collect();
    write_lines(&shard, &lines);
    let contract = perplexity_contract("sample = 3\n");
    let one = check(dir.path(), &[&shard], &contract, &["--threads", "1"]);
    let two = check(dir.path(), &[&shard], &contract, &["--threads", "2"]);
    assert_eq!(one.code(), 0, "{}", one.stdout());
    let values = &one.rule("perplexity")["values"];
    assert_eq!(values["sampled"], 3);
    assert_eq!(values["languages"]["en"]["documents"], 3);
    assert_eq!(one.report, two.report);
}

/// More documents than one batch holds (4,096), so that several batches are measured at once
/// and may finish out of order: the report must still name offenders in input order and be the
/// same for any thread count.
#[test]
fn several_batches_fold_in_input_order_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("many.jsonl");
    let text = |i: usize| {
        format!(
            "Record {i} of the long shard, with words {} and {}.",
            i * 7,
            i % 13
        )
    };
    let mut lines: Vec<String> = (0..12_000).map(|i| doc(&i.to_string(), &text(i))).collect();
    // 1-based lines: 5,001 copies line 1, 9,001 copies line 4,101; 8,201 does not parse.
    lines[5_000] = doc("copy-a", &text(0));
    lines[9_000] = doc("copy-b", &text(4_100));
    lines[8_200] = "{\"id\": \"broken".to_string();
    write_lines(&shard, &lines);
    let contract = "examples = 5\n[encoding]\n[duplicates]\nmax_exact_rate = 0.0\n";
    let runs: Vec<Check> = ["1", "2", "4"]
        .iter()
        .map(|t| check(dir.path(), &[&shard], contract, &["--threads", t]))
        .collect();
    let file = shard.to_str().unwrap();
    let out = runs[0].stdout();
    assert_eq!(runs[0].code(), 1, "{out}");
    assert_eq!(runs[0].report["records"], 12_000);
    assert_eq!(runs[0].report["documents"], 11_999);
    assert!(
        out.contains(&format!("{file}:8201: malformed_json")),
        "{out}"
    );
    let first = out
        .find(&format!("{file}:5001: same text as {file}:1"))
        .expect("the first copy is named");
    let second = out
        .find(&format!("{file}:9001: same text as {file}:4101"))
        .expect("the second copy is named");
    assert!(first < second, "{out}");
    for other in &runs[1..] {
        assert_eq!(other.report, runs[0].report);
        assert_eq!(other.stdout(), out);
    }
}

#[test]
fn a_drifting_median_fails_against_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let docs = golden_docs();
    let all = dir.path().join("all.jsonl");
    let lines: Vec<String> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| doc(&i.to_string(), &d.0))
        .collect();
    write_lines(&all, &lines);
    // The three documents of highest perplexity: their median is well above the whole set's.
    let mut by_ppl = docs.clone();
    by_ppl.sort_by(|a, b| b.1.total_cmp(&a.1));
    let drifted = dir.path().join("drifted.jsonl");
    let lines: Vec<String> = by_ppl[..3]
        .iter()
        .enumerate()
        .map(|(i, d)| doc(&i.to_string(), &d.0))
        .collect();
    write_lines(&drifted, &lines);

    let baseline = dir.path().join("baseline.json");
    let b = baseline.to_str().unwrap();
    let contract = perplexity_contract("max_median_shift = 0.05\n");
    let c = check(dir.path(), &[&all], &contract, &["--write-baseline", b]);
    assert_eq!(c.code(), 0, "{}", c.stdout());
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(stats["languages"]["en"]["documents"], docs.len());

    let same = check(dir.path(), &[&all], &contract, &["--baseline", b]);
    assert_eq!(same.code(), 0, "{}", same.stdout());
    assert_eq!(same.rule("perplexity")["values"]["median_shift"]["en"], 0.0);
    let moved = check(dir.path(), &[&drifted], &contract, &["--baseline", b]);
    assert_eq!(moved.code(), 1, "{}", moved.stdout());
    assert!(
        moved.stdout().contains("from the baseline"),
        "{}",
        moved.stdout()
    );
}

#[test]
fn the_builtin_model_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let contract = "[perplexity]\nsample = 8\nmax_median = 1e9\n";
    let c = check(dir.path(), &[&sample_corpus()], contract, &[]);
    assert_eq!(
        c.code(),
        0,
        "{}{}",
        c.stdout(),
        String::from_utf8_lossy(&c.out.stderr)
    );
    let values = &c.rule("perplexity")["values"];
    assert_eq!(values["sampled"], 8);
    let scored: u64 = values["languages"]
        .as_object()
        .unwrap()
        .values()
        .map(|l| l["documents"].as_u64().unwrap())
        .sum();
    assert_eq!(scored + values["unscored"].as_u64().unwrap(), 8);
    // A threshold under every median fails.
    let c = check(
        dir.path(),
        &[&sample_corpus()],
        "[perplexity]\nsample = 8\nmax_median = 1.0\n",
        &[],
    );
    assert_eq!(c.code(), 1, "{}", c.stdout());
}

#[test]
fn contract_mistakes_are_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let sample = sample_corpus();
    for (contract, expected) in [
        (
            "[length]\nmin_chars = 1\nmax_charz = 5\n",
            vec!["max_charz", "line 3"],
        ),
        (
            "[duplicates]\nmax_near_rate = 2.0\n",
            vec!["max_near_rate", "line 2", "between 0 and 1"],
        ),
        (
            "[length]\nmin_chars = \"one\"\n",
            vec!["min_chars", "line 2"],
        ),
        (
            "[language]\nallowed = [\"zz\"]\n",
            vec!["language.allowed", "zz"],
        ),
        (
            "[schema]\nrequired = { id = \"text\" }\n",
            vec!["text", "line 2"],
        ),
        ("[nonsense]\nx = 1\n", vec!["nonsense"]),
    ] {
        let c = check(dir.path(), &[&sample], contract, &[]);
        assert_eq!(c.code(), 2, "{contract}");
        let err = String::from_utf8_lossy(&c.out.stderr);
        for word in expected {
            assert!(err.contains(word), "{contract}: {err}");
        }
        assert!(c.report.is_null(), "no report when the check cannot run");
    }
}

#[test]
fn unreadable_or_truncated_inputs_are_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..2000)
        .map(|i| doc(&i.to_string(), &format!("{} {i}", PROSE[i % 4])))
        .collect();
    let body = lines.join("\n") + "\n";
    let zst = zstd::encode_all(body.as_bytes(), 3).unwrap();
    let cut = dir.path().join("cut.jsonl.zst");
    std::fs::write(&cut, &zst[..zst.len() * 2 / 3]).unwrap();
    let c = check(dir.path(), &[&cut], "[length]\nmin_chars = 1\n", &[]);
    assert_eq!(c.code(), 2, "{}", c.stdout());
    let err = String::from_utf8_lossy(&c.out.stderr);
    assert!(
        err.contains("cut.jsonl.zst") && err.contains("truncated"),
        "{err}"
    );

    let missing = dir.path().join("missing.jsonl");
    let c = check(dir.path(), &[&missing], "[length]\nmin_chars = 1\n", &[]);
    assert_eq!(c.code(), 2);
    assert!(String::from_utf8_lossy(&c.out.stderr).contains("missing.jsonl"));
}
