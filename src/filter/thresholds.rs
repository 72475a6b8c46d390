//! Per-language settings of the quality rules, read from TOML data files.
//!
//! A thresholds file has one table per language code, plus `default` for every language:
//!
//! ```toml
//! [default.gopher_quality]
//! min_doc_words = 50
//!
//! [zh]
//! stop_words = ["的", "是"]
//! [zh.c4]
//! min_num_sentences = 3
//! ```
//!
//! Files are layered: glmkit's built-in files (`data/thresholds/`: the defaults for every
//! language in `default.toml`, the published values with glmkit's changes marked, then one
//! file per language), then any `--thresholds FILE` (or preset, [`PRESETS`]) in order. A later
//! file only needs the keys it changes. The settings for language `xx` are `default` with
//! `xx` laid over it, so a language without a file gets `default`.

use super::rules::{
    C4Config, EncodingConfig, FineWebConfig, GopherQualityConfig, GopherRepetitionConfig,
};
use super::script::script_of;
use super::words::{is_alphanumeric, is_caseless_letter, Segmenter};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::{Table, Value};

/// The built-in files, in layering order (`default` first).
macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../data/thresholds/", $name, ".toml")))),*]
    };
}
const BUILT_IN: &[(&str, &str)] = built_in![
    "default", "zh", "en", "de", "fr", "es", "it", "pt", "ru", "pl", "uk", "cs", "nl", "sv", "ja",
    "ko", "vi", "id", "el", "tr", "hu", "fi", "da", "ro", "ar", "la",
];

/// Named settings files shipped in the binary, given to `--thresholds` by name instead of a
/// path (a file of that name, if one exists, wins).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "published",
        include_str!("../../data/thresholds/presets/published.toml"),
    ),
    (
        "zh-jieba",
        include_str!("../../data/thresholds/presets/zh-jieba.toml"),
    ),
];

/// A pipeline's `thresholds` entry as a path: relative to the pipeline's folder, or the bare
/// name of a preset when no file of that name is there.
pub fn resolve_file(base_dir: &Path, name: &str) -> PathBuf {
    let path = base_dir.join(name);
    if !path.exists() && PRESETS.iter().any(|(preset, _)| *preset == name) {
        PathBuf::from(name)
    } else {
        path
    }
}

fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    #[error("cannot read thresholds file {path}: {source} (nor is it a preset: {presets})", presets = preset_names())]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("thresholds file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("thresholds file {path}: language `{lang}`: {message}")]
    Invalid {
        path: String,
        lang: String,
        message: String,
    },
}

/// Everything the quality rules need to know about one language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageProfile {
    /// Function words; Gopher's stop-word rule counts them (compared lowercased, without
    /// surrounding punctuation).
    pub stop_words: Vec<String>,
    /// Characters that end a sentence (C4 sentences, C4 / FineWeb terminal punctuation).
    pub sentence_ends: Vec<char>,
    /// How the Gopher rules split Han text into words (default: a character a word).
    #[serde(default)]
    pub segmenter: Segmenter,
    pub gopher_quality: GopherQualityConfig,
    pub gopher_repetition: GopherRepetitionConfig,
    pub c4: C4Config,
    pub fineweb: FineWebConfig,
    pub encoding: EncodingConfig,
}

/// The resolved settings of every language a file names, plus the default.
#[derive(Debug, Clone)]
pub struct Thresholds {
    default: Arc<Profile>,
    languages: BTreeMap<String, Arc<Profile>>,
}

/// A [`LanguageProfile`] with its stop words in a set for lookups.
#[derive(Debug)]
pub struct Profile {
    pub settings: LanguageProfile,
    stop_set: std::collections::HashSet<String, xxhash_rust::xxh3::Xxh3Builder>,
    /// `sentence_ends` below U+0080 as a bit set, for the per-character tests of C4.
    ascii_ends: u128,
}

impl std::ops::Deref for Profile {
    type Target = LanguageProfile;
    fn deref(&self) -> &LanguageProfile {
        &self.settings
    }
}

impl Profile {
    pub fn is_stop_word(&self, word: &str) -> bool {
        self.stop_set.contains(word)
    }

