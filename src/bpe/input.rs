//! Reading text for the BPE commands: `.txt`, `.jsonl`, `.jsonl.zst`, `.jsonl.gz` (and `.json`
//! as JSON Lines). Records stream in batches of about `batch_bytes` of text so that counting and
//! encoding run in parallel on bounded memory.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Record { path: PathBuf, line: u64, message: String },
    #[error("{path}: unsupported input format (expected .txt, .jsonl, .json, .jsonl.zst or .jsonl.gz)")]
    Format { path: PathBuf },
}

/// One input document.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub text: String,
    /// `glmkit.lang`, else `lang`, when present.
    pub lang: Option<String>,
}

/// How a `.txt` file becomes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxtUnit {
    /// Each line with its line ending (what HF's `train_from_files` feeds the trainer).
    Line,
    /// The whole file is one document.
    File,
}

/// Reading options.
#[derive(Debug, Clone)]
pub struct InputOptions {
    pub text_field: String,
    pub id_field: String,
    pub txt_unit: TxtUnit,
    /// Approximate bytes of text per batch.
    pub batch_bytes: usize,
    /// Whether records need ids (training does not; generating one per line costs time).
    pub with_ids: bool,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            text_field: "text".into(),
            id_field: "id".into(),
            txt_unit: TxtUnit::File,
            batch_bytes: 8 << 20,
            with_ids: true,
        }
    }
}

fn open(path: &Path) -> Result<Box<dyn Read>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.to_string_lossy();
    let file: Box<dyn Read> = if name == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(io)?)
    };
    Ok(if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(io)?)
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        file
    })
}

/// Reads every input and calls `f` with batches of records, in input order.
pub fn for_each_batch<E: From<InputError>>(
    inputs: &[PathBuf],
    options: &InputOptions,
    mut f: impl FnMut(Vec<Record>) -> Result<(), E>,
) -> Result<(), E> {
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    for path in inputs {
        read_file(path, options, |record| {
            bytes += record.text.len();
            batch.push(record);
            if bytes >= options.batch_bytes {
                bytes = 0;
                f(std::mem::take(&mut batch))?;
            }
            Ok::<(), E>(())
        })?;
    }
    if !batch.is_empty() {
        f(batch)?;
    }
    Ok(())
}

fn read_file<E: From<InputError>>(
    path: &Path,
    options: &InputOptions,
    mut f: impl FnMut(Record) -> Result<(), E>,
) -> Result<(), E> {
    let name = path.to_string_lossy().to_string();
    let base = name.trim_end_matches(".zst").trim_end_matches(".gz");
    let file_name = path
        .file_name()
        .map_or(name.clone(), |n| n.to_string_lossy().to_string());
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, open(path)?);
    if base.ends_with(".txt") || name == "-" {
        let mut line_no = 0u64;
        let mut buf = Vec::new();
        let mut whole = String::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
                break;
            }
            line_no += 1;
            let text = std::str::from_utf8(&buf).map_err(|e| InputError::Record {
                path: path.to_path_buf(),
                line: line_no,
                message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            })?;
            match options.txt_unit {
                TxtUnit::Line => f(Record {
                    id: format!("{file_name}:{line_no}"),
                    text: text.to_string(),
                    lang: None,
                })?,
                TxtUnit::File => whole.push_str(text),
            }
        }
        if options.txt_unit == TxtUnit::File && line_no > 0 {
            f(Record {
                id: format!("{file_name}:1"),
                text: whole,
                lang: None,
            })?;
        }
        return Ok(());
    }
    if !(base.ends_with(".jsonl") || base.ends_with(".json")) {
        return Err(InputError::Format {
            path: path.to_path_buf(),
        }
        .into());
    }
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|source| match source.kind() {
            std::io::ErrorKind::InvalidData => InputError::Record {
                path: path.to_path_buf(),
                line: line_no + 1,
                message: "invalid UTF-8".into(),
            },
            _ => InputError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| InputError::Record {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let mut value: Value = serde_json::from_str(&line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let obj = value.as_object_mut().ok_or_else(|| bad("not a JSON object".into()))?;
        let text = match obj.remove(&options.text_field) {
            Some(Value::String(s)) => s,
            Some(_) => return Err(bad(format!("field `{}` is not a string", options.text_field)).into()),
            None => return Err(bad(format!("no `{}` field", options.text_field)).into()),
        };
        let id = match obj.get(&options.id_field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => format!("{file_name}:{line_no}"),
        };
        let lang = obj
            .get(crate::corpus::ANNOTATION_KEY)
            .and_then(|g| g.get("lang"))
            .or_else(|| obj.get("lang"))
            .and_then(Value::as_str)
            .map(str::to_string);
        f(Record { id, text, lang })?;
    }
    Ok(())
}
