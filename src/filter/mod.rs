//! Filtering: text normalization, language identification and quality rules.
//!
//! - [`normalize`]: Unicode normal form, control characters, whitespace, line endings.
//! - [`langid`]: script + trigram language identification (`glmkit.lang`, `glmkit.lang_score`).
//! - [`rules`]: Gopher quality and repetition, C4, FineWeb and an encoding check, with
//!   per-language settings from [`thresholds`].
//!
//! Every step implements [`crate::pipeline::Step`]; [`build_step`] makes one from its name and
//! settings, as pipeline files and the `filter` command do.

pub mod langid;
pub mod normalize;
pub mod rules;
pub mod script;
pub mod thresholds;
pub mod words;

pub use langid::{Identified, LangIdConfig, LangIdStep, LanguageIdentifier, DEFAULT_LANGUAGES};
pub use normalize::{normalize, NormalizeConfig, NormalizeStep};
pub use rules::{QualityRule, RuleStep, RULE_NAMES};
pub use thresholds::{Thresholds, ThresholdsError};

/// The rules `glmkit filter` runs by default, in order: cheap and decisive first.
pub const DEFAULT_RULES: &[&str] = &[
    "encoding",
    "gopher_repetition",
    "gopher_quality",
    "c4",
    "fineweb",
];