    /// True when `c` is one of the language's `sentence_ends`.
    pub fn is_sentence_end(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii_ends & (1 << c as u32) != 0
        } else {
            self.sentence_ends.contains(&c)
        }
    }

    /// True when a line ending in `last` ends a sentence: `last` is one of the language's
    /// `sentence_ends`, or a letter of a script that ends sentences without punctuation (Thai).
    pub fn ends_sentence_line(&self, last: char) -> bool {
        self.is_sentence_end(last)
            || (!last.is_ascii() && script_of(last).is_some_and(|s| s.ends_sentences_unmarked()))
    }

    /// True when a word as it stands in the text (`Und,`) is a stop word: surrounding
    /// punctuation is dropped and the rest compared lowercased. `scratch` holds the lowercased
    /// form when one is needed.
    pub fn is_stop_token(&self, word: &str, scratch: &mut String) -> bool {
        let bare = word.trim_matches(|c: char| !is_alphanumeric(c));
        if bare
            .chars()
            .any(|c| !is_caseless_letter(c) && c.is_uppercase())
        {
            scratch.clear();
            scratch.extend(bare.chars().flat_map(char::to_lowercase));
            self.is_stop_word(scratch)
        } else {
            self.is_stop_word(bare)
        }
    }
}

impl Thresholds {
    /// The built-in settings.
    pub fn built_in() -> Self {
        Self::layered(&[]).expect("built-in thresholds files are valid (checked by tests)")
    }

    /// The built-in settings with `files` laid over them, in order.
    pub fn with_files(files: &[impl AsRef<Path>]) -> Result<Self, ThresholdsError> {
        let mut extra = Vec::new();
        for path in files {
            let path = path.as_ref();
            let preset = PRESETS.iter().find(|(name, _)| path == Path::new(name));
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && preset.is_some() => {
                    preset.map(|(_, text)| text.to_string()).unwrap_or_default()
                }
                Err(source) => {
                    return Err(ThresholdsError::Io {
                        path: path.display().to_string(),
                        source,
                    })
                }
            };
            extra.push((path.display().to_string(), text));
        }
        Self::layered(&extra)
    }

    pub(crate) fn layered(extra: &[(String, String)]) -> Result<Self, ThresholdsError> {
        let mut merged = Table::new();
        let built_in = BUILT_IN
            .iter()
            .map(|(name, text)| (format!("<built-in>/{name}"), text.to_string()));
        // Names the files a settings error can come from: the user's, or the built-in ones.
        let mut last_path = String::from("<built-in>");
        for (path, text) in built_in.chain(extra.iter().cloned()) {
            let table: Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ThresholdsError::Parse {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
            merge(&mut merged, table);
            if !path.starts_with("<built-in>") {
                last_path = if last_path == "<built-in>" {
                    path
                } else {
                    format!("{last_path}, {path}")
                };
            }
        }
        let default_table = match merged.get("default") {
            Some(Value::Table(t)) => t.clone(),
            _ => Table::new(),
        };
        let resolve =
            |lang: &str, overlay: Option<&Table>| -> Result<Arc<Profile>, ThresholdsError> {
                let mut table = default_table.clone();
                if let Some(overlay) = overlay {
                    merge(&mut table, overlay.clone());
                }
                let settings = LanguageProfile::deserialize(Value::Table(table)).map_err(|e| {
                    ThresholdsError::Invalid {
                        path: last_path.clone(),
                        lang: lang.to_string(),
                        message: e.to_string(),
                    }
                })?;
                let stop_set = settings
                    .stop_words
                    .iter()
                    .map(|w| w.to_lowercase())
                    .collect();
                let ascii_ends = settings
                    .sentence_ends
                    .iter()
                    .filter(|c| c.is_ascii())
                    .fold(0u128, |bits, &c| bits | 1 << c as u32);
                Ok(Arc::new(Profile {
                    settings,
                    stop_set,
                    ascii_ends,
                }))
            };
        let default = resolve("default", None)?;
        let mut languages = BTreeMap::new();
        for (lang, value) in &merged {
            if lang == "default" {
                continue;
            }
            let Value::Table(overlay) = value else {
                return Err(ThresholdsError::Invalid {
                    path: last_path.clone(),
                    lang: lang.clone(),
                    message: "expected a table of settings".into(),
                });
            };
            languages.insert(lang.clone(), resolve(lang, Some(overlay))?);
        }
        Ok(Thresholds { default, languages })
    }

    /// The settings for a language code (`None` or an unknown code: the default).
    pub fn for_lang(&self, lang: Option<&str>) -> &Arc<Profile> {
        lang.and_then(|l| self.languages.get(l))
            .unwrap_or(&self.default)
    }

    /// The language codes with their own settings.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }
}

/// Lays `overlay` over `base`: tables merge key by key, anything else is replaced.
fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
