//! Runs glmkit's language id and every quality rule on the documents of JSONL(.zst) files and
//! writes one JSON line per document: id, the identified language and score, and the failure of
//! each rule (or null). Used by scripts/filter/ to build the tables of docs/benchmarks/filter.md.
//!
//! cargo run --release --example filter_eval -- [--thresholds FILE] FILE.jsonl.zst... > out.jsonl

use glmkit::filter::rules::rule_by_name;
use glmkit::filter::{LanguageIdentifier, Thresholds, RULE_NAMES};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut threshold_files = Vec::new();
    while let Some(pos) = args.iter().position(|a| a == "--thresholds") {
        threshold_files.push(args.remove(pos + 1));
        args.remove(pos);
    }
    let thresholds = Thresholds::with_files(&threshold_files)?;
    let identifier = LanguageIdentifier::default_languages();
    let rules: Vec<_> = RULE_NAMES
        .iter()
        .map(|n| rule_by_name(n).expect("known rule"))
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args {
        let file = std::fs::File::open(path)?;
        let reader: Box<dyn BufRead> = if path.ends_with(".zst") {
            Box::new(BufReader::new(zstd::Decoder::new(file)?))
        } else {
            Box::new(BufReader::new(file))
        };
        for line in reader.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Value = serde_json::from_str(&line)?;
            let text = record["text"].as_str().unwrap_or_default();
            let found = identifier.identify(text);
            let lang = found.as_ref().map(|f| f.lang);
            let profile = thresholds.for_lang(lang);
            let mut row = json!({
                "id": record["id"],
                "glmkit_lang": lang,
                "glmkit_score": found.as_ref().map(|f| f.score),
            });
            for rule in &rules {
                let result = match rule.check(text, profile) {
                    Ok(()) => Value::Null,
                    Err(f) => json!([f.reason, f.value, f.threshold]),
                };
                row[rule.name()] = result;
            }
            writeln!(out, "{row}")?;
        }
    }
    Ok(())
}
