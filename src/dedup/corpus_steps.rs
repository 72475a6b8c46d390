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
    settings, CorpusInput, CorpusStep, RunOptions, SettingsError, Step, StepError,
};
use serde::Deserialize;

/// `glmkit dedup exact` (in stages) as a pipeline step.
pub struct ExactStep {
    pub opts: ExactOptions,
}

/// `glmkit dedup fuzzy` as a pipeline step.
pub struct FuzzyStep {
    pub opts: FuzzyOptions,
}

/// `glmkit dedup lines` as a pipeline step.
pub struct LinesStep {
    pub opts: LinesOptions,
}

/// The inputs of the stages, from what the graph gives.
fn stage_inputs(input: &CorpusInput) -> Result<InputSet, DedupError> {
    InputSet::new(input.files.to_vec(), input.read.clone())
}

/// The run options of a stage task: the stages before the filter write only to the work
/// directory.
fn task_options(input: &CorpusInput, task: ShardSpec) -> RunOptions {
    let mut run = RunOptions::new(input.work_dir);
    run.threads = input.threads;
    run.shard = task;
    run
}

/// The `--stage` of the dedup commands that stage `index` of `stages` stands for.
fn stage_at(stages: &[Stage], index: usize) -> Result<Stage, StepError> {
    stages
        .get(index)
        .copied()
        .ok_or_else(|| format!("no stage {index} (there are {})", stages.len()).into())
}

const EXACT_STAGES: [Stage; 2] = [Stage::Signatures, Stage::Buckets];
const FUZZY_STAGES: [Stage; 3] = [Stage::Signatures, Stage::Buckets, Stage::Cluster];
const LINES_STAGES: [Stage; 2] = [Stage::Signatures, Stage::Buckets];

impl CorpusStep for ExactStep {
    fn name(&self) -> &str {
        "dedup_exact"
    }

    fn stages(&self) -> Vec<&'static str> {
        vec!["hashes", "groups"]
    }

    fn run_stage(
        &self,
        stage: usize,
        input: &CorpusInput,
        task: ShardSpec,
    ) -> Result<(), StepError> {
        let stage = stage_at(&EXACT_STAGES, stage)?;
        let inputs = stage_inputs(input)?;
        exact::run(
            &inputs,
            &self.opts,
            input.work_dir,
            &task_options(input, task),
            stage,
        )?;
        Ok(())
    }

    fn decider(&self, input: &CorpusInput, task: ShardSpec) -> Result<Box<dyn Step>, StepError> {
        let inputs = stage_inputs(input)?;
        Ok(Box::new(ExactFilter::load_for(
            &inputs,
            &self.opts,
            input.work_dir,
            task,
        )?))
    }
}

impl CorpusStep for FuzzyStep {
    fn name(&self) -> &str {
        "dedup_fuzzy"
    }

    fn stages(&self) -> Vec<&'static str> {
        vec!["signatures", "buckets", "cluster"]
    }

    fn run_stage(
        &self,
        stage: usize,
        input: &CorpusInput,
        task: ShardSpec,
    ) -> Result<(), StepError> {
        let stage = stage_at(&FUZZY_STAGES, stage)?;
        let inputs = stage_inputs(input)?;
        fuzzy::run(
            &inputs,
            &self.opts,
            input.work_dir,
            &task_options(input, task),
            stage,
        )?;
        Ok(())
    }

    fn decider(&self, input: &CorpusInput, _task: ShardSpec) -> Result<Box<dyn Step>, StepError> {
        let inputs = stage_inputs(input)?;
        Ok(Box::new(FuzzyFilter::load(
            &inputs,
            &self.opts,
            input.work_dir,
        )?))
    }
}

impl CorpusStep for LinesStep {
    fn name(&self) -> &str {
        "dedup_lines"
    }

    fn stages(&self) -> Vec<&'static str> {
        vec!["counts", "buckets"]
    }

    fn run_stage(
        &self,
        stage: usize,
        input: &CorpusInput,
        task: ShardSpec,
    ) -> Result<(), StepError> {
        let stage = stage_at(&LINES_STAGES, stage)?;
        let inputs = stage_inputs(input)?;
        lines::run(
            &inputs,
            &self.opts,
            input.work_dir,
            &task_options(input, task),
            stage,
        )?;
        Ok(())
    }

    fn decider(&self, input: &CorpusInput, _task: ShardSpec) -> Result<Box<dyn Step>, StepError> {
        let inputs = stage_inputs(input)?;
        Ok(Box::new(LinesFilter::load(
            &inputs,
            &self.opts,
            input.work_dir,
        )?))
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
    Ok(Box::new(ExactStep { opts }))
}

/// A `dedup_fuzzy` step from its pipeline settings (the options of `glmkit dedup fuzzy`).
pub fn fuzzy_step(table: toml::Table) -> Result<Box<dyn CorpusStep>, SettingsError> {
    let opts = fuzzy_options(settings(table)?)?;
    Ok(Box::new(FuzzyStep { opts }))
}

/// A `dedup_lines` step from its pipeline settings (the options of `glmkit dedup lines`).
pub fn lines_step(table: toml::Table) -> Result<Box<dyn CorpusStep>, SettingsError> {
    let opts = lines_options(settings(table)?)?;
    Ok(Box::new(LinesStep { opts }))
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
