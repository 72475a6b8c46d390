//! Parquet rows <-> records, through polars' eager reader and writer.
//!
//! Columns of scalar types (booleans, integers, floats, strings) and lists of them are read into
//! JSON values; other column types are refused with an error naming the column, rather than
//! converted with loss. Written back to Parquet, a column keeps the type it had in the input
//! file; a field that came from JSON gets the narrowest type that holds all its values, and
//! objects or mixed-type fields (such as glmkit's own annotations) are stored as JSON text.

use super::record::{document_from_fields, Quarantine};
use super::{CorpusError, ReadOptions, Record, Source, StreamBreak};
use polars::prelude::*;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows read per slice: bounds memory for large files (polars' eager reader has no streaming).
const ROWS_PER_SLICE: usize = 4096;

/// Column name -> Parquet/polars type, as found in an input file.
pub type ColumnTypes = HashMap<String, DataType>;

/// Reads a Parquet file slice by slice.
pub(crate) struct ParquetRows {
    path: PathBuf,
    file: Arc<str>,
    options: ReadOptions,
    total: usize,
    next_row: usize,
    broken: bool,
}

impl ParquetRows {
    pub fn open(path: &Path, file: Arc<str>, options: &ReadOptions) -> Result<Self, CorpusError> {
        let handle = File::open(path).map_err(|e| CorpusError::io(path, &e))?;
        let mut reader = ParquetReader::new(handle);
        // A file whose footer cannot be read has no rows to salvage: report a break at row 0.
        let (total, broken) = match reader.num_rows() {
            Ok(n) => (n, false),
            Err(_) => (0, true),
        };
        if let Ok(schema) = reader.schema() {
            let columns: Vec<&str> = schema.iter_values().map(|f| f.name.as_str()).collect();
            check_columns(path, &columns, options)?;
        }
        Ok(ParquetRows {
            path: path.to_path_buf(),
            file,
            options: options.clone(),
            total,
            next_row: 0,
            broken,
        })
    }

    /// The next slice of records, or nothing once the file is done.
    pub fn next_batch(&mut self) -> Vec<Record> {
        if self.broken {
            self.broken = false;
            self.next_row = self.total;
            let error = self
                .read_slice(0, 0)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return vec![self.stream_break(0, format!("cannot read the file's metadata: {error}"))];
        }
        if self.next_row >= self.total {
            return Vec::new();
        }
        let start = self.next_row;
        let len = ROWS_PER_SLICE.min(self.total - start);
        self.next_row += len;
        match self
            .read_slice(start, len)
            .and_then(|df| self.rows_to_records(&df, start))
        {
            Ok(records) => records,
            Err(error) => {
                self.next_row = self.total;
                vec![self.stream_break(start as u64, error.to_string())]
            }
        }
    }

    fn stream_break(&self, offset: u64, error: String) -> Record {
        Record::Break(StreamBreak {
            file: self.file.to_string(),
            offset,
            error,
        })
    }

    fn read_slice(&self, start: usize, len: usize) -> PolarsResult<DataFrame> {
        let handle = File::open(&self.path)?;
        ParquetReader::new(handle)
            .with_slice(Some((start, len)))
            .finish()
    }

    fn rows_to_records(&self, df: &DataFrame, start: usize) -> PolarsResult<Vec<Record>> {
        let columns = df.columns();
        for column in columns {
            check_supported(column.dtype()).map_err(|dtype| {
                polars_err!(ComputeError: "column `{}` has type {dtype}, which glmkit cannot carry without loss", column.name())
            })?;
        }
        let mut records = Vec::with_capacity(df.height());
        for row in 0..df.height() {
            let mut fields = Map::new();
            for column in columns {
                fields.insert(column.name().to_string(), any_to_json(&column.get(row)?));
            }
            let source = Source {
                file: self.file.clone(),
                line: (start + row + 1) as u64,
            };
            records.push(
                match document_from_fields(fields.clone(), source.clone(), &self.options) {
                    Ok(doc) => Record::Doc(doc),
                    Err((reason, error)) => {
                        let raw = serde_json::to_vec(&fields).unwrap_or_default();
                        Record::Quarantined(Quarantine::new(&source, reason, error, &raw))
                    }
                },
            );
        }
        Ok(records)
    }
}

/// A file without the text column (or without the id column the user named) is a schema error,
/// found before any row is read: otherwise every row would be quarantined as `missing_text`.
fn check_columns(path: &Path, columns: &[&str], options: &ReadOptions) -> Result<(), CorpusError> {
    let mut wanted = vec![(&options.text_field, "--text-field")];
    if options.require_id {
        wanted.push((&options.id_field, "--id-field"));
    }
    for (field, flag) in wanted {
        if !columns.contains(&field.as_str()) {
            return Err(CorpusError::BadInput {
                path: path.to_path_buf(),
                message: format!(
                    "no column `{field}` (name another with {flag}); the file's columns: {}",
                    columns.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The column types of a Parquet file, so that a Parquet output can keep them.
pub fn parquet_column_types(path: &Path) -> Result<ColumnTypes, CorpusError> {
    let handle = File::open(path).map_err(|e| CorpusError::io(path, &e))?;
    let schema = ParquetReader::new(handle)
        .schema()
        .map_err(|e| CorpusError::parquet(path, e))?;
    Ok(schema
        .iter_values()
        .map(|field| (field.name.to_string(), DataType::from_arrow_field(field)))
        .collect())
}

fn check_supported(dtype: &DataType) -> Result<(), DataType> {
    match dtype {
        DataType::Boolean | DataType::String | DataType::Null => Ok(()),
        d if d.is_primitive_numeric() => Ok(()),
        DataType::List(inner) => check_supported(inner),
        other => Err(other.clone()),
    }
}

fn any_to_json(value: &AnyValue) -> Value {
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::String(s) => Value::String(s.to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::List(series) => Value::Array(series.iter().map(|v| any_to_json(&v)).collect()),
        AnyValue::Float32(f) => float(*f as f64),
        AnyValue::Float64(f) => float(*f),
        other => {
            if let Some(i) = other.extract::<i64>() {
                Value::Number(i.into())
            } else if let Some(u) = other.extract::<u64>() {
                Value::Number(u.into())
            } else {
                Value::String(other.to_string())
            }
        }
    }
}

fn float(f: f64) -> Value {
    // JSON has no NaN or infinity; those become null.
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Writes records to a Parquet file (zstd-compressed), keeping known column types.
pub(crate) fn write_parquet(
    path: &Path,
    records: &[Map<String, Value>],
    types: &ColumnTypes,
) -> Result<(), CorpusError> {
    let mut names: Vec<&String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in records {
        for key in record.keys() {
            if seen.insert(key) {
                names.push(key);
            }
        }
    }
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let values: Vec<&Value> = records
            .iter()
            .map(|r| r.get(name).unwrap_or(&Value::Null))
            .collect();
        let dtype = types
            .get(name.as_str())
            .cloned()
            .unwrap_or_else(|| infer_type(&values));
        let series = json_series(name, &values, &dtype)
            .map_err(|e| CorpusError::parquet(path, format!("column `{name}`: {e}")))?;
        columns.push(Column::from(series));
    }
    let mut df =
        DataFrame::new(records.len(), columns).map_err(|e| CorpusError::parquet(path, e))?;
    let file = File::create(path).map_err(|e| CorpusError::io(path, &e))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df)
        .map_err(|e| CorpusError::parquet(path, e))?;
    Ok(())
}

/// The narrowest column type that holds every value without loss; JSON text otherwise.
fn infer_type(values: &[&Value]) -> DataType {
    let (mut bools, mut strings, mut floats, mut negative, mut beyond_i64, mut ints) =
        (0, 0, 0, false, false, 0);
    for value in values {
        match value {
            Value::Null => {}
            Value::Bool(_) => bools += 1,
            Value::String(_) => strings += 1,
            Value::Number(n) if n.is_i64() => {
                ints += 1;
                negative |= n.as_i64().is_some_and(|i| i < 0);
            }
            Value::Number(n) if n.is_u64() => {
                ints += 1;
                beyond_i64 = true;
            }
            Value::Number(_) => floats += 1,
            Value::Array(_) | Value::Object(_) => return DataType::String,
        }
    }
    let kinds = [bools, strings, floats + ints]
        .iter()
        .filter(|&&n| n > 0)
        .count();
    match () {
        _ if kinds > 1 => DataType::String,
        _ if bools > 0 => DataType::Boolean,
        _ if floats > 0 && !beyond_i64 => DataType::Float64,
        _ if floats > 0 || (negative && beyond_i64) => DataType::String,
        _ if beyond_i64 => DataType::UInt64,
        _ if ints > 0 => DataType::Int64,
        _ => DataType::String,
    }
}

fn json_series(name: &str, values: &[&Value], dtype: &DataType) -> PolarsResult<Series> {
    let any: Vec<AnyValue> = values
        .iter()
        .map(|v| json_to_any(v, dtype))
        .collect::<PolarsResult<_>>()?;
    Series::from_any_values_and_dtype(name.into(), &any, dtype, false)
}

fn json_to_any(value: &Value, dtype: &DataType) -> PolarsResult<AnyValue<'static>> {
    Ok(match (value, dtype) {
        (Value::Null, _) => AnyValue::Null,
        (other, DataType::String) => match other {
            Value::String(s) => AnyValue::StringOwned(s.as_str().into()),
            nested => AnyValue::StringOwned(nested.to_string().into()),
        },
        (Value::Bool(b), _) => AnyValue::Boolean(*b),
        (Value::Number(n), _) => {
            if let Some(i) = n.as_i64() {
                AnyValue::Int64(i)
            } else if let Some(u) = n.as_u64() {
                AnyValue::UInt64(u)
            } else {
                AnyValue::Float64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        (Value::Array(items), DataType::List(inner)) => {
            let refs: Vec<&Value> = items.iter().collect();
            AnyValue::List(json_series("", &refs, inner)?)
        }
        (other, dtype) => polars_bail!(ComputeError: "value {other} does not fit type {dtype}"),
    })
}
