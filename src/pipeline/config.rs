//! Pipeline files: a TOML list of steps, built through a catalogue of step kinds.
//!
//! ```toml
//! # Top-level keys other than input, output and step belong to the catalogue (glmkit's
//! # reads `thresholds`: settings files for the quality rules).
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
//! This layer knows the file's shape, not its step kinds: a [`StepCatalog`] (glmkit's is
//! `crate::steps::Catalog`, above the feature modules) turns each `[[step]]` table into a step.
//! Builders report a [`SettingsError`] that names the key at fault; errors of the file
//! ([`ConfigError`]) name the file, the line and the key.

use super::PipelineStep;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::Path;

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

/// Settings that could not be used, and the key at fault when one is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
pub struct SettingsError {
    pub key: Option<String>,
    pub message: String,
}

impl SettingsError {
    /// An error about the settings as a whole.
    pub fn new(message: impl ToString) -> Self {
        SettingsError {
            key: None,
            message: message.to_string(),
        }
    }

    /// An error about the value of `key`.
    pub fn at(key: impl Into<String>, message: impl ToString) -> Self {
        SettingsError {
            key: Some(key.into()),
            message: message.to_string(),
        }
    }
}

/// Deserializes settings (a step's table without `kind`, or a section of the file). The error
/// names the key whose value failed (its path, tracked while deserializing), or the unknown or
/// missing key that serde names.
pub fn settings<T: DeserializeOwned>(table: toml::Table) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().trim().to_string();
        let key = match path.as_str() {
            "." | "" => key_in_message(&message),
            path => path.split('.').find(|k| !k.is_empty()).map(str::to_string),
        };
        SettingsError { key, message }
    })
}

/// Turns the `[[step]]` tables of a pipeline file into steps.
pub trait StepCatalog {
    /// What every builder gets besides its own settings (made once per file).
    type Context;

    /// Reads the file's top-level keys other than `input`, `output` and `step` (an unknown one
    /// is an error); `base_dir` is the folder of the pipeline file, for relative paths.
    fn context(&self, top: toml::Table, base_dir: &Path) -> Result<Self::Context, SettingsError>;

    /// Builds one step from its kind and its settings (the table without `kind`). An unknown
    /// kind is an error at key `kind`.
    fn build(
        &self,
        kind: &str,
        settings: toml::Table,
        context: &Self::Context,
    ) -> Result<PipelineStep, SettingsError>;
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
    /// Reads and builds a pipeline file.
    pub fn from_file<C: StepCatalog>(
        path: impl AsRef<Path>,
        catalog: &C,
    ) -> Result<Pipeline, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.display().to_string(),
            line: 0,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path, catalog)
    }

    /// Builds a pipeline from its text; `path` names it in errors and anchors relative paths.
    pub fn parse<C: StepCatalog>(
        text: &str,
        path: &Path,
        catalog: &C,
    ) -> Result<Pipeline, ConfigError> {
        let shown = path.display().to_string();
        let mut top: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            let message = e.message().trim().to_string();
            ConfigError {
                path: shown.clone(),
                line,
                key: key_in_message(&message),
                message,
            }
        })?;
        let tables = table_ranges(text);
        // An error in the top-level keys or in a section: at the key's line within its range.
        let section_error = |section: &str, e: SettingsError| {
            let (start, end) = tables
                .iter()
                .find(|t| t.name == section && !t.array)
                .map_or((0, text.len()), |t| (t.start, t.end));
            let line = e.key.as_deref().and_then(|k| key_line(text, start, end, k));
            ConfigError {
                path: shown.clone(),
                line: line.unwrap_or(line_of(text, start)),
                key: e.key,
                message: e.message,
            }
        };
        let mut section = |name: &str| match top.remove(name) {
            None => Ok(toml::Table::new()),
            Some(toml::Value::Table(t)) => Ok(t),
            Some(_) => Err(section_error(
                "",
                SettingsError::at(name, "must be a table"),
            )),
        };
        let input: InputSection =
            settings(section("input")?).map_err(|e| section_error("input", e))?;
        let output: OutputSection =
            settings(section("output")?).map_err(|e| section_error("output", e))?;
        let step_tables = match top.remove("step") {
            None => Vec::new(),
            Some(toml::Value::Array(steps)) => steps,
            Some(_) => {
                let e = SettingsError::at("step", "must be an array of tables ([[step]])");
                return Err(section_error("", e));
            }
        };
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let context = catalog
            .context(top, &base_dir)
            .map_err(|e| section_error("", e))?;

        let step_ranges: Vec<&TableRange> = tables
            .iter()
            .filter(|t| t.array && t.name == "step")
            .collect();
        let mut steps = Vec::new();
        let mut kinds = Vec::new();
        let mut lines = Vec::new();
        for (i, table) in step_tables.into_iter().enumerate() {
            let (start, end) = step_ranges
                .get(i)
                .map_or((0, text.len()), |t| (t.start, t.end));
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
            let toml::Value::Table(mut table) = table else {
                return Err(fail(None, "a step must be a table ([[step]])".into()));
            };
            let kind = match table.remove("kind") {
                Some(toml::Value::String(kind)) => kind,
                Some(_) => return Err(fail(Some("kind".into()), "`kind` must be a string".into())),
                None => return Err(fail(None, "missing key `kind`".into())),
            };
            let step = catalog
                .build(&kind, table, &context)
                .map_err(|e| fail(e.key, format!("({kind}) {}", e.message)))?;
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
            input,
            output,
            steps,
            kinds,
            lines,
            path: shown,
        })
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where a table of the file is: its header's name, whether it is an array element (`[[x]]`),
/// and its byte range (from the header to the next header). The top-level keys are the range
/// named "" before the first header.
struct TableRange {
    name: String,
    array: bool,
    start: usize,
    end: usize,
}

