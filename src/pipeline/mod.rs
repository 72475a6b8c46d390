//! Steps, the sharded executor, stats and resume.

mod step;

pub use step::{Rejection, Step, Verdict};
