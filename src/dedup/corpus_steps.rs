//! Exact, fuzzy and line dedup as corpus-wide pipeline steps (`kind = "dedup_exact"`,
//! `"dedup_fuzzy"` and `"dedup_lines"` in a pipeline file).
//!
//! Each needs the whole corpus before it can decide about a document (every content hash,
//! every signature, every line count), so each is a [`CorpusStep`]: the stages of
//! `glmkit dedup exact|fuzzy|lines` (each as task i of n) over the documents that reach it,
//! then the filter stage's step decides about each document in the next pass of the pipeline.
//! Settings have the names and defaults of the commands' options.

use super::exact::{self, ExactFilter, ExactOptions};
use super::fuzzy::{self, FuzzyFilter, FuzzyOptions, Keep, Verify};
use super::input::InputSet;
use super::lines::{self, LinesFilter, LinesOptions, Unit};
use super::minhash::MinHashParams;
use super::{DedupError, Normalization, Stage};
use crate::corpus::ShardSpec;
use crate::pipeline::{
    settings, CorpusInput, CorpusStep, RunOptions, RunSummary, SettingsError, Step, StepError,
};
use serde::Deserialize;
use std::path::Path;

/// One dedup algorithm as a corpus-wide step: the stages of its command before the filter
/// stage, then its filter stage's step. The three algorithms differ only in these fields.
pub struct DedupStep<O> {
    name: &'static str,
    /// The stages before the filter: (name in the plan, the command's `--stage`).
    stages: &'static [(&'static str, Stage)],
    pub opts: O,
    /// `exact::run`, `fuzzy::run` or `lines::run`.
    run: RunStage<O>,
    /// Loads the filter stage's step for the files of a task.
    filter: LoadFilter<O>,
}

type RunStage<O> =
    fn(&InputSet, &O, &Path, &RunOptions, Stage) -> Result<Option<RunSummary>, DedupError>;
type LoadFilter<O> = fn(&InputSet, &O, &Path, ShardSpec) -> Result<Box<dyn Step>, DedupError>;

/// The inputs of the stages, from what the graph gives.
fn stage_inputs(input: &CorpusInput) -> Result<InputSet, DedupError> {
    InputSet::new(input.files.to_vec(), input.read.clone())
}

impl<O: Send + Sync> CorpusStep for DedupStep<O> {
    fn name(&self) -> &str {
        self.name
    }

    fn stages(&self) -> Vec<&'static str> {
        self.stages.iter().map(|(name, _)| *name).collect()
    }

    fn run_stage(
        &self,
        stage: usize,
        input: &CorpusInput,
        task: ShardSpec,
    ) -> Result<(), StepError> {
        let (_, stage) = self.stages.get(stage).ok_or_else(|| {
            format!(
                "{}: no stage {stage} (there are {})",
                self.name,
                self.stages.len()
            )
        })?;
        // The stages before the filter write only to the work directory.
        let mut run = RunOptions::new(input.work_dir);
        run.threads = input.threads;
        run.shard = task;
        (self.run)(
            &stage_inputs(input)?,
            &self.opts,
            input.work_dir,
            &run,
            *stage,
        )?;
        Ok(())
    }

    fn decider(&self, input: &CorpusInput, task: ShardSpec) -> Result<Box<dyn Step>, StepError> {
        Ok((self.filter)(
            &stage_inputs(input)?,
            &self.opts,
            input.work_dir,
            task,
        )?)
    }
}

/// `glmkit dedup exact`, in stages: a task's filter loads the removals of its own files.
fn exact_dedup(opts: ExactOptions) -> DedupStep<ExactOptions> {
    DedupStep {
        name: "dedup_exact",
        stages: &[("hashes", Stage::Signatures), ("groups", Stage::Buckets)],
        opts,
        run: exact::run,
        filter: |inputs, opts, dir, task| {
            Ok(Box::new(ExactFilter::load_for(inputs, opts, dir, task)?))
        },
    }
}

/// `glmkit dedup fuzzy`: every task's filter loads the clusters of the whole corpus.
fn fuzzy_dedup(opts: FuzzyOptions) -> DedupStep<FuzzyOptions> {
    DedupStep {
        name: "dedup_fuzzy",
        stages: &[
            ("signatures", Stage::Signatures),
            ("buckets", Stage::Buckets),
            ("cluster", Stage::Cluster),
        ],
        opts,
        run: fuzzy::run,
        filter: |inputs, opts, dir, _| Ok(Box::new(FuzzyFilter::load(inputs, opts, dir)?)),
    }
}

/// `glmkit dedup lines`: the filter looks up units in the frequent-unit files.
fn lines_dedup(opts: LinesOptions) -> DedupStep<LinesOptions> {
    DedupStep {
        name: "dedup_lines",
        stages: &[("counts", Stage::Signatures), ("buckets", Stage::Buckets)],
        opts,
        run: lines::run,
        filter: |inputs, opts, dir, _| Ok(Box::new(LinesFilter::load(inputs, opts, dir)?)),
    }
}

/// The settings of `dedup_exact`: the options of `glmkit dedup exact`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExactSettings {
    normalize: Option<Normalization>,
    partitions: Option<u32>,
}

/// The settings of `dedup_fuzzy`: the options of `glmkit dedup fuzzy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FuzzySettings {
    bands: Option<u32>,
    rows: Option<u32>,
    shingle: Option<u32>,
    seed: Option<u64>,
    verify: Option<Verify>,
    #[serde(default)]
    no_verify: bool,
    verify_threshold: Option<f64>,
    keep: Option<Keep>,
    partitions: Option<u32>,
}

