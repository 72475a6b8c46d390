//! Steps, the sharded executor, the output layout, stats and resume.

mod config;
mod executor;
mod output;
mod shard;
mod stats;
mod step;

pub use config::{
    settings, BuildContext, ConfigError, InputSection, OutputSection, Pipeline, StepBuilder,
    StepRegistry,
};
pub use executor::{run, PipelineError, Progress, RunOptions, RunSummary, STOP_AFTER_ENV};
pub use output::{output_stems, write_atomic, Marker, OutputLayout, KEPT, QUARANTINE, REJECTED};
pub use shard::ShardSpec;
pub use stats::{Stats, StepStats};
pub use step::{Rejection, Step, Verdict};
