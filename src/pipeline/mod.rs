//! Steps, the sharded executor, phased runs for corpus-wide steps, the output layout, stats
//! and resume.

mod config;
mod executor;
mod output;
mod phases;
mod stats;
mod step;

pub use config::{
    key_line_in_table, settings, ConfigError, InputSection, OutputSection, Pipeline, SettingsError,
    StepCatalog,
};
pub use executor::{run, PipelineError, Progress, RunOptions, RunSummary};
pub use output::{output_stems, write_atomic, Marker, OutputLayout, KEPT, QUARANTINE, REJECTED};
pub use phases::{run_pipeline, WORK_DIR};
pub use stats::{Stats, StepStats};
pub use step::{CorpusInput, CorpusStep, PipelineStep, Rejection, Step, StepError, Verdict};
