//! Runs glmkit's language id and every quality rule on the documents of JSONL(.zst) files and
//! writes one JSON line per document: id, the identified language and score, and the failure of
//! each rule (or null). Used by scripts/filter/ to build the tables of docs/BENCHMARKS.md.
//!
//! cargo run --release --example filter_eval -- [--thresholds FILE] FILE.jsonl.zst... > out.jsonl

use glmkit::filter::rules::rule_by_name;
use glmkit::filter::{LanguageIdentifier, TextAnalysis, Thresholds, RULE_NAMES};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut threshold_files = Vec::new();
    while let Some(pos) = args.iter().position(|a| a == "--thresholds") {
        threshold_files.push(args.remove(pos + 1));
        args.remove(pos);
    }
    // `--whatlang-only`: whatlang 0.18 alone (its own script detection, the same candidate
    // languages) instead of glmkit's identifier, for the comparison in the benchmark notes.
    let whatlang_only = args.iter().any(|a| a == "--whatlang-only");
    args.retain(|a| a != "--whatlang-only");
    let whatlang = whatlang_detector();
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
            let found = if whatlang_only {
                whatlang.detect(text).and_then(|info| {
                    let code = whatlang_code(info.lang())?;
                    Some(glmkit::filter::Identified {
                        lang: code,
                        score: info.confidence(),
                    })
                })
            } else {
                identifier.identify(text)
            };
            let lang = found.as_ref().map(|f| f.lang);
            let profile = thresholds.for_lang(lang);
            let mut row = json!({
                "id": record["id"],
                "glmkit_lang": lang,
                "glmkit_score": found.as_ref().map(|f| f.score),
            });
            let analysis = TextAnalysis::for_profile(text, profile);
            for rule in &rules {
                let result = match rule.check_analyzed(&analysis, profile) {
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

const WHATLANG_CODES: &[(&str, whatlang::Lang)] = &[
    ("zh", whatlang::Lang::Cmn),
    ("en", whatlang::Lang::Eng),
    ("de", whatlang::Lang::Deu),
    ("fr", whatlang::Lang::Fra),
    ("es", whatlang::Lang::Spa),
    ("it", whatlang::Lang::Ita),
    ("pt", whatlang::Lang::Por),
    ("ru", whatlang::Lang::Rus),
    ("pl", whatlang::Lang::Pol),
    ("uk", whatlang::Lang::Ukr),
    ("cs", whatlang::Lang::Ces),
    ("nl", whatlang::Lang::Nld),
    ("sv", whatlang::Lang::Swe),
    ("ja", whatlang::Lang::Jpn),
    ("ko", whatlang::Lang::Kor),
    ("vi", whatlang::Lang::Vie),
    ("id", whatlang::Lang::Ind),
    ("el", whatlang::Lang::Ell),
    ("tr", whatlang::Lang::Tur),
    ("hu", whatlang::Lang::Hun),
    ("fi", whatlang::Lang::Fin),
    ("da", whatlang::Lang::Dan),
    ("ro", whatlang::Lang::Ron),
    ("ar", whatlang::Lang::Ara),
    ("th", whatlang::Lang::Tha),
    ("hi", whatlang::Lang::Hin),
    ("he", whatlang::Lang::Heb),
    ("fa", whatlang::Lang::Pes),
    ("la", whatlang::Lang::Lat),
];

fn whatlang_detector() -> whatlang::Detector {
    whatlang::Detector::with_allowlist(WHATLANG_CODES.iter().map(|c| c.1).collect())
}

fn whatlang_code(lang: whatlang::Lang) -> Option<&'static str> {
    WHATLANG_CODES.iter().find(|c| c.1 == lang).map(|c| c.0)
}