fn table_ranges(text: &str) -> Vec<TableRange> {
    let mut out = vec![TableRange {
        name: String::new(),
        array: false,
        start: 0,
        end: text.len(),
    }];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            if let Some(last) = out.last_mut() {
                last.end = offset;
            }
            let name = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            out.push(TableRange {
                name: name.to_string(),
                array: t.starts_with("[["),
                start: offset,
                end: text.len(),
            });
        }
        offset += line.len();
    }
    out
}

/// The 1-based line where `key = ...` is set in the table `[table]` of a TOML text (`""`: the
/// top-level keys), for errors that name a key but not its place.
pub fn key_line_in_table(text: &str, table: &str, key: &str) -> Option<usize> {
    let range = table_ranges(text)
        .into_iter()
        .find(|t| t.name == table && !t.array)?;
    key_line(text, range.start, range.end, key)
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
    use crate::corpus::Document;
    use crate::pipeline::{Step, Verdict};

    /// A catalogue of one kind, `keep`, with one setting, and one top-level key, `note`.
    struct OneKind;

    struct Keep;

    impl Step for Keep {
        fn name(&self) -> &str {
            "keep"
        }
        fn apply(&self, _: &mut Document) -> Result<Verdict, crate::pipeline::StepError> {
            Ok(Verdict::Keep)
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct KeepSettings {
        #[serde(default)]
        weight: u32,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        note: Option<String>,
    }

    impl StepCatalog for OneKind {
        type Context = ();
        fn context(&self, top: toml::Table, _: &Path) -> Result<(), SettingsError> {
            settings::<Top>(top).map(|_| ())
        }
        fn build(
            &self,
            kind: &str,
            table: toml::Table,
            _: &(),
        ) -> Result<PipelineStep, SettingsError> {
            if kind != "keep" {
                return Err(SettingsError::at(
                    "kind",
                    format!("unknown step kind `{kind}`"),
                ));
            }
            let _: KeepSettings = settings(table)?;
            Ok(PipelineStep::Document(Box::new(Keep)))
        }
    }

    fn parse(text: &str) -> Result<Pipeline, ConfigError> {
        Pipeline::parse(text, Path::new("p.toml"), &OneKind)
    }

    #[test]
    fn sections_and_steps_are_read() {
        let p = parse(
            "note = \"x\"\n[input]\npaths = [\"a\"]\n[output]\ndir = \"o\"\n\n[[step]]\nkind = \"keep\"\n",
        )
        .unwrap();
        assert_eq!(p.input.paths, ["a"]);
        assert_eq!(p.output.dir.as_deref(), Some("o"));
        assert_eq!(
            (p.kinds.as_slice(), p.lines.as_slice()),
            (&["keep".to_string()][..], &[8][..])
        );
    }

    #[test]
    fn errors_name_the_line_of_the_key_in_its_own_table() {
        let e = |text: &str| parse(text).err().unwrap();
        // A bad value in the second step, while the first step has the same key.
        let err = e("[[step]]\nkind = \"keep\"\nweight = 1\n[[step]]\nkind = \"keep\"\nweight = \"heavy\"\n");
        assert_eq!((err.line, err.key.as_deref()), (6, Some("weight")), "{err}");
        assert!(err.message.starts_with("step 2: (keep) "), "{err}");
        // An unknown top-level key, reported by the catalogue.
        let err = e("notes = 1\n[[step]]\nkind = \"keep\"\n");
        assert_eq!((err.line, err.key.as_deref()), (1, Some("notes")), "{err}");
        // An unknown key of [output] is found in [output], not in [input].
        let err = e("[input]\ndirs = 1\n[output]\ndirs = 2\n[[step]]\nkind = \"keep\"\n");
        assert_eq!((err.line, err.key.as_deref()), (2, Some("dirs")), "{err}");
        let err = e("[output]\ndirs = 2\n[[step]]\nkind = \"keep\"\n");
        assert_eq!((err.line, err.key.as_deref()), (2, Some("dirs")), "{err}");
        let err = e("[[step]]\nkind = \"drop\"\n");
        assert_eq!((err.line, err.key.as_deref()), (2, Some("kind")), "{err}");
        let err = e("[input]\npaths = []\n");
        assert_eq!(err.message, "no [[step]] in the pipeline");
    }

    #[test]
    fn settings_name_the_key_whose_value_failed() {
        let table = |text: &str| -> toml::Table { toml::from_str(text).unwrap() };
        let err = settings::<KeepSettings>(table("weight = -1")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("weight"), "{err}");
        let err = settings::<KeepSettings>(table("wieght = 1")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("wieght"), "{err}");
        assert!(
            err.to_string().starts_with("key `wieght`: unknown field"),
            "{err}"
        );
    }
}
