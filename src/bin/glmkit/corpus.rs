//! `glmkit convert` and `glmkit stats`.

use crate::common::{progress_mode, InputArgs, OutputArgs};
use anyhow::Result;
use clap::Args;
use glmkit::corpus::{CorpusProfile, CorpusReader, ProfileReport, Record, PERCENTILES};
use glmkit::pipeline::{self, Progress};
use rayon::prelude::*;

/// Convert between formats and re-shard (kept records are written unchanged).
#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn convert(args: ConvertArgs) -> Result<()> {
    let files = args.input.files()?;
    let options = args.output.run_options(&args.input)?;
    let summary = pipeline::run(&files, &[], &options)?;
    args.output.finish(&summary)
}

/// Describe a corpus: documents, bytes, characters, length percentiles, counts per field value.
#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Count documents per value of this field (repeatable; `glmkit.lang` reads an annotation).
    #[arg(long, value_name = "FIELD")]
    by: Vec<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(serde::Serialize)]
struct StatsOutput {
    files: usize,
    #[serde(flatten)]
    profile: ProfileReport,
    quarantined: u64,
    quarantine_by_reason: std::collections::BTreeMap<String, u64>,
    broken_files: Vec<glmkit::corpus::StreamBreak>,
}

pub fn stats(args: StatsArgs) -> Result<()> {
    let files = args.input.files()?;
    let options = args.input.read_options();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let log = progress_mode(false) != Progress::Quiet;
    let per_file: Vec<Result<(CorpusProfile, Vec<Record>)>> = pool.install(|| {
        files
            .par_iter()
            .map(|file| {
                let mut profile = CorpusProfile::new(&args.by);
                let mut bad = Vec::new();
                for record in CorpusReader::open(file, &options)?.records() {
                    match record {
                        Record::Doc(doc) => profile.add(&doc),
                        other => bad.push(other),
                    }
                }
                if log {
                    eprintln!(
                        "read {} ({} documents)",
                        file.path.display(),
                        profile.documents
                    );
                }
                Ok((profile, bad))
            })
            .collect()
    });
    let mut total = CorpusProfile::new(&args.by);
    let mut output = StatsOutput {
        files: files.len(),
        profile: CorpusProfile::default().report(),
        quarantined: 0,
        quarantine_by_reason: Default::default(),
        broken_files: Vec::new(),
    };
    for result in per_file {
        let (profile, bad) = result?;
        total.merge(profile);
        for record in bad {
            match record {
                Record::Quarantined(q) => {
                    output.quarantined += 1;
                    *output
                        .quarantine_by_reason
                        .entry(q.reason.to_string())
                        .or_default() += 1;
                }
                Record::Break(b) => output.broken_files.push(b),
                Record::Doc(_) => unreachable!(),
            }
        }
    }
    output.profile = total.report();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print_table(&output);
    }
    Ok(())
}

fn print_table(out: &StatsOutput) {
    let p = &out.profile;
    println!("files         {}", out.files);
    println!("documents     {}", p.documents);
    println!("bytes         {}", p.bytes);
    println!("characters    {}", p.chars);
    println!("mean length   {:.1} characters", p.mean_chars);
    let percentiles: Vec<String> = PERCENTILES
        .iter()
        .map(|q| format!("p{q}={}", p.length_chars[&format!("p{q}")]))
        .collect();
    println!("length        {}", percentiles.join(" "));
    if out.quarantined > 0 {
        println!(
            "unreadable    {} records {:?}",
            out.quarantined, out.quarantine_by_reason
        );
    }
    for b in &out.broken_files {
        println!("BROKEN        {} after {}: {}", b.file, b.offset, b.error);
    }
    for (field, counts) in &p.by {
        println!("\nby {field}:");
        let mut rows: Vec<_> = counts.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (value, n) in rows {
            println!(
                "  {value:<20} {n:>10}  {:>5.1}%",
                100.0 * *n as f64 / p.documents.max(1) as f64
            );
        }
    }
}
