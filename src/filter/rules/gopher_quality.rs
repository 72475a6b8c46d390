//! Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A), as datatrove's
//! `GopherQualityFilter` implements them: word count, mean word length, `#` and ellipsis per
//! word, bullet and ellipsis lines, words with a letter, stop words.

use super::{ratio, Failure, QualityRule};
use crate::filter::thresholds::Profile;
use crate::filter::words::{is_symbol_only, words};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GopherQualityConfig {
    /// Bounds on the number of words that are not punctuation only.
    pub min_doc_words: usize,
    pub max_doc_words: usize,
    /// Bounds on the mean length (in characters) of those words.
    pub min_avg_word_length: f64,
    pub max_avg_word_length: f64,
    /// Most `#` (and, separately, `...`/`…`) per word.
    pub max_symbol_word_ratio: f64,
    /// Most lines that start with a bullet (`•`, `-`), as a fraction of lines.
    pub max_bullet_lines_ratio: f64,
    /// Most lines that end with an ellipsis, as a fraction of lines.
    pub max_ellipsis_lines_ratio: f64,
    /// Least fraction of words that contain a letter (datatrove's `max_non_alpha_words_ratio`).
    pub min_alpha_words_ratio: f64,
    /// Least number of stop words (see the language's `stop_words`).
    pub min_stop_words: usize,
}

pub struct GopherQuality;

impl QualityRule for GopherQuality {
    fn name(&self) -> &'static str {
        "gopher_quality"
    }

    fn check(&self, text: &str, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.gopher_quality;
        let words = words(text);
        let n_words = words.len();
        let (mut n_content, mut content_chars) = (0usize, 0usize);
        for w in &words {
            if !is_symbol_only(w) {
                n_content += 1;
                content_chars += w.chars().count();
            }
        }
        if n_content < cfg.min_doc_words {
            return Err(Failure::new(
                "short_doc",
                n_content as f64,
                cfg.min_doc_words as f64,
            ));
        }
        if n_content > cfg.max_doc_words {
            return Err(Failure::new(
                "long_doc",
                n_content as f64,
                cfg.max_doc_words as f64,
            ));
        }
        let avg = ratio(content_chars, n_content);
        if avg < cfg.min_avg_word_length {
            return Err(Failure::new(
                "below_avg_word_length",
                avg,
                cfg.min_avg_word_length,
            ));
        }
        if avg > cfg.max_avg_word_length {
            return Err(Failure::new(
                "above_avg_word_length",
                avg,
                cfg.max_avg_word_length,
            ));
        }
        let hashes = ratio(text.matches('#').count(), n_words);
        if hashes > cfg.max_symbol_word_ratio {
            return Err(Failure::new(
                "too_many_hashes",
                hashes,
                cfg.max_symbol_word_ratio,
            ));
        }
        let ellipses = ratio(
            text.matches("...").count() + text.matches('…').count(),
            n_words,
        );
        if ellipses > cfg.max_symbol_word_ratio {
            return Err(Failure::new(
                "too_many_ellipsis",
                ellipses,
                cfg.max_symbol_word_ratio,
            ));
        }
        let lines: Vec<&str> = text.lines().collect();
        let bullets = lines
            .iter()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with('•') || l.starts_with('-')
            })
            .count();
        let bullets = ratio(bullets, lines.len());
        if bullets > cfg.max_bullet_lines_ratio {
            return Err(Failure::new(
                "too_many_bullets",
                bullets,
                cfg.max_bullet_lines_ratio,
            ));
        }
        let ellipsis_lines = lines
            .iter()
            .filter(|l| {
                let l = l.trim_end();
                l.ends_with("...") || l.ends_with('…')
            })
            .count();
        let ellipsis_lines = ratio(ellipsis_lines, lines.len());
        if ellipsis_lines > cfg.max_ellipsis_lines_ratio {
            return Err(Failure::new(
                "too_many_end_ellipsis",
                ellipsis_lines,
                cfg.max_ellipsis_lines_ratio,
            ));
        }
        let alpha = ratio(
            words
                .iter()
                .filter(|w| w.chars().any(char::is_alphabetic))
                .count(),
            n_words,
        );
        if alpha < cfg.min_alpha_words_ratio {
            return Err(Failure::new(
                "below_alpha_threshold",
                alpha,
                cfg.min_alpha_words_ratio,
            ));
        }
        let mut stop_words = 0;
        for w in &words {
            let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
            if bare.is_empty() {
                continue;
            }
            let hit = if bare.chars().all(|c| !c.is_uppercase()) {
                profile.is_stop_word(bare)
            } else {
                profile.is_stop_word(&bare.to_lowercase())
            };
            if hit {
                stop_words += 1;
                if stop_words >= cfg.min_stop_words {
                    break;
                }
            }
        }
        if stop_words < cfg.min_stop_words {
            return Err(Failure::new(
                "not_enough_stop_words",
                stop_words as f64,
                cfg.min_stop_words as f64,
            ));
        }
        Ok(())
    }
}
