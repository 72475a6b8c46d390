//! What `glmkit run` with no arguments runs on, built into the binary so that it works from any
//! folder: the default pipeline (`fixtures/pipelines/default.toml`) and the bundled corpus (the
//! filter and dedup fixtures: 627 real documents of the development corpus, clean, noisy and
//! near-duplicate; their READMEs say where they come from).

use std::path::{Path, PathBuf};

/// The default pipeline file, as `glmkit run --print-default` prints it.
pub const DEFAULT_PIPELINE: &str = include_str!("../fixtures/pipelines/default.toml");

/// The bundled corpus: file name and compressed bytes.
pub const CORPUS: &[(&str, &[u8])] = &[
    (
        "clean.jsonl.zst",
        include_bytes!("../fixtures/filter/clean.jsonl.zst"),
    ),
    (
        "noisy.jsonl.zst",
        include_bytes!("../fixtures/filter/noisy.jsonl.zst"),
    ),
    (
        "neardup-slice.jsonl.zst",
        include_bytes!("../fixtures/dedup/neardup-slice.jsonl.zst"),
    ),
];

/// Writes the bundled corpus into `dir` and returns the files written.
pub fn write_corpus(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    CORPUS
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes)?;
            Ok(path)
        })
        .collect()
}
