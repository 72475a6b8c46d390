//! Times glmkit's language id and default quality rules in process on the documents of JSONL(.zst)
//! files held in memory, with 1 and 2 threads: docs/s and MB/s (UTF-8 bytes of text), median
//! of `--runs` runs (default 5) after a warm-up, and the CPU seconds (all threads, user + sys)
//! of one pass over the documents, the steadier figure on a shared machine. The Python peers
//! are timed the same way by scripts/filter/bench_peers.py.
//!
//! cargo run --release --example filter_bench -- [--runs N] [--only TEXT] [--thresholds FILE]
//!     FILE.jsonl.zst...
//!
//! `--only TEXT` runs only the tasks whose name contains TEXT; `--thresholds` (a file or
//! preset) is laid over the built-in settings.

use glmkit::filter::rules::{first_failure, rule_by_name, QualityRule};
use glmkit::filter::{LanguageIdentifier, TextAnalysis, Thresholds, DEFAULT_RULES};
use rayon::prelude::*;
use std::io::{BufRead, BufReader};
use std::time::Instant;

struct Bench {
    docs: usize,
    bytes: usize,
    runs: usize,
    only: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut option = |name: &str| -> Option<String> {
        let pos = args.iter().position(|a| a == name)?;
        let value = args.get(pos + 1).cloned();
        args.drain(pos..(pos + 2).min(args.len()));
        value
    };
    let runs = option("--runs").map_or(Ok(5), |r| r.parse())?;
    let only = option("--only");
    let threshold_files: Vec<String> = option("--thresholds").into_iter().collect();
    let mut texts = Vec::new();
    for path in &args {
        let reader = BufReader::new(zstd::Decoder::new(std::fs::File::open(path)?)?);
        for line in reader.lines() {
            let record: serde_json::Value = serde_json::from_str(&line?)?;
            texts.push(record["text"].as_str().unwrap_or_default().to_string());
        }
    }
    let bench = Bench {
        docs: texts.len(),
        bytes: texts.iter().map(String::len).sum(),
        runs,
        only,
    };
    let identifier = LanguageIdentifier::default_languages();
    let thresholds = Thresholds::with_files(&threshold_files)?;
    let by_name = |names: &[&str]| -> Vec<Box<dyn QualityRule>> {
        names.iter().map(|n| rule_by_name(n).unwrap()).collect()
    };
    let rules = by_name(DEFAULT_RULES);
    // The same work as datatrove's default filters in scripts/filter/bench_peers.py: its four
    // rule families in its order, a document stopping at the first that removes it.
    let datatrove_order = by_name(&["gopher_repetition", "gopher_quality", "c4", "fineweb"]);
    println!(
        "{} documents, {:.2} MB, median of {runs} runs",
        bench.docs,
        bench.bytes as f64 / 1e6
    );
    println!("| task | threads | docs/s | MB/s | CPU s per pass |\n|---|---|---|---|---|");
    let langs: Vec<Option<&str>> = texts
        .iter()
        .map(|t| identifier.identify(t).map(|f| f.lang))
        .collect();
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build())
        .collect::<Result<_, _>>()?;
    let docs = || texts.par_iter().zip(&langs);
    for rule in &rules {
        bench.report(&pools[0], &format!("{} alone", rule.name()), || {
            docs()
                .filter(|(t, l)| rule.check(t, thresholds.for_lang(**l)).is_err())
                .count()
        });
    }
    bench.report(
        &pools[0],
        "5 rules, every rule on every document (language given)",
        || {
            docs()
                .map(|(t, l)| {
                    let profile = thresholds.for_lang(*l);
                    let analysis = TextAnalysis::for_profile(t, profile);
                    rules
                        .iter()
                        .filter(|r| r.check_analyzed(&analysis, profile).is_err())
                        .count()
                })
                .sum::<usize>()
        },
    );
    for pool in &pools {
        bench.report(
            pool,
            "4 rule families as datatrove runs them (first removal stops, language given)",
            || {
                docs()
                    .filter(|(t, l)| {
                        first_failure(&datatrove_order, t, thresholds.for_lang(**l)).is_none()
                    })
                    .count()
            },
        );
    }
    for pool in &pools {
        bench.report(pool, "langid", || {
            texts
                .par_iter()
                .map(|t| identifier.identify(t).map(|f| f.lang))
                .collect::<Vec<_>>()
        });
        bench.report(pool, "langid + 5 rules (first failing rule stops)", || {
            texts
                .par_iter()
                .map(|t| {
                    let lang = identifier.identify(t).map(|f| f.lang);
                    first_failure(&rules, t, thresholds.for_lang(lang)).is_some()
                })
                .collect::<Vec<_>>()
        });
        bench.report(pool, "langid + every rule on every document", || {
            texts
                .par_iter()
                .map(|t| {
                    let lang = identifier.identify(t).map(|f| f.lang);
                    let profile = thresholds.for_lang(lang);
                    let analysis = TextAnalysis::for_profile(t, profile);
                    rules
                        .iter()
                        .filter(|r| r.check_analyzed(&analysis, profile).is_err())
                        .count()
                })
                .collect::<Vec<_>>()
        });
    }
    Ok(())
}

impl Bench {
    fn report<T: Send>(&self, pool: &rayon::ThreadPool, task: &str, f: impl Fn() -> T + Sync) {
        if self
            .only
            .as_ref()
            .is_some_and(|o| !task.contains(o.as_str()))
        {
            return;
        }
        std::hint::black_box(pool.install(&f));
        let cpu_before = cpu_seconds();
        let mut times: Vec<f64> = (0..self.runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(pool.install(&f));
                start.elapsed().as_secs_f64()
            })
            .collect();
        let cpu = cpu_seconds()
            .zip(cpu_before)
            .map(|(a, b)| (a - b) / self.runs as f64);
        times.sort_by(f64::total_cmp);
        let t = times[times.len() / 2];
        println!(
            "| {task} | {} | {:.0} | {:.2} | {} |",
            pool.current_num_threads(),
            self.docs as f64 / t,
            self.bytes as f64 / 1e6 / t,
            cpu.map_or("-".into(), |c| format!("{c:.4}"))
        );
    }
}

/// CPU time of every thread of this process so far (Linux: the first field of each thread's
/// `schedstat`, in nanoseconds); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 / 1e9)
}
