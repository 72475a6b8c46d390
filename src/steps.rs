//! The catalogue of step kinds that pipeline files name: it sits above the feature modules
//! (filter, dedup, model) and maps each `kind` to the feature function that parses that step's
//! settings and builds it. The pipeline layer below knows only the file's shape
//! ([`StepCatalog`]).
//!
//! | kind | built by |
//! |---|---|
//! | `normalize`, `langid` | [`filter::normalize_step`], [`filter::langid_step`] |
//! | `encoding`, `gopher_repetition`, `gopher_quality`, `c4`, `fineweb` | [`filter::rule_step`] |
//! | `quality` (several rules on one analysis) | [`filter::quality_step`] |
//! | `dedup_exact`, `dedup_fuzzy`, `dedup_lines` (corpus-wide) | [`dedup::corpus_steps`] |
//! | `score`, `ppl_bucket` | [`model::score::score_step`], [`model::score::bucket_step`] |

use crate::dedup;
use crate::filter::{self, FilterContext};
use crate::model;
use crate::pipeline::{settings, ConfigError, Pipeline, PipelineStep, SettingsError, StepCatalog};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What every builder gets besides its own settings.
pub struct BuildContext {
    /// Folder of the pipeline file: relative paths in settings are resolved against it.
    pub base_dir: PathBuf,
    /// The quality-rule settings of the file (its top-level `thresholds`).
    pub filter: FilterContext,
}

/// Builds a step of one kind from its settings (the step's table without `kind`).
pub type Builder =
    Box<dyn Fn(toml::Table, &BuildContext) -> Result<PipelineStep, SettingsError> + Send + Sync>;

/// The step kinds a pipeline file can name.
pub struct Catalog {
    builders: BTreeMap<String, Builder>,
}

/// The top-level keys of a pipeline file that the catalogue reads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopLevel {
    /// Settings files (or preset names) for the quality rules, laid over the built-in ones.
    #[serde(default)]
    thresholds: Vec<String>,
}

fn document(
    step: Result<Box<dyn crate::pipeline::Step>, SettingsError>,
) -> Result<PipelineStep, SettingsError> {
    step.map(PipelineStep::Document)
}

fn corpus_wide(
    step: Result<Box<dyn crate::pipeline::CorpusStep>, SettingsError>,
) -> Result<PipelineStep, SettingsError> {
    step.map(PipelineStep::Corpus)
}

impl Default for Catalog {
    /// Every built-in step kind.
    fn default() -> Self {
        let mut catalog = Catalog::empty();
        catalog.add("normalize", |t, _| document(filter::normalize_step(t)));
        catalog.add("langid", |t, _| document(filter::langid_step(t)));
        for &rule in filter::RULE_NAMES {
            catalog.add(rule, move |t, cx| {
                document(filter::rule_step(rule, t, &cx.filter))
            });
        }
        catalog.add("quality", |t, cx| {
            document(filter::quality_step(t, &cx.filter))
        });
        catalog.add("dedup_exact", |t, _| {
            corpus_wide(dedup::corpus_steps::exact_step(t))
        });
        catalog.add("dedup_fuzzy", |t, _| {
            corpus_wide(dedup::corpus_steps::fuzzy_step(t))
        });
        catalog.add("dedup_lines", |t, _| {
            corpus_wide(dedup::corpus_steps::lines_step(t))
        });
        catalog.add("score", |t, cx| {
            document(model::score::score_step(t, &cx.base_dir))
        });
        catalog.add("ppl_bucket", |t, cx| {
            document(model::score::bucket_step(t, &cx.base_dir))
        });
        catalog
    }
}

