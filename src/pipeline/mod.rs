//! Steps, the sharded executor, stats and resume.

mod config;
mod step;

pub use config::{
    settings, BuildContext, ConfigError, InputSection, OutputSection, Pipeline, StepBuilder,
    StepRegistry,
};
pub use step::{Rejection, Step, Verdict};
