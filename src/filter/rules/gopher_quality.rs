//! Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A), as datatrove's
//! `GopherQualityFilter` implements them: word count, mean word length, `#` and ellipsis per
//! word, bullet and ellipsis lines, words with a letter, stop words.

use super::{ratio, Failure, QualityRule};
use crate::filter::analysis::TextAnalysis;
use crate::filter::thresholds::Profile;
use crate::filter::words::{is_alphabetic, is_character_word, is_symbol_only};
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
    /// Whether the mean length counts the characters of unspaced scripts that stand as words
    /// of their own (Han, kana, Thai: length 1). Settings made for such words (zh, ja) say
    /// so; elsewhere the mean is over spaced words only, since a character standing as a word
    /// says nothing of word length (a Thai text would be "too short").
    #[serde(default)]
    pub length_counts_character_words: bool,
    /// Most `#` (and, separately, `...`/`…`) per word.
    pub max_symbol_word_ratio: f64,
    /// Most lines that start with a bullet (`•`, `-`), as a fraction of lines.
    pub max_bullet_lines_ratio: f64,
    /// Most lines that end with an ellipsis, as a fraction of lines.
    pub max_ellipsis_lines_ratio: f64,
    /// Least fraction of words that contain a letter (datatrove's `max_non_alpha_words_ratio`).
    pub min_alpha_words_ratio: f64,
    /// Least number of stop words (see the language's `stop_words`); a language without stop
    /// words (one glmkit has no settings for) is not held to it.
    pub min_stop_words: usize,
}

pub struct GopherQuality;

impl QualityRule for GopherQuality {
    fn name(&self) -> &'static str {
        "gopher_quality"
    }

    fn check_analyzed(&self, analysis: &TextAnalysis, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.gopher_quality;
        let text = analysis.text();
        let w = WordStats::of(analysis.words(), profile, cfg);
        if w.content < cfg.min_doc_words {
            return Err(Failure::new(
                "short_doc",
                w.content as f64,
                cfg.min_doc_words as f64,
            ));
        }
        if w.content > cfg.max_doc_words {
            return Err(Failure::new(
                "long_doc",
                w.content as f64,
                cfg.max_doc_words as f64,
            ));
        }
        // Word length is measured on words of spaced scripts (and segmented words), unless the
        // settings count character words: a Thai or Han character that stands as a word of its
        // own has length 1 whatever the language writes, so a text of such characters alone
        // has no word length to judge.
        if w.measured > 0 {
            let avg = ratio(w.measured_chars, w.measured);
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
        }
        let hashes = ratio(text.matches('#').count(), w.words);
        if hashes > cfg.max_symbol_word_ratio {
            return Err(Failure::new(
                "too_many_hashes",
                hashes,
                cfg.max_symbol_word_ratio,
            ));
        }
        let ellipses = ratio(
            text.matches("...").count() + text.matches('…').count(),
            w.words,
        );
        if ellipses > cfg.max_symbol_word_ratio {
            return Err(Failure::new(
                "too_many_ellipsis",
                ellipses,
                cfg.max_symbol_word_ratio,
            ));
        }
        let (mut lines, mut bullets, mut ellipsis_lines) = (0, 0, 0);
        for line in analysis.lines() {
            lines += 1;
            let start = line.trim_start();
            bullets += usize::from(start.starts_with('•') || start.starts_with('-'));
            let end = line.trim_end();
            ellipsis_lines += usize::from(end.ends_with("...") || end.ends_with('…'));
        }
        let bullets = ratio(bullets, lines);
        if bullets > cfg.max_bullet_lines_ratio {
            return Err(Failure::new(
                "too_many_bullets",
                bullets,
                cfg.max_bullet_lines_ratio,
            ));
        }
        let ellipsis_lines = ratio(ellipsis_lines, lines);
        if ellipsis_lines > cfg.max_ellipsis_lines_ratio {
            return Err(Failure::new(
                "too_many_end_ellipsis",
                ellipsis_lines,
                cfg.max_ellipsis_lines_ratio,
            ));
        }
        let alpha = ratio(w.alpha, w.words);
        if alpha < cfg.min_alpha_words_ratio {
            return Err(Failure::new(
                "below_alpha_threshold",
                alpha,
                cfg.min_alpha_words_ratio,
            ));
        }
        if w.stop_words < cfg.min_stop_words && !profile.stop_words.is_empty() {
            return Err(Failure::new(
                "not_enough_stop_words",
                w.stop_words as f64,
                cfg.min_stop_words as f64,
            ));
        }
        Ok(())
    }
}

/// Word counts of one pass over a text.
struct WordStats {
    words: usize,
    /// Words that are not punctuation only.
    content: usize,
    /// Content words whose length says something (not a character standing as a word, see
    /// [`is_character_word`]), and their characters.
    measured: usize,
    measured_chars: usize,
    /// Words with a letter.
    alpha: usize,
    /// Stop words, counted up to the number needed.
    stop_words: usize,
}

impl WordStats {
    fn of(words: &[&str], profile: &Profile, cfg: &GopherQualityConfig) -> Self {
        let stop_words_needed = cfg.min_stop_words;
        let all_measured = cfg.length_counts_character_words;
        let mut s = WordStats {
            words: 0,
            content: 0,
            measured: 0,
            measured_chars: 0,
            alpha: 0,
            stop_words: 0,
        };
        let mut lower = String::new();
        for &w in words {
            s.words += 1;
            let (content, alpha, chars) = if w.is_ascii() {
                (
                    w.bytes().any(|b| b.is_ascii_alphanumeric()),
                    w.bytes().any(|b| b.is_ascii_alphabetic()),
                    w.len(),
                )
            } else {
                (
                    !is_symbol_only(w),
                    w.chars().any(is_alphabetic),
                    w.chars().count(),
                )
            };
            if content {
                s.content += 1;
                if all_measured || w.is_ascii() || !is_character_word(w, profile.segmenter) {
                    s.measured += 1;
                    s.measured_chars += chars;
                }
            }
            if !alpha {
                continue;
            }
            s.alpha += 1;
            if s.stop_words >= stop_words_needed {
                continue;
            }
            let hit = profile.is_stop_token(w, &mut lower);
            s.stop_words += usize::from(hit);
        }
        s
    }
}
