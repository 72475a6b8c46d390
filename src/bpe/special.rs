//! Special tokens (`<|endoftext|>`, `[gMASK]`, ...): cut out of text before pre-tokenization,
//! as HF tokenizers does for the added tokens of a `tokenizer.json`.

use regex::Regex;

/// Splits text around occurrences of special tokens (leftmost, longest first).
#[derive(Debug, Clone, Default)]
pub struct SpecialSplitter {
    tokens: Vec<String>,
    regex: Option<Regex>,
}

/// A part of a text: plain text for the BPE, or the index of a special token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'t> {
    Text(&'t str),
    Special(usize),
}

impl SpecialSplitter {
    pub fn new(tokens: &[String]) -> Self {
        let mut by_length: Vec<&String> = tokens.iter().filter(|t| !t.is_empty()).collect();
        // Longer first, so a leftmost-first alternation behaves as leftmost-longest.
        by_length.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let regex = (!by_length.is_empty()).then(|| {
            let alternatives: Vec<String> = by_length.iter().map(|t| regex::escape(t)).collect();
            Regex::new(&alternatives.join("|")).expect("escaped literals always compile")
        });
        SpecialSplitter {
            tokens: tokens.to_vec(),
            regex,
        }
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Calls `f` on each segment of `text`, in order. Empty text segments are skipped.
    pub fn for_each_segment<'t>(&self, text: &'t str, mut f: impl FnMut(Segment<'t>)) {
        let Some(regex) = &self.regex else {
            if !text.is_empty() {
                f(Segment::Text(text));
            }
            return;
        };
        let mut at = 0;
        for m in regex.find_iter(text) {
            if m.start() > at {
                f(Segment::Text(&text[at..m.start()]));
            }
            let index = self
                .tokens
                .iter()
                .position(|t| t == m.as_str())
                .expect("matched a listed token");
            f(Segment::Special(index));
            at = m.end();
        }
        if at < text.len() {
            f(Segment::Text(&text[at..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_specials_longest_first() {
        let s = SpecialSplitter::new(&["<a>".into(), "<a><b>".into()]);
        let mut parts = vec![];
        s.for_each_segment("x<a><b>y<a>", |seg| parts.push(seg));
        assert_eq!(
            parts,
            [
                Segment::Text("x"),
                Segment::Special(1),
                Segment::Text("y"),
                Segment::Special(0)
            ]
        );
    }
}
