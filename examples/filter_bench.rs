//! Times glmkit's language id and default quality rules in process on the documents of JSONL(.zst)
//! files held in memory, with 1 and 2 threads: docs/s and MB/s (UTF-8 bytes of text), median
//! of 5 runs after a warm-up. The Python peers are timed the same way by
//! scripts/filter/bench_peers.py.
//!
//! cargo run --release --example filter_bench -- FILE.jsonl.zst...

use glmkit::filter::rules::rule_by_name;
use glmkit::filter::{LanguageIdentifier, Thresholds, DEFAULT_RULES};
use rayon::prelude::*;
use std::io::{BufRead, BufReader};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut texts = Vec::new();
    for path in std::env::args().skip(1) {
        let reader = BufReader::new(zstd::Decoder::new(std::fs::File::open(&path)?)?);
        for line in reader.lines() {
            let record: serde_json::Value = serde_json::from_str(&line?)?;
            texts.push(record["text"].as_str().unwrap_or_default().to_string());
        }
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let identifier = LanguageIdentifier::default_languages();
    let thresholds = Thresholds::built_in();
    let rules: Vec<_> = DEFAULT_RULES
        .iter()
        .map(|n| rule_by_name(n).unwrap())
        .collect();
    println!("{} documents, {:.2} MB", texts.len(), bytes as f64 / 1e6);
    println!("| task | threads | docs/s | MB/s |\n|---|---|---|---|");
    let langs: Vec<Option<&str>> = texts
        .iter()
        .map(|t| identifier.identify(t).map(|f| f.lang))
        .collect();
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    for rule in &rules {
        report(
            &single,
            &format!("{} alone", rule.name()),
            1,
            texts.len(),
            bytes,
            || {
                let n = texts
                    .iter()
                    .zip(&langs)
                    .filter(|(t, l)| rule.check(t, thresholds.for_lang(**l)).is_err())
                    .count();
                std::hint::black_box(n);
            },
        );
    }
    report(
        &single,
        "5 rules, every rule on every document (language given)",
        1,
        texts.len(),
        bytes,
        || {
            let n: usize = texts
                .iter()
                .zip(&langs)
                .map(|(t, l)| {
                    rules
                        .iter()
                        .filter(|r| r.check(t, thresholds.for_lang(*l)).is_err())
                        .count()
                })
                .sum();
            std::hint::black_box(n);
        },
    );
    // The same work as datatrove's default filters in scripts/filter/bench_peers.py: its four
    // rule families in its order, a document stopping at the first that removes it.
    let datatrove_order: Vec<_> = ["gopher_repetition", "gopher_quality", "c4", "fineweb"]
        .iter()
        .map(|n| rule_by_name(n).unwrap())
        .collect();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        report(
            &pool,
            "4 rule families as datatrove runs them (first removal stops, language given)",
            threads,
            texts.len(),
            bytes,
            || {
                let kept = texts
                    .par_iter()
                    .zip(&langs)
                    .filter(|(t, l)| {
                        let profile = thresholds.for_lang(**l);
                        datatrove_order.iter().all(|r| r.check(t, profile).is_ok())
                    })
                    .count();
                std::hint::black_box(kept);
            },
        );
    }
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let langid = || {
            texts
                .par_iter()
                .map(|t| identifier.identify(t).map(|f| f.lang))
                .collect::<Vec<_>>()
        };
        let all = || {
            texts
                .par_iter()
                .map(|t| {
                    let lang = identifier.identify(t).map(|f| f.lang);
                    let profile = thresholds.for_lang(lang);
                    rules.iter().any(|r| r.check(t, profile).is_err())
                })
                .collect::<Vec<_>>()
        };
        report(&pool, "langid", threads, texts.len(), bytes, || {
            std::hint::black_box(langid());
        });
        report(
            &pool,
            "langid + 5 rules (first failing rule stops)",
            threads,
            texts.len(),
            bytes,
            || {
                std::hint::black_box(all());
            },
        );
        let every_rule = || {
            texts
                .par_iter()
                .map(|t| {
                    let lang = identifier.identify(t).map(|f| f.lang);
                    let profile = thresholds.for_lang(lang);
                    rules
                        .iter()
                        .filter(|r| r.check(t, profile).is_err())
                        .count()
                })
                .collect::<Vec<_>>()
        };
        report(
            &pool,
            "langid + every rule on every document",
            threads,
            texts.len(),
            bytes,
            || {
                std::hint::black_box(every_rule());
            },
        );
    }
    Ok(())
}

fn report(
    pool: &rayon::ThreadPool,
    task: &str,
    threads: usize,
    docs: usize,
    bytes: usize,
    f: impl Fn() + Sync,
) {
    pool.install(&f);
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            pool.install(&f);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let t = times[2];
    println!(
        "| {task} | {threads} | {:.0} | {:.2} |",
        docs as f64 / t,
        bytes as f64 / 1e6 / t
    );
}
