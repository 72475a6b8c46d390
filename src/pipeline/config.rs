//! Pipeline files: a TOML list of steps, built through a registry of step kinds.
//!
//! ```toml
//! # Settings files for the quality rules, laid over the built-in ones (optional).
//! thresholds = ["my-thresholds.toml"]
//!
//! [input]                  # optional: the command line can give these instead
//! paths = ["corpus/*.jsonl.zst"]
//! text_field = "text"
//! id_field = "id"
//!
//! [output]
//! dir = "out"
//!
//! [[step]]
//! kind = "normalize"
//! form = "nfc"
//!
//! [[step]]
//! kind = "langid"
//! keep = ["zh", "en"]
//!
//! [[step]]
//! kind = "c4"
//! ```
//!
//! Each `[[step]]` names its `kind`; the other keys are that step's settings. New kinds join
//! with [`StepRegistry::register`] (document-local steps) or
//! [`StepRegistry::register_corpus_wide`] (steps that see the whole corpus first, such as
//! `dedup_fuzzy`). Errors name the file, the line and the key.

use super::{CorpusStep, PipelineStep, ShardSpec, Step};
use crate::filter::{self, Thresholds};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A pipeline file that could not be used: where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}:{line}: {}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
pub struct ConfigError {
    pub path: String,
    /// 1-based line of the offending key (or of its step's header).
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

/// What a step builder gets besides its own settings.
pub struct BuildContext {
    /// Folder of the pipeline file: relative paths in settings are resolved against it.
    pub base_dir: PathBuf,
    /// Quality-rule settings: built-in files plus the pipeline's `thresholds` files.
    pub thresholds: Arc<Thresholds>,
    /// The pipeline's `thresholds` files (resolved), for steps that add their own.
    pub threshold_files: Vec<PathBuf>,
}

impl BuildContext {
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Builds a step from its settings (the step's table without `kind`).
pub type StepBuilder = fn(toml::Table, &BuildContext) -> Result<Box<dyn Step>, String>;

/// Builds a corpus-wide step from its settings (the step's table without `kind`).
pub type CorpusStepBuilder = fn(toml::Table, &BuildContext) -> Result<Box<dyn CorpusStep>, String>;

#[derive(Clone, Copy)]
enum Builder {
    Document(StepBuilder),
    Corpus(CorpusStepBuilder),
}

/// The step kinds a pipeline file can name.
pub struct StepRegistry {
    builders: BTreeMap<&'static str, Builder>,
}

impl Default for StepRegistry {
    /// The registry with every built-in step kind.
    fn default() -> Self {
        let mut registry = StepRegistry::empty();
        filter::register_steps(&mut registry);
        crate::model::score::register_steps(&mut registry);
        crate::dedup::streaming::register_steps(&mut registry);
        crate::dedup::corpus_steps::register_steps(&mut registry);
        registry
    }
}

impl StepRegistry {
    pub fn empty() -> Self {
        StepRegistry {
            builders: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a document-local step kind.
    pub fn register(&mut self, kind: &'static str, builder: StepBuilder) {
        self.builders.insert(kind, Builder::Document(builder));
    }

    /// Adds (or replaces) a corpus-wide step kind: one that must see every document reaching it
    /// before it decides about any (see [`CorpusStep`]).
    pub fn register_corpus_wide(&mut self, kind: &'static str, builder: CorpusStepBuilder) {
        self.builders.insert(kind, Builder::Corpus(builder));
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.builders.keys().copied()
    }

    pub fn build(
        &self,
        kind: &str,
        settings: toml::Table,
        ctx: &BuildContext,
    ) -> Result<PipelineStep, String> {
        let builder = self.builders.get(kind).ok_or_else(|| {
            format!(
                "unknown step kind `{kind}` (known: {})",
                self.kinds().collect::<Vec<_>>().join(", ")
            )
        })?;
        Ok(match builder {
            Builder::Document(build) => PipelineStep::Document(build(settings, ctx)?),
            Builder::Corpus(build) => PipelineStep::Corpus(build(settings, ctx)?),
        })
    }
}

/// Deserializes a step's settings. Errors keep serde's wording and end with "in `key`" when
/// the message does not name the field already (a value of the wrong type).
pub fn settings<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    // Through text, so that the parser reports where (and so which key) a value failed.
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let message = e.message().trim().to_string();
        if key_in_message(&message).is_some() {
            return message;
        }
        let key = e.span().and_then(|span| {
            let line_start = text[..span.start.min(text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let line = &text[line_start..];
            line.split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
        });
        match key {
            Some(key) => format!("{message} in `{key}`"),
            None => message,
        }
    })
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    #[serde(default)]
    pub paths: Vec<String>,
    pub text_field: Option<String>,
    pub id_field: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    thresholds: Vec<String>,
    #[serde(default)]
    input: InputSection,
    #[serde(default)]
    output: OutputSection,
    #[serde(default)]
    step: Vec<toml::Table>,
}

/// A pipeline file, read and built.
pub struct Pipeline {
    pub input: InputSection,
    pub output: OutputSection,
    /// The steps, in file order, with their kinds and the lines of their `kind` keys.
    pub steps: Vec<PipelineStep>,
    pub kinds: Vec<String>,
    pub lines: Vec<usize>,
    /// The pipeline file, as errors name it.
    pub path: String,
}

impl Pipeline {
    /// Reads and builds a pipeline file with the default registry.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Pipeline, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.display().to_string(),
            line: 0,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path, &StepRegistry::default())
    }

    /// Builds a pipeline from its text; `path` names it in errors and anchors relative paths.
    pub fn parse(
        text: &str,
        path: &Path,
        registry: &StepRegistry,
    ) -> Result<Pipeline, ConfigError> {
        let shown = path.display().to_string();
        let raw: RawPipeline = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            let message = e.message().trim().to_string();
            ConfigError {
                path: shown.clone(),
                line,
                key: key_in_message(&message),
                message,
            }
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let headers = step_headers(text);
        let top_error = |key: &str, message: String| ConfigError {
            path: shown.clone(),
            line: key_line(text, 0, text.len(), key).unwrap_or(1),
            key: Some(key.to_string()),
            message,
        };
        let files: Vec<PathBuf> = raw
            .thresholds
            .iter()
            .map(|f| crate::filter::thresholds::resolve_file(&base_dir, f))
            .collect();
        let thresholds =
            Thresholds::with_files(&files).map_err(|e| top_error("thresholds", e.to_string()))?;
        let ctx = BuildContext {
            base_dir,
            thresholds: Arc::new(thresholds),
            threshold_files: files,
        };
        let mut steps = Vec::new();
        let mut kinds = Vec::new();
        let mut lines = Vec::new();
        for (i, mut table) in raw.step.into_iter().enumerate() {
            let (start, end) = headers.get(i).copied().unwrap_or((0, text.len()));
            let header_line = line_of(text, start);
            let fail = |key: Option<String>, message: String| {
                let line = key
                    .as_deref()
                    .and_then(|k| key_line(text, start, end, k))
                    .unwrap_or(header_line);
                ConfigError {
                    path: shown.clone(),
                    line,
                    key,
                    message: format!("step {}: {message}", i + 1),
                }
            };
            let kind = match table.remove("kind") {
                Some(toml::Value::String(kind)) => kind,
                Some(_) => return Err(fail(Some("kind".into()), "`kind` must be a string".into())),
                None => return Err(fail(None, "missing key `kind`".into())),
            };
            let step = registry.build(&kind, table, &ctx).map_err(|message| {
                let key = key_in_message(&message)
                    .or_else(|| message.contains("step kind").then(|| "kind".into()));
                fail(key, format!("({kind}) {message}"))
            })?;
            steps.push(step);
            kinds.push(kind);
            lines.push(key_line(text, start, end, "kind").unwrap_or(header_line));
        }
        if steps.is_empty() {
            return Err(ConfigError {
                path: shown.clone(),
                line: 1,
                key: None,
                message: "no [[step]] in the pipeline".into(),
            });
        }
        Ok(Pipeline {
            input: raw.input,
            output: raw.output,
            steps,
            kinds,
            lines,
            path: shown,
        })
    }

    /// Refuses to run a corpus-wide step as one task of several: its decisions need every
    /// document of the corpus (the staged `glmkit dedup` commands split that work into tasks).
    pub fn check_shard(&self, shard: ShardSpec) -> Result<(), ConfigError> {
        if shard.count <= 1 {
            return Ok(());
        }
        for (i, step) in self.steps.iter().enumerate() {
            if let PipelineStep::Corpus(step) = step {
                return Err(ConfigError {
                    path: self.path.clone(),
                    line: self.lines[i],
                    key: Some("kind".into()),
                    message: format!(
                        "step {}: ({}) needs every document of the corpus in one task, so a \
                         pipeline with it cannot run as shard {shard}; {}",
                        i + 1,
                        self.kinds[i],
                        step.when_sharded(),
                    ),
                });
            }
        }
        Ok(())
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Byte ranges of the `[[step]]` tables, in order: from the header to the next table header.
fn step_headers(text: &str) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0;
    let mut open: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            if let Some(s) = open.take() {
                out.push((s, offset));
            }
            let name = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            if t.starts_with("[[") && name == "step" {
                open = Some(offset);
            }
        }
        offset += line.len();
    }
    if let Some(s) = open {
        out.push((s, text.len()));
    }
    out
}

/// The line where `key = ...` is set within a byte range.
fn key_line(text: &str, start: usize, end: usize, key: &str) -> Option<usize> {
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let t = line.trim_start();
        if let Some(rest) = t
            .strip_prefix(key)
            .or_else(|| t.strip_prefix(&format!("\"{key}\"")))
        {
            if rest.trim_start().starts_with('=') {
                return Some(line_of(text, offset));
            }
        }
        offset += line.len();
    }
    None
}

/// The field a serde message is about: "unknown field `x`", "missing field `x`", "... in `x`".
fn key_in_message(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `", "in `", "key `"] {
        if let Some(i) = message.find(marker) {
            let rest = &message[i + marker.len()..];
            if let Some(j) = rest.find('`') {
                return Some(
                    rest[..j]
                        .split('.')
                        .next_back()
                        .unwrap_or(&rest[..j])
                        .to_string(),
                );
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipeline, ConfigError> {
        Pipeline::parse(text, Path::new("p.toml"), &StepRegistry::default())
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

        let e = parse("[[step]]\nkind = \"langid\"\nkeep = [\"xx\"]\n")
            .err()
            .unwrap();
        assert!(e.message.contains("unknown language code `xx`"), "{e}");
    }
}
