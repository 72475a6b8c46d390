//! Documents and the formats they are read from and written to.

mod document;

pub use document::{Document, Source, ANNOTATION_KEY};