impl Catalog {
    pub fn empty() -> Self {
        Catalog {
            builders: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a step kind.
    pub fn add(
        &mut self,
        kind: impl Into<String>,
        builder: impl Fn(toml::Table, &BuildContext) -> Result<PipelineStep, SettingsError>
            + Send
            + Sync
            + 'static,
    ) {
        self.builders.insert(kind.into(), Box::new(builder));
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> + '_ {
        self.builders.keys().map(String::as_str)
    }
}

impl StepCatalog for Catalog {
    type Context = BuildContext;

    fn context(&self, top: toml::Table, base_dir: &Path) -> Result<BuildContext, SettingsError> {
        let top: TopLevel = settings(top)?;
        Ok(BuildContext {
            base_dir: base_dir.to_path_buf(),
            filter: FilterContext::new(base_dir, &top.thresholds)?,
        })
    }

    fn build(
        &self,
        kind: &str,
        settings: toml::Table,
        context: &BuildContext,
    ) -> Result<PipelineStep, SettingsError> {
        let builder = self.builders.get(kind).ok_or_else(|| {
            let known = self.kinds().collect::<Vec<_>>().join(", ");
            SettingsError::at(
                "kind",
                format!("unknown step kind `{kind}` (known: {known})"),
            )
        })?;
        builder(settings, context)
    }
}

/// Reads and builds a pipeline file with every built-in step kind.
pub fn load_pipeline(path: impl AsRef<Path>) -> Result<Pipeline, ConfigError> {
    Pipeline::from_file(path, &Catalog::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipeline, ConfigError> {
        Pipeline::parse(text, Path::new("p.toml"), &Catalog::default())
    }

    #[test]
    fn builds_steps_in_order() {
        let p = parse("[[step]]\nkind = \"normalize\"\n\n[[step]]\nkind = \"langid\"\nkeep = [\"zh\"]\n\n[[step]]\nkind = \"c4\"\n")
            .unwrap();
        assert_eq!(p.kinds, ["normalize", "langid", "c4"]);
        assert_eq!(p.steps[1].name(), "langid");
        assert_eq!(p.lines, [2, 5, 9]);
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = parse(
            "[[step]]\nkind = \"normalize\"\n\n[[step]]\nkind = \"langid\"\nmin_scor = 0.5\n",
        )
        .err()
        .unwrap();
        assert_eq!((e.line, e.key.as_deref()), (6, Some("min_scor")), "{e}");
        assert!(
            e.to_string()
                .starts_with("p.toml:6: key `min_scor`: step 2"),
            "{e}"
        );

        let e = parse("[[step]]\nkind = \"langid\"\nmin_score = \"high\"\n")
            .err()
            .unwrap();
        assert_eq!((e.line, e.key.as_deref()), (3, Some("min_score")), "{e}");

        let e = parse("[[step]]\nkind = \"dedupe\"\n").err().unwrap();
        assert_eq!((e.line, e.key.as_deref()), (2, Some("kind")), "{e}");
        assert!(e.message.contains("unknown step kind `dedupe`"), "{e}");

        let e = parse("[input]\npaths = [\"a\"]\ntext_feld = \"t\"\n[[step]]\nkind = \"c4\"\n")
            .err()
            .unwrap();
        assert_eq!((e.line, e.key.as_deref()), (3, Some("text_feld")), "{e}");

        let e = parse("[[step]]\nform = \"nfc\"\n").err().unwrap();
        assert_eq!(e.line, 1, "{e}");
        assert!(e.message.contains("missing key `kind`"), "{e}");

        let e = parse("[[step]]\nkind = \"langid\"\n\nkeep = [\"xx\"]\n")
            .err()
            .unwrap();
        assert!(e.message.contains("unknown language code `xx`"), "{e}");
        assert_eq!((e.line, e.key.as_deref()), (4, Some("keep")), "{e}");
    }

    #[test]
    fn a_feature_error_names_its_key_without_guessing_from_the_message() {
        // The same key name in another step must not be taken for the one at fault.
        let e = parse(
            "[[step]]\nkind = \"dedup_lines\"\nmin_count = 2\n\n[[step]]\nkind = \"dedup_fuzzy\"\nbands = 0\n",
        )
        .err()
        .unwrap();
        assert_eq!((e.line, e.key.as_deref()), (7, Some("bands")), "{e}");
        assert!(e.message.contains("at least 1"), "{e}");
        // A nested value: the key is the step's own key that holds it.
        let e =
            parse("[[step]]\nkind = \"score\"\nmodel = \"m\"\nmax_ppl_by_lang = { zh = \"x\" }\n")
                .err()
                .unwrap();
        assert_eq!(e.key.as_deref(), Some("max_ppl_by_lang"), "{e}");
        // Top-level keys belong to the catalogue, which knows `thresholds` only.
        let e = parse("threshold = [\"a\"]\n[[step]]\nkind = \"c4\"\n")
            .err()
            .unwrap();
        assert_eq!((e.line, e.key.as_deref()), (1, Some("threshold")), "{e}");
    }

    #[test]
    fn a_quality_step_takes_rule_names_as_the_filter_command_does() {
        let p = parse("[[step]]\nkind = \"quality\"\nrules = [\"gopher\", \"c4\"]\n").unwrap();
        assert_eq!(p.kinds, ["quality"]);
        assert_eq!(p.steps[0].name(), "quality");
        assert!(parse("[[step]]\nkind = \"quality\"\n").is_ok());
        let e = parse("[[step]]\nkind = \"quality\"\nrules = [\"gopher\", \"c5\"]\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("c5"), "{e}");
        assert_eq!(e.key.as_deref(), Some("rules"), "{e}");
    }

    #[test]
    fn a_pipeline_names_a_thresholds_preset_as_it_would_a_file() {
        let p =
            parse("thresholds = [\"published\"]\n[[step]]\nkind = \"gopher_quality\"\n").unwrap();
        assert_eq!(p.steps[0].name(), "gopher_quality");
        let step = "[[step]]\nkind = \"c4\"\nthresholds = [\"published\"]\n";
        assert!(parse(step).is_ok());
        let e = parse("thresholds = [\"publisher\"]\n[[step]]\nkind = \"c4\"\n")
            .err()
            .unwrap();
        let message = e.to_string();
        assert!(
            message.contains("publisher") && message.contains("preset: published"),
            "{message}"
        );
        assert_eq!((e.line, e.key.as_deref()), (1, Some("thresholds")), "{e}");
    }
}
