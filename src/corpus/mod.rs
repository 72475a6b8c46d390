//! Documents and the formats they are read from and written to.
//!
//! - [`expand_inputs`] turns files, directories and globs into a sorted list of [`InputFile`]s.
//! - [`CorpusReader`] reads one file as [`Record`]s: documents, quarantined records (with their
//!   location and reason) and, for a damaged file, a final [`StreamBreak`].
//! - [`PartWriter`] writes records into size-bounded part files under temporary names.

mod document;
mod error;
mod fields;
mod format;
mod input;
mod parquet;
mod profile;
mod read;
mod record;
mod shard;
mod write;

pub use document::{Document, Source, ANNOTATION_KEY};
pub use error::CorpusError;
pub use fields::{read_id_text, IdText};
pub use format::Format;
pub use input::{expand_inputs, InputFile};
pub use parquet::{parquet_column_types, ColumnTypes};
pub use profile::{CorpusProfile, ProfileReport, PERCENTILES};
pub use read::{CorpusReader, Raw};
pub use record::{
    decode_json_line, generated_id, Quarantine, ReadOptions, Record, RecordView, StreamBreak,
    RAW_EXCERPT_CHARS,
};
pub use shard::ShardSpec;
pub use write::{Encoded, PartLimits, PartWriter};
