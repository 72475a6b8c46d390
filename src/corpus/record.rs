//! What reading yields (documents, quarantined records, stream breaks) and how a JSON line
//! becomes a [`Document`] and back.

use super::{Document, Source};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Which fields of a record hold the text and the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    pub text_field: String,
    pub id_field: String,
    /// The id field was named by the user, so a file that has no such column (Parquet) is an
    /// error; otherwise records without an id get a generated one.
    pub require_id: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            text_field: "text".into(),
            id_field: "id".into(),
            require_id: false,
        }
    }
}

/// One item read from a corpus file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Doc(Document),
    /// A record that could not be made into a document.
    Quarantined(Quarantine),
    /// The file could not be read to its end (truncated or corrupt); nothing follows it.
    Break(StreamBreak),
}

/// A bad record and why it is bad.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Quarantine {
    #[serde(serialize_with = "serialize_str")]
    pub source: Arc<str>,
    /// 1-based line (JSONL) or row (Parquet).
    pub line: u64,
    /// A stable reason code: `invalid_utf8`, `malformed_json`, `not_an_object`,
    /// `missing_text`, `text_not_string`, `empty_text`, `bad_id`, `blank_line`,
    /// `truncated_record`.
    pub reason: &'static str,
    /// The parser's message, when there is one.
    pub error: String,
    /// The start of the raw record (lossy UTF-8, at most [`RAW_EXCERPT_CHARS`] characters).
    pub raw: String,
}

fn serialize_str<S: Serializer>(value: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value)
}

/// How much of a bad record is kept in the quarantine file.
pub const RAW_EXCERPT_CHARS: usize = 2048;

/// Where and why a file stopped being readable.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamBreak {
    pub file: String,
    /// Offset in the decoded stream (bytes for JSONL, rows for Parquet) up to which records
    /// were read.
    pub offset: u64,
    pub error: String,
}

impl Quarantine {
    pub(crate) fn new(
        source: &Source,
        reason: &'static str,
        error: impl ToString,
        raw: &[u8],
    ) -> Self {
        let raw = String::from_utf8_lossy(raw);
        let raw = match raw.char_indices().nth(RAW_EXCERPT_CHARS) {
            Some((cut, _)) => raw[..cut].to_string(),
            None => raw.into_owned(),
        };
        Quarantine {
            source: source.file.clone(),
            line: source.line,
            reason,
            error: error.to_string(),
            raw,
        }
    }
}

/// The id a record without one gets (and keeps in its output, as the last field): its file
/// name and line (or row) number.
pub fn generated_id(source: &Source) -> String {
    let name = std::path::Path::new(&*source.file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.file.to_string());
    format!("{name}:{}", source.line)
}

/// Turns one JSON line into a document, or says why it cannot be one.
pub fn decode_json_line(bytes: &[u8], source: Source, options: &ReadOptions) -> Record {
    let quarantine =
        |reason, error: String| Record::Quarantined(Quarantine::new(&source, reason, error, bytes));
    let text = match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => text,
        // The std check again, for its message, which says where the bad byte is.
        Err(_) => match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => return quarantine("invalid_utf8", e.to_string()),
        },
    };
    if text.trim().is_empty() {
        return quarantine("blank_line", String::new());
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return quarantine("malformed_json", e.to_string()),
    };
    let Value::Object(fields) = value else {
        return quarantine("not_an_object", "the line is JSON but not an object".into());
    };
    match document_from_fields(fields, source.clone(), options) {
        Ok(doc) => Record::Doc(doc),
        Err((reason, error)) => quarantine(reason, error),
    }
}