/// The settings of `dedup_lines`: the options of `glmkit dedup lines`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinesSettings {
    unit: Option<Unit>,
    min_count: Option<u32>,
    normalize: Option<Normalization>,
    partitions: Option<u32>,
}

/// A count setting that must be at least 1.
fn at_least_one(value: Option<u32>, default: u32, key: &str) -> Result<u32, SettingsError> {
    match value.unwrap_or(default) {
        0 => Err(SettingsError::at(key, "must be at least 1")),
        n => Ok(n),
    }
}

fn fuzzy_options(s: FuzzySettings) -> Result<FuzzyOptions, SettingsError> {
    let defaults = FuzzyOptions::default();
    let hashes = MinHashParams::default();
    if s.no_verify && s.verify.is_some_and(|v| v != Verify::None) {
        return Err(SettingsError::at(
            "no_verify",
            "`no_verify = true` and a `verify` other than \"none\" contradict each other",
        ));
    }
    let verify_threshold = s.verify_threshold.unwrap_or(defaults.verify_threshold);
    if !(0.0..=1.0).contains(&verify_threshold) {
        return Err(SettingsError::at(
            "verify_threshold",
            format!("{verify_threshold} is not a Jaccard similarity (0 to 1)"),
        ));
    }
    Ok(FuzzyOptions {
        minhash: MinHashParams {
            bands: at_least_one(s.bands, hashes.bands, "bands")?,
            rows: at_least_one(s.rows, hashes.rows, "rows")?,
            shingle: at_least_one(s.shingle, hashes.shingle, "shingle")?,
            seed: s.seed.unwrap_or(hashes.seed),
        },
        verify: if s.no_verify {
            Verify::None
        } else {
            s.verify.unwrap_or(defaults.verify)
        },
        verify_threshold,
        keep: s.keep.unwrap_or(defaults.keep),
        partitions: at_least_one(s.partitions, defaults.partitions, "partitions")?,
        ..defaults
    })
}

fn lines_options(s: LinesSettings) -> Result<LinesOptions, SettingsError> {
    let defaults = LinesOptions::default();
    Ok(LinesOptions {
        unit: s.unit.unwrap_or(defaults.unit),
        min_count: at_least_one(s.min_count, defaults.min_count, "min_count")?,
        normalize: s.normalize.unwrap_or(defaults.normalize),
        partitions: at_least_one(s.partitions, defaults.partitions, "partitions")?,
        ..defaults
    })
}

/// A `dedup_exact` step from its pipeline settings (the options of `glmkit dedup exact`).
pub fn exact_step(table: toml::Table) -> Result<Box<dyn CorpusStep>, SettingsError> {
    let s: ExactSettings = settings(table)?;
    let defaults = ExactOptions::default();
    let opts = ExactOptions {
        normalize: s.normalize.unwrap_or(defaults.normalize),
        partitions: at_least_one(s.partitions, defaults.partitions, "partitions")?,
        ..defaults
    };
    Ok(Box::new(exact_dedup(opts)))
}

/// A `dedup_fuzzy` step from its pipeline settings (the options of `glmkit dedup fuzzy`).
pub fn fuzzy_step(table: toml::Table) -> Result<Box<dyn CorpusStep>, SettingsError> {
    let opts = fuzzy_options(settings(table)?)?;
    Ok(Box::new(fuzzy_dedup(opts)))
}

/// A `dedup_lines` step from its pipeline settings (the options of `glmkit dedup lines`).
pub fn lines_step(table: toml::Table) -> Result<Box<dyn CorpusStep>, SettingsError> {
    let opts = lines_options(settings(table)?)?;
    Ok(Box::new(lines_dedup(opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fuzzy(text: &str) -> Result<FuzzyOptions, SettingsError> {
        fuzzy_options(settings(toml::from_str(text).unwrap())?)
    }

    #[test]
    fn settings_default_like_the_command() {
        let opts = fuzzy("").unwrap();
        let defaults = FuzzyOptions::default();
        assert_eq!(opts.minhash, defaults.minhash);
        assert_eq!(
            (
                opts.verify,
                opts.verify_threshold,
                opts.keep,
                opts.partitions
            ),
            (Verify::Signature, 0.8, Keep::First, 16)
        );
        let opts = fuzzy("bands = 9\nrows = 13\nno_verify = true\nkeep = \"longest\"").unwrap();
        assert_eq!((opts.minhash.bands, opts.minhash.rows), (9, 13));
        assert_eq!((opts.verify, opts.keep), (Verify::None, Keep::Longest));
        let lines =
            lines_options(settings(toml::from_str("unit = \"paragraph\"").unwrap()).unwrap())
                .unwrap();
        assert_eq!(
            (lines.unit, lines.min_count, lines.normalize),
            (Unit::Paragraph, 2, Normalization::Aggressive)
        );
    }

    #[test]
    fn bad_settings_name_the_key() {
        let key = |text: &str| fuzzy(text).unwrap_err().key;
        assert_eq!(key("bands = 0").as_deref(), Some("bands"));
        assert_eq!(
            key("verify_threshold = 1.5").as_deref(),
            Some("verify_threshold")
        );
        assert_eq!(
            key("verify = \"exact\"\nno_verify = true").as_deref(),
            Some("no_verify")
        );
        let e = fuzzy("verify = \"maybe\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("verify"), "{e}");
        assert!(e.message.contains("maybe"), "{e}");
        let e = fuzzy("rows = \"many\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rows"), "{e}");
    }
}
