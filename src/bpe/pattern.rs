//! The pre-tokenizer: splits text into the pieces BPE works within, with a cl100k-style regex.
//!
//! The `regex` crate has no lookahead, but every preset ends in `\s+(?!\S)|\s+` ("a whitespace
//! run, leaving its last char to the next piece when text follows"). That tail is done by hand:
//! the pattern is compiled with only `\s+`, and a whitespace match that the alternatives before
//! the tail could not have produced gives back its last char. The result equals a backtracking
//! engine's split (tests check it against fancy-regex on real text) at twice its speed.

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

/// GLM-4's pattern (`tokenizer.model` / `tokenizer.json` of GLM-4), the same as cl100k's.
pub const GLM4: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// OpenAI's cl100k_base pattern (identical to GLM-4's).
pub const CL100K: &str = GLM4;
/// GPT-2's pattern.
pub const GPT2: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// The lookahead tail this module implements by hand.
const LOOKAHEAD_TAIL: &str = r"\s+(?!\S)|\s+";

#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("unknown pattern preset `{0}` (expected glm4, cl100k, gpt2 or a regex)")]
    UnknownPreset(String),
    #[error("pattern `{pattern}` does not compile: {source}")]
    Compile {
        pattern: String,
        source: Box<regex_automata::meta::BuildError>,
    },
    #[error("pattern `{0}` uses a lookaround; only a trailing `\\s+(?!\\S)|\\s+` is supported")]
    Lookaround(String),
}

/// Resolves a preset name (`glm4`, `cl100k`, `gpt2`) or returns the argument as a regex.
pub fn resolve(name_or_regex: &str) -> &str {
    match name_or_regex {
        "glm4" => GLM4,
        "cl100k" => CL100K,
        "gpt2" => GPT2,
        other => other,
    }
}

/// A compiled pre-tokenization pattern.
#[derive(Debug, Clone)]
pub struct PreTokenizer {
    pattern: String,
    /// The pattern with its lookahead tail replaced by `\s+`.
    regex: Regex,
    /// Present when the pattern ends in the lookahead tail.
    tail: Option<Tail>,
}

impl PreTokenizer {
    /// Compiles a preset name or a regex.
    pub fn new(name_or_regex: &str) -> Result<Self, PatternError> {
        let pattern = resolve(name_or_regex).to_string();
        let compile = |p: &str| {
            Regex::new(p).map_err(|e| PatternError::Compile {
                pattern: pattern.clone(),
                source: Box::new(e),
            })
        };
        let (regex, tail) = match pattern.strip_suffix(LOOKAHEAD_TAIL) {
            Some(head) if head.is_empty() || head.ends_with('|') => {
                let head = head.trim_end_matches('|');
                if has_lookaround(head) {
                    return Err(PatternError::Lookaround(pattern));
                }
                if head.is_empty() {
                    (compile(r"\s+")?, Some(Tail { head: None }))
                } else {
                    let regex = compile(&format!(r"{head}|\s+"))?;
                    (
                        regex,
                        Some(Tail {
                            head: Some(compile(head)?),
                        }),
                    )
                }
            }
            _ => {
                if has_lookaround(&pattern) {
                    return Err(PatternError::Lookaround(pattern));
                }
                (compile(&pattern)?, None)
            }
        };
        Ok(PreTokenizer {
            pattern,
            regex,
            tail,
        })
    }