/// Builds a document from a record's fields (shared by JSONL and Parquet).
pub(crate) fn document_from_fields(
    mut fields: Map<String, Value>,
    source: Source,
    options: &ReadOptions,
) -> Result<Document, (&'static str, String)> {
    let Some(text_index) = fields.keys().position(|k| *k == options.text_field) else {
        return Err(("missing_text", format!("no field `{}`", options.text_field)));
    };
    let text = match fields.shift_remove(&options.text_field) {
        Some(Value::String(text)) => text,
        Some(other) => {
            return Err((
                "text_not_string",
                format!("field `{}` is {}", options.text_field, kind(&other)),
            ))
        }
        None => unreachable!("position found above"),
    };
    if text.is_empty() {
        return Err((
            "empty_text",
            format!("field `{}` is empty", options.text_field),
        ));
    }
    let id = match fields.get(&options.id_field) {
        None | Some(Value::Null) => {
            // The generated id is written into the record, so that outputs (and the kept ids
            // that dedup reports) can be traced back to their source.
            let id = generated_id(&source);
            fields.insert(options.id_field.clone(), Value::String(id.clone()));
            id
        }
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err((
                "bad_id",
                format!("field `{}` is {}", options.id_field, kind(other)),
            ))
        }
    };
    Ok(Document {
        id,
        text,
        meta: fields,
        text_index,
        source,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A document seen as the record it was read from: its fields in input order, the text back in
/// its place. Serializes without copying the document.
pub struct RecordView<'a> {
    pub doc: &'a Document,
    pub text_field: &'a str,
}

impl Serialize for RecordView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let doc = self.doc;
        let mut map = serializer.serialize_map(Some(doc.meta.len() + 1))?;
        let mut text_written = false;
        for (i, (key, value)) in doc.meta.iter().enumerate() {
            if i == doc.text_index {
                map.serialize_entry(self.text_field, &doc.text)?;
                text_written = true;
            }
            map.serialize_entry(key, value)?;
        }
        if !text_written {
            map.serialize_entry(self.text_field, &doc.text)?;
        }
        map.end()
    }
}

impl Document {
    /// The record with the text field back in place, as a JSON map.
    pub fn to_record(&self, text_field: &str) -> Map<String, Value> {
        let mut record = self.meta.clone();
        let index = self.text_index.min(record.len());
        record.shift_insert(
            index,
            text_field.to_string(),
            Value::String(self.text.clone()),
        );
        record
    }

    /// The record as one JSON line (with its newline).
    pub fn to_json_line(&self, text_field: &str) -> Vec<u8> {
        let mut line = Vec::with_capacity(self.text.len() + 64);
        serde_json::to_writer(
            &mut line,
            &RecordView {
                doc: self,
                text_field,
            },
        )
        .expect("serializing a JSON map to memory cannot fail");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source {
            file: "dir/part.jsonl".into(),
            line: 7,
        }
    }

    fn decode(line: &[u8]) -> Record {
        decode_json_line(line, source(), &ReadOptions::default())
    }

    fn reason(record: Record) -> &'static str {
        match record {
            Record::Quarantined(q) => q.reason,
            other => panic!("expected quarantine, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_fields_in_order() {
        let line = br#"{"b":1,"text":"hello","id":"x","z":{"k":[1,2.5,null]}}"#;
        let Record::Doc(doc) = decode(line) else {
            panic!()
        };
        assert_eq!(doc.id, "x");
        assert_eq!(doc.text_index, 1);
        assert_eq!(doc.to_json_line("text"), [&line[..], b"\n"].concat());
        assert_eq!(
            serde_json::Value::Object(doc.to_record("text")),
            serde_json::from_slice::<Value>(line).unwrap()
        );
    }

    #[test]
    fn bad_records_are_quarantined_with_a_reason() {
        assert_eq!(reason(decode(b"{\"text\": \"caf\xff\"}")), "invalid_utf8");
        assert_eq!(reason(decode(b"{\"text\": ")), "malformed_json");
        assert_eq!(reason(decode(b"[1, 2]")), "not_an_object");
        assert_eq!(reason(decode(b"{\"body\": \"x\"}")), "missing_text");
        assert_eq!(reason(decode(b"{\"text\": 3}")), "text_not_string");
        assert_eq!(reason(decode(b"{\"text\": \"\"}")), "empty_text");
        assert_eq!(reason(decode(b"{\"text\": \"a\", \"id\": [1]}")), "bad_id");
        assert_eq!(reason(decode(b"   ")), "blank_line");
    }

    #[test]
    fn missing_id_is_generated_from_file_and_line() {
        let Record::Doc(doc) = decode(br#"{"text":"t"}"#) else {
            panic!()
        };
        assert_eq!(doc.id, "part.jsonl:7");
        let Record::Doc(doc) = decode(br#"{"text":"t","id":12}"#) else {
            panic!()
        };
        assert_eq!(doc.id, "12");
    }
}
