//! Reading only the id and text of a JSON record.
//!
//! Dedup's hashing stages and the executor's pass-through mode need two fields of a record, not
//! a map of all of them: this reader checks the whole line (so that it accepts exactly the
//! lines [`decode_json_line`](super::decode_json_line) turns into documents) but builds only
//! the id and the text, borrowing the text when it has no escapes.

use super::{ReadOptions, ANNOTATION_KEY};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The id and text of a JSON line that would decode into a document.
#[derive(Debug, PartialEq)]
pub struct IdText<'a> {
    /// The id field as the corpus readers take it (a string, or a number in its JSON form);
    /// `None` when the record has none (or it is null): the readers then generate one.
    pub id: Option<Cow<'a, str>>,
    pub text: Cow<'a, str>,
    /// Whether the record has a top-level [`ANNOTATION_KEY`] field (glmkit's annotations from
    /// an earlier run, or an input field of that name).
    pub annotated: bool,
}

/// Reads the id and text of one JSON line, or `None` when the corpus readers would quarantine
/// it (not UTF-8, malformed, not an object, text missing, empty or not a string, bad id).
pub fn read_id_text<'a>(line: &'a [u8], options: &ReadOptions) -> Option<IdText<'a>> {
    let seed = FieldSeed {
        text_field: &options.text_field,
        id_field: &options.id_field,
    };
    // Checked once, fast, so that the parser need not check each string again.
    let line = simdutf8::basic::from_utf8(line).ok()?;
    let mut de = serde_json::Deserializer::from_str(line);
    let (id, text, annotated) = seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    let text = text.filter(|t| !t.is_empty())?;
    let id = match id {
        Some(id) => Some(id?),
        None => None,
    };
    Some(IdText {
        id,
        text,
        annotated,
    })
}

struct FieldSeed<'f> {
    text_field: &'f str,
    id_field: &'f str,
}

/// (id: None = absent or null, Some(None) = not a string or number; text; annotated).
type Fields<'a> = (Option<Option<Cow<'a, str>>>, Option<Cow<'a, str>>, bool);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Fields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // A repeated key counts once, with its last value, as in the full decoder's map.
        let (mut id, mut text, mut annotated) = (None, None, false);
        while let Some(key) = map.next_key::<CowStr>()? {
            annotated |= key.0 == ANNOTATION_KEY;
            if key.0 == self.text_field {
                text = Some(map.next_value::<CowStr>()?.0);
            } else if key.0 == self.id_field {
                id = map.next_value::<IdValue>()?.0;
            } else {
                map.next_value::<CheckedValue>()?;
            }
        }
        Ok((id, text, annotated))
    }
}

/// Any JSON value, checked as the full decoder checks it and then dropped. (serde's
/// `IgnoredAny` skips numbers without checking their range, so it accepts `1e999`, which the
/// full decoder refuses.)
struct CheckedValue;

impl<'de> serde::Deserialize<'de> for CheckedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedValue)
    }
}

impl<'de> Visitor<'de> for CheckedValue {
    type Value = CheckedValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(CheckedValue)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(CheckedValue)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(CheckedValue)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(CheckedValue)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(CheckedValue)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(CheckedValue)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<CheckedValue>()?.is_some() {}
        Ok(CheckedValue)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<CheckedValue, CheckedValue>()?.is_some() {}
        Ok(CheckedValue)
    }
}

struct CowStr<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An id as the corpus readers take it: a string or a number; null counts as absent.
struct IdValue<'de>(Option<Option<Cow<'de, str>>>);

impl<'de> serde::Deserialize<'de> for IdValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(IdValue(match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(Some(Cow::Owned(s))),
            serde_json::Value::Number(n) => Some(Some(Cow::Owned(n.to_string()))),
            _ => Some(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{decode_json_line, Record, Source};

    /// The reader accepts a line exactly when the full decoder makes a document of it, with
    /// the same id (when the record has one) and text.
    #[test]
    fn agrees_with_the_full_decoder() {
        let lines: &[&[u8]] = &[
            br#"{"id": "a", "text": "plain"}"#,
            br#"{"text": "esc\n\"aped\" \u00e9", "id": 7, "x": [1, {"y": null}]}"#,
            br#"{"text": "no id"}"#,
            br#"{"text": "null id", "id": null}"#,
            br#"{"text": "t", "text": "last wins", "id": "d"}"#,
            br#"  {"text": "spaces around", "id": 1.5}  "#,
            b"{\"text\": \"caf\xff\"}",
            br#"{"text": "#,
            br#"[1, 2]"#,
            br#"{"body": "x"}"#,
            br#"{"text": 3}"#,
            br#"{"text": ""}"#,
            br#"{"text": "a", "id": [1]}"#,
            br#"{"text": "a", "id": true}"#,
            br#"{"text": "a"} trailing"#,
            br#"{"text": "a", "x": 1e999}"#,
            br#"{"text": "a", "x": {"y": [1, -1e999]}}"#,
            br#"{"text": "a", "x": "\ud800"}"#,
            br#"{"text": "lone \ud800 in text"}"#,
            br#"{"text": "a", "x": 18446744073709551616}"#,
            b"   ",
            b"",
        ];
        let options = ReadOptions::default();
        for line in lines {
            let source = Source {
                file: "f.jsonl".into(),
                line: 1,
            };
            let full = decode_json_line(line, source, &options);
            let light = read_id_text(line, &options);
            match (&full, &light) {
                (Record::Doc(doc), Some(fields)) => {
                    assert_eq!(fields.text, doc.text.as_str());
                    match &fields.id {
                        Some(id) => assert_eq!(id, doc.id.as_str()),
                        None => assert_eq!(doc.id, "f.jsonl:1"),
                    }
                }
                (Record::Quarantined(_), None) => {}
                _ => panic!(
                    "{}: full {full:?}, light {light:?}",
                    String::from_utf8_lossy(line)
                ),
            }
        }
    }
}
