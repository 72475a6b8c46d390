//! `glmkit dedup exact|fuzzy|lines|explain`.

use crate::common::{InputArgs, OutputArgs};
use anyhow::Result;
use clap::{Args, Subcommand};
use glmkit::dedup::{
    exact::{self, ExactOptions},
    fuzzy::{self, FuzzyOptions, Keep, Verify},
    input::InputSet,
    lines::{self, LinesOptions, Unit},
    minhash::MinHashParams,
    Normalization, Stage,
};
use glmkit::pipeline::{RunOptions, RunSummary};
use std::path::PathBuf;

#[derive(Args)]
pub struct DedupArgs {
    #[command(subcommand)]
    command: DedupCommand,
}

#[derive(Subcommand)]
enum DedupCommand {
    /// Remove exact duplicates (xxh3-128 of the normalized text); the first copy stays.
    Exact {
        #[command(flatten)]
        common: Common,
        /// none | basic (NFC, whitespace collapsed) | aggressive (NFKC, lowercase, no punctuation)
        #[arg(long, default_value = "basic")]
        normalize: Normalization,
    },
    /// Remove near duplicates (MinHash LSH over 5-token shingles, verified pairs, clusters).
    Fuzzy {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 14)]
        bands: u32,
        #[arg(long, default_value_t = 8)]
        rows: u32,
        /// Tokens per shingle (a token is a word, or one Han/Kana/Hangul/Thai character).
        #[arg(long, default_value_t = 5)]
        shingle: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Drop candidate pairs whose Jaccard (estimated, or exact with --verify exact) is below this.
        #[arg(long, default_value_t = 0.8)]
        verify_threshold: f64,
        /// signature: estimate Jaccard from the signatures; exact: compute it from the shingle
        /// sets (stores them in the work directory, about the size of the text).
        #[arg(long, default_value = "signature", value_parser = parse_verify)]
        verify: Verify,
        /// Keep every candidate pair that shares a bucket (datatrove's behaviour).
        #[arg(long, conflicts_with = "verify")]
        no_verify: bool,
        /// Which document of a cluster stays: first (in input order) or longest.
        #[arg(long, default_value = "first", value_parser = parse_keep)]
        keep: Keep,
    },
    /// Remove lines (or paragraphs) that recur across the corpus (CCNet-style).
    Lines {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "line", value_parser = parse_unit)]
        unit: Unit,
        /// Remove a unit when its normalized hash occurs at least this many times.
        #[arg(long, default_value_t = 2)]
        min_count: u32,
        #[arg(long, default_value = "aggressive")]
        normalize: Normalization,
    },
    /// Say why a document was removed by `dedup fuzzy`.
    Explain {
        /// The document id.
        id: String,
        /// The work directory of the fuzzy run.
        #[arg(long)]
        work_dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct Common {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Where stages exchange their files (default: OUTPUT/.dedup-work). Shared by all tasks.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Stage to run: all, signatures (alias hashes, counts), buckets (alias groups), cluster,
    /// filter. With --shard, run each stage on every task before the next.
    #[arg(long, default_value = "all")]
    stage: Stage,
    /// Hash partitions of the intermediate files (the unit of work of the middle stages).
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Tell inputs apart by a checksum of their content too, not only by path, size and
    /// modification time (reads every input once more per stage).
    #[arg(long)]
    checksum_inputs: bool,
}

fn parse_keep(s: &str) -> Result<Keep, String> {
    match s {
        "first" => Ok(Keep::First),
        "longest" => Ok(Keep::Longest),
        _ => Err(format!("keep `{s}`: expected first or longest")),
    }
}

fn parse_verify(s: &str) -> Result<Verify, String> {
    match s {
        "signature" => Ok(Verify::Signature),
        "exact" => Ok(Verify::Exact),
        "none" => Ok(Verify::None),
        _ => Err(format!("verify `{s}`: expected signature, exact or none")),
    }
}

fn parse_unit(s: &str) -> Result<Unit, String> {
    match s {
        "line" => Ok(Unit::Line),
        "paragraph" => Ok(Unit::Paragraph),
        _ => Err(format!("unit `{s}`: expected line or paragraph")),
    }
}

struct Prepared {
    inputs: InputSet,
    work_dir: PathBuf,
    run: RunOptions,
}

impl Common {
    fn prepare(&self) -> Result<Prepared> {
        let inputs = InputSet::new(self.input.files()?, self.input.read_options())?
            .with_content_checksums(self.checksum_inputs);
        let run = self.output.run_options(&self.input)?;
        let work_dir = self
            .work_dir
            .clone()
            .unwrap_or_else(|| self.output.output.join(".dedup-work"));
        Ok(Prepared {
            inputs,
            work_dir,
            run,
        })
    }

    /// Reports the filter stage (when it ran) or the stage that ran.
    fn finish(&self, summary: Option<RunSummary>) -> Result<()> {
        match summary {
            Some(summary) => self.output.finish(&summary),
            None => {
                eprintln!("stage {:?} done", self.stage);
                Ok(())
            }
        }
    }
}

pub fn run(args: DedupArgs) -> Result<()> {
    match args.command {
        DedupCommand::Exact { common, normalize } => {
            let p = common.prepare()?;
            let opts = ExactOptions {
                normalize,
                partitions: common.partitions,
                ..ExactOptions::default()
            };
            let summary = exact::run(&p.inputs, &opts, &p.work_dir, &p.run, common.stage)?;
            common.finish(summary)?;
        }
        DedupCommand::Fuzzy {
            common,
            bands,
            rows,
            shingle,
            seed,
            verify_threshold,
            verify,
            no_verify,
            keep,
        } => {
            let p = common.prepare()?;
            let opts = FuzzyOptions {
                minhash: MinHashParams {
                    bands,
                    rows,
                    shingle,
                    seed,
                },
                verify: if no_verify { Verify::None } else { verify },
                verify_threshold,
                keep,
                partitions: common.partitions,
                ..FuzzyOptions::default()
            };
            let summary = fuzzy::run(&p.inputs, &opts, &p.work_dir, &p.run, common.stage)?;
            common.finish(summary)?;
        }
        DedupCommand::Lines {
            common,
            unit,
            min_count,
            normalize,
        } => {
            let p = common.prepare()?;
            let opts = LinesOptions {
                unit,
                min_count,
                normalize,
                partitions: common.partitions,
                ..LinesOptions::default()
            };
            let summary = lines::run(&p.inputs, &opts, &p.work_dir, &p.run, common.stage)?;
            common.finish(summary)?;
        }
        DedupCommand::Explain { id, work_dir, json } => {
            let e = fuzzy::explain(&id, &work_dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                print_explanation(&e);
            }
        }
    }
    Ok(())
}

fn print_explanation(e: &fuzzy::Explanation) {
    let jaccard =
        |x: Option<f64>| x.map_or("n/a (inputs unreadable)".to_string(), |j| format!("{j:.3}"));
    println!("document {}: {}", e.id, e.status);
    if let Some(cluster) = &e.cluster {
        println!(
            "cluster {cluster} ({} documents), kept {}",
            e.cluster_size,
            e.kept_id.as_deref().unwrap_or("?")
        );
    }
    if let Some(p) = &e.versus_kept {
        let band = p
            .band
            .map_or("none (linked through other documents)".to_string(), |b| {
                b.to_string()
            });
        println!(
            "versus kept {}: matching band {band}, estimated Jaccard {:.3}, exact Jaccard {}",
            p.id,
            p.estimated_jaccard,
            jaccard(p.exact_jaccard)
        );
    }
    for p in &e.linked_to {
        let band = p.band.map_or("-".to_string(), |b| b.to_string());
        println!(
            "linked to {}: band {band}, estimated {:.3}, exact {}",
            p.id,
            p.estimated_jaccard,
            jaccard(p.exact_jaccard)
        );
    }
}