    /// The pattern as written in `tokenizer.json`.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The pieces of `text`, in order; they tile the text when the pattern matches every char
    /// (all presets do).
    pub fn pieces<'t>(&self, text: &'t str) -> Pieces<'_, 't, 'static> {
        Pieces {
            pre: self,
            text,
            at: 0,
            cache: None,
        }
    }

    /// Like [`PreTokenizer::pieces`], with search scratch space owned by the caller (one per
    /// thread): saves taking it from a shared pool at every piece.
    pub fn pieces_with<'p, 't, 'c>(
        &'p self,
        text: &'t str,
        cache: &'c mut SearchCache,
    ) -> Pieces<'p, 't, 'c> {
        Pieces {
            pre: self,
            text,
            at: 0,
            cache: Some(cache),
        }
    }

    /// Scratch space for [`PreTokenizer::pieces_with`].
    pub fn search_cache(&self) -> SearchCache {
        SearchCache {
            main: self.regex.create_cache(),
            head: self
                .tail
                .as_ref()
                .and_then(|t| t.head.as_ref())
                .map(Regex::create_cache),
        }
    }

    /// Where the match `start..end` must end instead, when `\s+(?!\S)` would have taken it
    /// minus its last char.
    fn gives_back_last_char(
        &self,
        text: &str,
        start: usize,
        end: usize,
        cache: Option<&mut SearchCache>,
    ) -> Option<usize> {
        let tail = self.tail.as_ref()?;
        if end >= text.len() {
            return None; // at the end of the text `\s+(?!\S)` takes the whole run
        }
        let run = &text[start..end];
        if !run.starts_with(char::is_whitespace) {
            return None; // not from `\s+`, which is the only whitespace-first alternative left
        }
        let (last_start, _) = run.char_indices().next_back()?;
        if last_start == 0 {
            return None; // one char: `\s+(?!\S)` fails and `\s+` takes it
        }
        let at_start = Input::new(text).range(start..).anchored(Anchored::Yes);
        let head_matches = match (&tail.head, cache.and_then(|c| c.head.as_mut())) {
            (None, _) => false,
            (Some(head), Some(c)) => head.search_with(c, &at_start.earliest(true)).is_some(),
            (Some(head), None) => head.is_match(at_start),
        };
        if head_matches {
            return None; // an earlier alternative produced this match
        }
        Some(start + last_start)
    }
}

/// The hand-written `\s+(?!\S)`.
#[derive(Debug, Clone)]
struct Tail {
    /// The alternatives before the tail (searched anchored): a whitespace match they also match
    /// came from them and is kept whole.
    head: Option<Regex>,
}

fn has_lookaround(pattern: &str) -> bool {
    ["(?=", "(?!", "(?<=", "(?<!"]
        .iter()
        .any(|l| pattern.contains(l))
}

/// Per-thread search scratch space of a [`PreTokenizer`].
#[derive(Debug, Clone)]
pub struct SearchCache {
    main: regex_automata::meta::Cache,
    head: Option<regex_automata::meta::Cache>,
}

/// Iterator over the pieces of a text.
pub struct Pieces<'p, 't, 'c> {
    pre: &'p PreTokenizer,
    text: &'t str,
    at: usize,
    cache: Option<&'c mut SearchCache>,
}

impl<'t> Iterator for Pieces<'_, 't, '_> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        if self.at >= self.text.len() {
            return None;
        }
        // Pieces usually tile the text, so the next one starts where the last ended: an anchored
        // search needs only a forward pass. Otherwise (a custom pattern that skips text) search on.
        let anchored = Input::new(self.text)
            .range(self.at..)
            .anchored(Anchored::Yes);
        let regex = &self.pre.regex;
        let mut search = |input: &Input| match self.cache.as_deref_mut() {
            Some(c) => regex.search_with(&mut c.main, input),
            None => regex.search(input),
        };
        let m = match search(&anchored) {
            Some(m) if !m.is_empty() => m,
            _ => search(&Input::new(self.text).range(self.at..))?,
        };
        let (start, mut end) = (m.start(), m.end());
        if end == start {
            // An empty match (possible in custom patterns): step over one char.
            let step = self.text[end..].chars().next().map_or(1, char::len_utf8);
            self.at = end + step;
            return if self.at > self.text.len() {
                None
            } else {
                self.next()
            };
        }
        if let Some(shorter) =
            self.pre
                .gives_back_last_char(self.text, start, end, self.cache.as_deref_mut())
        {
            end = shorter;
        }
        self.at = end;
        Some(&self.text[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pattern: &str, text: &str) -> Vec<String> {
        PreTokenizer::new(pattern)
            .unwrap()
            .pieces(text)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn whitespace_before_a_word_leaves_one_space_to_it() {
        assert_eq!(split("glm4", "a   b"), ["a", "  ", " b"]);
        assert_eq!(split("glm4", "a   "), ["a", "   "]);
        assert_eq!(split("glm4", "a \n\n b"), ["a", " \n\n", " b"]);
        assert_eq!(
            split("glm4", "x\u{3000}\u{3000}中文"),
            ["x", "\u{3000}", "\u{3000}中文"]
        );
        assert_eq!(split("gpt2", "a \n\n b"), ["a", " \n\n", " b"]);
    }

    #[test]
    fn rejects_other_lookarounds() {
        assert!(matches!(
            PreTokenizer::new(r"(?=a)b|\s+"),
            Err(PatternError::Lookaround(_))
        ));
        assert!(matches!(
            PreTokenizer::new(r"[a"),
            Err(PatternError::Compile { .. })
        ));
    }
}
