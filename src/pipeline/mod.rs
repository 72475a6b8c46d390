//! Steps, the sharded executor, pipelines compiled to graphs of stages (for corpus-wide
//! steps and clusters), the output layout, stats and resume.

mod config;
mod executor;
mod graph;
mod output;
mod stats;
mod step;

pub use config::{
    key_line_in_table, settings, ConfigError, InputSection, OutputSection, Pipeline, SettingsError,
    StepCatalog,
};
pub use executor::{run, run_named, PipelineError, Progress, RunOptions, RunSummary};
pub use graph::{stage_progress, Graph, StageKind, StagePlan, StageProgress, WORK_DIR};
pub use output::{output_stems, write_atomic, Marker, OutputLayout, KEPT, QUARANTINE, REJECTED};
pub use stats::{Stats, StepStats};
pub use step::{CorpusInput, CorpusStep, PipelineStep, Rejection, Step, StepError, Verdict};
