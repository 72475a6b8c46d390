//! HF `tokenizer.json` for a byte-level BPE: `Split(pattern, Isolated)` + `ByteLevel` without its
//! own regex, a BPE model with merges, special tokens as added tokens.

use super::FormatError;
use crate::bpe::byte_level;
use crate::bpe::pattern::GPT2;
use crate::bpe::vocab::{Merge, Token, Vocabulary};
use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The `tokenizer.json` document for a vocabulary.
pub fn to_tokenizer_json(vocab: &Vocabulary) -> Value {
    let added: Vec<Value> = vocab
        .specials()
        .into_iter()
        .map(|(content, id)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let mut model_vocab = Map::new();
    for t in vocab.tokens() {
        model_vocab.insert(t.hf_string(), Value::from(model_vocab.len()));
    }
    let names: Vec<String> = vocab.tokens().iter().map(Token::hf_string).collect();
    let merges: Vec<Value> = vocab
        .merges()
        .iter()
        .map(|m| json!([names[m.left as usize], names[m.right as usize]]))
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": vocab.pattern()}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
            ]
        },
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": model_vocab, "merges": merges
        }
    })
}

pub fn write_tokenizer_json(vocab: &Vocabulary, path: &Path) -> Result<(), FormatError> {
    let text =
        serde_json::to_string_pretty(&to_tokenizer_json(vocab)).expect("JSON values serialize");
    std::fs::write(path, text).map_err(|source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub fn read_tokenizer_json(path: &Path) -> Result<Vocabulary, FormatError> {
    let text = std::fs::read_to_string(path).map_err(|source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|source| FormatError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    from_tokenizer_json(&doc, path)
}

/// The pattern of a supported pre-tokenizer: `Split(Regex)` (alone or followed by
/// `ByteLevel(use_regex=false)` in a `Sequence`), or `ByteLevel(use_regex=true)` (GPT-2's).
fn pattern_of(pre: &Value, path: &Path) -> Result<String, FormatError> {
    let kind = pre.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "Sequence" => {
            let steps = pre
                .get("pretokenizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut pattern = None;
            for step in &steps {
                match step.get("type").and_then(Value::as_str) {
                    Some("ByteLevel") if step.get("use_regex") == Some(&Value::Bool(false)) => {}
                    _ if pattern.is_none() => pattern = Some(pattern_of(step, path)?),
                    _ => {
                        return Err(FormatError::invalid(
                            path,
                            "pre_tokenizer: more than one splitting step is not supported",
                        ))
                    }
                }
            }
            pattern.ok_or_else(|| FormatError::invalid(path, "pre_tokenizer: no Split step"))
        }
        "Split" => {
            if pre.get("behavior").and_then(Value::as_str) != Some("Isolated")
                || pre.get("invert") == Some(&Value::Bool(true))
            {
                return Err(FormatError::invalid(
                    path,
                    "pre_tokenizer: only Split with behavior Isolated, invert false is supported",
                ));
            }
            pre.pointer("/pattern/Regex")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    FormatError::invalid(
                        path,
                        "pre_tokenizer: Split needs a {\"Regex\": ..} pattern",
                    )
                })
        }
        "ByteLevel" if pre.get("use_regex") != Some(&Value::Bool(false)) => {
            if pre.get("add_prefix_space") == Some(&Value::Bool(true)) {
                return Err(FormatError::invalid(
                    path,
                    "pre_tokenizer: ByteLevel add_prefix_space=true is not supported",
                ));
            }
            Ok(GPT2.to_string())
        }
        other => Err(FormatError::invalid(
            path,
            format!("pre_tokenizer type `{other}` is not supported"),
        )),
    }
}

pub fn from_tokenizer_json(doc: &Value, path: &Path) -> Result<Vocabulary, FormatError> {
    let model = doc
        .get("model")
        .ok_or_else(|| FormatError::invalid(path, "no `model`"))?;
    if model.get("type").and_then(Value::as_str) != Some("BPE") {
        return Err(FormatError::invalid(path, "model type is not BPE"));
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if model.get(key).is_some_and(|v| !v.is_null()) {
            return Err(FormatError::invalid(
                path,
                format!("model.{key} is not supported"),
            ));
        }
    }
    if model.get("ignore_merges") == Some(&Value::Bool(true)) {
        return Err(FormatError::invalid(
            path,
            "model.ignore_merges=true is not supported",
        ));
    }
    if doc.get("normalizer").is_some_and(|v| !v.is_null()) {
        return Err(FormatError::invalid(
            path,
            "a normalizer is not supported (byte-level BPE needs none)",
        ));
    }
    let pattern = pattern_of(doc.get("pre_tokenizer").unwrap_or(&Value::Null), path)?;

    let mut by_id: Vec<Option<Token>> = Vec::new();
    let mut put = |id: u64, token: Token| -> Result<(), FormatError> {
        let id = usize::try_from(id).map_err(|_| FormatError::invalid(path, "id too large"))?;
        if by_id.len() <= id {
            by_id.resize(id + 1, None);
        }
        by_id[id] = Some(token);
        Ok(())
    };
    let vocab = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| FormatError::invalid(path, "model.vocab is not an object"))?;
    let added = doc
        .get("added_tokens")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut added_ids = FxHashMap::default();
    for a in &added {
        let (Some(id), Some(content)) = (
            a.get("id").and_then(Value::as_u64),
            a.get("content").and_then(Value::as_str),
        ) else {
            return Err(FormatError::invalid(
                path,
                "added_tokens entry without id/content",
            ));
        };
        added_ids.insert(id, content.to_string());
    }
    for (name, id) in vocab {
        let id = id.as_u64().ok_or_else(|| {
            FormatError::invalid(path, format!("vocab entry `{name}` has no integer id"))
        })?;
        if added_ids.contains_key(&id) {
            continue;
        }
        let bytes = byte_level::decode_str(name).ok_or_else(|| {
            FormatError::invalid(
                path,
                format!("vocab entry `{name}` is not a byte-level string"),
            )
        })?;
        put(id, Token::Bytes(bytes))?;
    }
    for (&id, content) in &added_ids {
        put(id, Token::Special(content.clone()))?;
    }
    let tokens: Vec<Token> = by_id
        .into_iter()
        .enumerate()
        .map(|(id, t)| t.ok_or_else(|| FormatError::invalid(path, format!("no token has id {id}"))))
        .collect::<Result<_, _>>()?;

    let names: FxHashMap<String, u32> = vocab
        .iter()
        .filter_map(|(name, id)| Some((name.clone(), id.as_u64()? as u32)))
        .collect();
    let merges_json = model
        .get("merges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut merges = Vec::with_capacity(merges_json.len());
    for (rank, m) in merges_json.iter().enumerate() {
        let (left, right) = match m {
            Value::String(s) => match s.split_once(' ') {
                Some((l, r)) => (l.to_string(), r.to_string()),
                None => {
                    return Err(FormatError::invalid(
                        path,
                        format!("merge {rank} `{s}` has no space"),
                    ))
                }
            },
            Value::Array(parts) if parts.len() == 2 => match (parts[0].as_str(), parts[1].as_str())
            {
                (Some(l), Some(r)) => (l.to_string(), r.to_string()),
                _ => {
                    return Err(FormatError::invalid(
                        path,
                        format!("merge {rank} is not two strings"),
                    ))
                }
            },
            _ => {
                return Err(FormatError::invalid(
                    path,
                    format!("merge {rank} is neither \"a b\" nor [a, b]"),
                ))
            }
        };
        let id = |s: &str| {
            names.get(s).copied().ok_or_else(|| {
                FormatError::invalid(path, format!("merge {rank}: `{s}` is not in the vocab"))
            })
        };
        let result = id(&format!("{left}{right}"))?;
        merges.push(Merge {
            left: id(&left)?,
            right: id(&right)?,
            result,
        });
    }
    Vocabulary::new(pattern, tokens, merges).map_err(|source| FormatError::Vocab {
        path: path.to_path_buf(),
        source,
    })
}
