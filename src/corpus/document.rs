//! The unit of work: one record of a corpus.

use serde_json::{Map, Value};
use std::sync::Arc;

/// Key under which glmkit writes its own annotations into a record.
pub const ANNOTATION_KEY: &str = "glmkit";

/// Where a record came from, for quarantine reports and generated ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The input file, as given or found on the command line.
    pub file: Arc<str>,
    /// 1-based line (JSONL), row (Parquet) or 1 for a whole `.txt` file.
    pub line: u64,
}

/// One document: its id, its text, and every other field of the input record untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The record's id field, or `<file name>:<line>` when it has none (stable across runs).
    pub id: String,
    pub text: String,
    /// Every field of the input record except the text field, in input order. The id field
    /// stays here when the record had one. glmkit's annotations live under [`ANNOTATION_KEY`].
    pub meta: Map<String, Value>,
    /// Index of the text field among the record's fields, so writers put it back in place.
    pub text_index: usize,
    pub source: Source,
}

impl Document {
    /// A document with no other fields, as read from plain text.
    pub fn new(id: impl Into<String>, text: impl Into<String>, source: Source) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            meta: Map::new(),
            text_index: 0,
            source,
        }
    }

    /// Sets `glmkit.<key>` on this record.
    pub fn annotate(&mut self, key: &str, value: impl Into<Value>) {
        let entry = self
            .meta
            .entry(ANNOTATION_KEY.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            // An input field that happens to be called `glmkit` is kept under another name.
            let previous = std::mem::replace(entry, Value::Object(Map::new()));
            self.meta
                .insert(format!("{ANNOTATION_KEY}_input"), previous);
            return self.annotate(key, value);
        }
        if let Some(map) = entry.as_object_mut() {
            map.insert(key.to_string(), value.into());
        }
    }

    /// Reads `glmkit.<key>`, if set.
    pub fn annotation(&self, key: &str) -> Option<&Value> {
        self.meta.get(ANNOTATION_KEY)?.as_object()?.get(key)
    }

    /// The document's language: the `glmkit.lang` annotation (language id), else the record's
    /// own `lang` field.
    pub fn language(&self) -> Option<&str> {
        self.annotation("lang")
            .or_else(|| self.field("lang"))
            .and_then(|v| v.as_str())
    }

    /// The value of another field of the record, e.g. `lang`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.meta.get(name)
    }
}
