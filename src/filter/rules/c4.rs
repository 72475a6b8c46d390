//! C4 rules (Raffel et al. 2020, section 2.2), as datatrove's `C4QualityFilter` implements them
//! with its defaults: a line counts only if it ends in terminal punctuation (not an ellipsis),
//! has enough words, no over-long word, and no `javascript` or policy text; the document is
//! removed for `lorem ipsum` or a curly bracket on such a line, or when those lines hold too
//! few sentences. Terminal punctuation and sentence ends come from the language's
//! `sentence_ends`, so `。！？` end Chinese and Japanese lines.
//!
//! With `join_wrapped_lines` (glmkit's default) sentences are also counted on paragraphs with
//! their wrapped lines joined, and the larger count is used: C4's lines are HTML blocks, and
//! in hard-wrapped text a block is a paragraph, while in line-per-block text (verse, quotes
//! with attributions) a line is.
//!
//! glmkit keeps the document's text as it is (datatrove rewrites it to the kept lines): a
//! filter step decides, it does not edit.

use super::{Failure, QualityRule};
use crate::filter::analysis::TextAnalysis;
use crate::filter::thresholds::Profile;
use crate::filter::words::{self, for_each_word};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C4Config {
    /// Least number of sentences on the lines that pass.
    pub min_num_sentences: usize,
    /// Least number of words for a line to pass.
    pub min_words_per_line: usize,
    /// A line with a longer word (in characters) does not pass.
    pub max_word_length: usize,
    /// Also count sentences on paragraphs (blank-line separated, wrapped lines joined) and keep
    /// the larger count: in hard-wrapped text a C4 "line" (an HTML block) is a paragraph.
    pub join_wrapped_lines: bool,
    /// Lines must end in terminal punctuation to pass.
    pub filter_no_terminal_punct: bool,
    pub filter_lorem_ipsum: bool,
    pub filter_javascript: bool,
    pub filter_curly_bracket: bool,
    pub filter_policy: bool,
    /// Lines containing one of these (lowercased) do not pass.
    pub policy_substrings: Vec<String>,
}

pub struct C4;

impl QualityRule for C4 {
    fn name(&self) -> &'static str {
        "c4"
    }

    fn check_analyzed(&self, analysis: &TextAnalysis, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.c4;
        let text = analysis.text();
        let mut sentences = sentences_on_passing_lines(analysis.lines(), profile)?;
        if cfg.join_wrapped_lines && sentences < cfg.min_num_sentences {
            let paragraphs: Vec<String> = words::paragraphs(text)
                .into_iter()
                .map(|p| {
                    p.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            sentences = sentences.max(sentences_on_passing_lines(
                paragraphs.iter().map(String::as_str),
                profile,
            )?);
        }
        if sentences < cfg.min_num_sentences {
            return Err(Failure::new(
                "too_few_sentences",
                sentences as f64,
                cfg.min_num_sentences as f64,
            ));
        }
        Ok(())
    }
}

/// C4's line loop: the sentences on the lines that pass, or the document-level failure
/// (lorem ipsum, curly bracket).
fn sentences_on_passing_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
    profile: &Profile,
) -> Result<usize, Failure> {
    let cfg = &profile.c4;
    let is_end = |c: char| profile.is_sentence_end(c);
    let mut sentences = 0;
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if cfg.filter_no_terminal_punct {
            let last = line.chars().next_back();
            let ends = last.is_some_and(|c| profile.ends_sentence_line(c));
            if !ends || line.ends_with("...") || line.ends_with('…') {
                continue;
            }
        }
        let (mut n_words, mut longest) = (0, 0);
        for_each_word(line, |w| {
            n_words += 1;
            longest = longest.max(w.len());
        });
        // Byte length bounds character length: count characters only when it could matter.
        if longest > cfg.max_word_length {
            let mut too_long = false;
            for_each_word(line, |w| {
                too_long |= w.chars().count() > cfg.max_word_length
            });
            if too_long {
                continue;
            }
        }
        if n_words < cfg.min_words_per_line {
            continue;
        }
        // The patterns are ASCII, so ASCII case folding finds them.
        let lower = line.to_ascii_lowercase();
        if cfg.filter_lorem_ipsum && lower.contains("lorem ipsum") {
            return Err(Failure::new("lorem_ipsum", 1.0, 0.0));
        }
        if cfg.filter_javascript && lower.contains("javascript") {
            continue;
        }
        if cfg.filter_curly_bracket && line.contains('{') {
            return Err(Failure::new("curly_bracket", 1.0, 0.0));
        }
        if cfg.filter_policy
            && cfg
                .policy_substrings
                .iter()
                .any(|p| lower.contains(p.as_str()))
        {
            continue;
        }
        sentences += count_sentences(line, is_end);
    }
    Ok(sentences)
}

/// Sentence ends in a line: an end character followed by a space or the end of the line (CJK
/// ends need no space), at least one per line with text.
fn count_sentences(line: &str, is_end: impl Fn(char) -> bool) -> usize {
    let mut count = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if is_end(c) {
            // A run like `?!` or `。」` ends one sentence.
            while chars.peek().is_some_and(|&n| is_end(n)) {
                chars.next();
            }
            let wide = (c as u32) >= 0x3000;
            if wide || chars.peek().is_none_or(|n| n.is_whitespace()) {
                count += 1;
            }
        }
    }
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sentences() {
        let ends = ['.', '!', '?', '。', '！', '？'];
        let is_end = |c: char| ends.contains(&c);
        assert_eq!(count_sentences("One. Two? Three!", is_end), 3);
        assert_eq!(count_sentences("v1.2 is out.", is_end), 1);
        assert_eq!(count_sentences("你好。我很好！", is_end), 2);
    }
}
