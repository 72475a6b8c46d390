//! `glmkit check`: data contracts that a CI job can enforce on every shard.
//!
//! A [`Contract`] (TOML) names the rules to hold and their thresholds; [`check`] reads the
//! inputs once and returns a [`Report`] with one [`RuleOutcome`] per rule, which prints as a
//! human summary, JSON or JUnit XML. Rules: schema, encoding (always), length, duplicates
//! (exact and MinHash, optionally against reference shards), language, quality, perplexity
//! (a GLM-4 checkpoint on a seeded sample, with an optional baseline) and tokenizer.
//!
//! The pass reuses the corpus readers (quarantine of bad records, detection of truncated
//! files), the dedup hashes, the language identifier and quality rules of `filter`, the BPE
//! encoder and the scorer of `model::score`. A check that cannot run (bad contract, unreadable
//! or truncated input, missing model) is a [`CheckError`], distinct from a failed rule.

mod contract;
mod perplexity;
mod report;
mod scan;
mod tally;
mod tokenizer;

pub use contract::{
    Contract, ContractError, DuplicatesRule, EncodingRule, JsonType, LanguageRule, LengthRule,
    ModelSource, PerplexityRule, QualityRule, Rate, SchemaRule, TokenizerRule,
};
pub use perplexity::{Baseline, LanguageStats};
pub use report::{Example, Report, RuleOutcome};

use crate::corpus::{expand_inputs, CorpusError, InputFile};

/// Why a check could not run (the command exits 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("contract: {0}")]
    ContractValue(String),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("{file}: the file breaks off after {offset} bytes of records (truncated or corrupt): {error}")]
    Broken {
        file: String,
        offset: u64,
        error: String,
    },
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: String, message: String },
    #[error("perplexity: model {path}: {message}")]
    Model { path: String, message: String },
    #[error("baseline {path}: {message}")]
    Baseline { path: String, message: String },
    #[error("cannot start {threads} worker threads: {message}")]
    Threads { threads: usize, message: String },
}

impl CheckError {
    fn contract(message: String) -> CheckError {
        CheckError::ContractValue(message)
    }
}

/// How to run a check (the contract says what to check).
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Perplexity statistics of an earlier check, for the median shift.
    pub baseline: Option<Baseline>,
}

/// A report and, when the contract has a perplexity rule, the statistics a later check can
/// compare with (`--write-baseline`).
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub report: Report,
    pub baseline: Option<Baseline>,
}

/// Runs `contract` over `inputs`.
pub fn check(
    inputs: &[InputFile],
    contract: &Contract,
    options: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    let threads = options.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CheckError::Threads {
            threads,
            message: e.to_string(),
        })?;
    check_with(inputs, contract, options, &pool)
}

/// Runs on the calling thread, which is not one of `pool`'s workers: the scan waits for measured
/// batches on it without keeping a worker from measuring.
fn check_with(
    inputs: &[InputFile],
    contract: &Contract,
    options: &CheckOptions,
    pool: &rayon::ThreadPool,
) -> Result<CheckResult, CheckError> {
    // Everything that can fail before reading is loaded first: a bad model or tokenizer stops
    // the check at once, not after a long pass.
    let probes = scan::Probes::new(contract)?;
    let scorer = match &contract.perplexity {
        Some(rule) => Some(perplexity::open_scorer(rule, contract)?),
        None => None,
    };
    let reference: Vec<InputFile> = match &contract.duplicates {
        Some(d) if !d.reference.is_empty() => {
            let paths: Vec<String> = d
                .reference
                .iter()
                .map(|r| contract.resolve(r).to_string_lossy().into_owned())
                .collect();
            expand_inputs(&paths)?
        }
        _ => Vec::new(),
    };
    let mut tally = tally::Tally::new(contract);
    if !reference.is_empty() {
        scan::scan(&reference, &probes.for_reference(), &mut tally, true, pool)?;
    }
    scan::scan(inputs, &probes, &mut tally, false, pool)?;

    let mut rules = tally.outcomes();
    let mut baseline = None;
    if let (Some(rule), Some(scorer)) = (&contract.perplexity, &scorer) {
        let identifier = scan::identifier(contract)?;
        let sample = tally.take_perplexity_sample();
        let (outcome, stats) = pool.install(|| {
            perplexity::evaluate(
                contract,
                rule,
                scorer,
                &identifier,
                sample,
                tally.documents,
                options.baseline.as_ref(),
            )
        })?;
        // Report order: the contract's rule order (perplexity before tokenizer).
        let at = rules
            .iter()
            .position(|r| r.rule == "tokenizer")
            .unwrap_or(rules.len());
        rules.insert(at, outcome);
        baseline = Some(stats);
    }
    let mut report = Report::new(rules);
    report.files = inputs.len();
    report.records = tally.records;
    report.documents = tally.documents;
    report.text_bytes = tally.text_bytes;
    report.reference_documents = tally.reference_documents;
    Ok(CheckResult { report, baseline })
}
