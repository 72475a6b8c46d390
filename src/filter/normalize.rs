//! Text normalization: Unicode normal form, control characters, whitespace and line endings,
//! optional lowercasing. The step reports how many characters it changed in
//! `glmkit.normalize_changed` (see [`normalize_counting`]).

use crate::corpus::Document;
use crate::pipeline::{Step, StepError, Verdict};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// Canonical composition: the same text, one encoding of each character.
    #[default]
    Nfc,
    /// Compatibility composition: also folds full-width Latin, ligatures, superscripts.
    Nfkc,
    /// Leave the normal form alone.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeConfig {
    pub form: Form,
    /// Remove control characters (C0 except tab and newline, DEL, C1), zero-width and
    /// bidi-format characters other than ZWJ/ZWNJ, and the byte-order mark.
    pub remove_control: bool,
    /// CRLF and lone CR become LF; U+2028/U+2029 become LF.
    pub line_endings: bool,
    /// Unicode spaces (NBSP, ideographic space excluded) become ASCII spaces; trailing spaces
    /// are removed from lines; runs of more than two blank lines become two.
    pub whitespace: bool,
    pub lowercase: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            form: Form::Nfc,
            remove_control: true,
            line_endings: true,
            whitespace: true,
            lowercase: false,
        }
    }
}

/// Normalizes a text.
pub fn normalize(text: &str, cfg: &NormalizeConfig) -> String {
    normalize_counting(text, cfg).0
}

/// Normalizes a text and counts the characters changed: characters of the input that were
/// recomposed, replaced or removed, plus characters a stage added.
pub fn normalize_counting(text: &str, cfg: &NormalizeConfig) -> (String, usize) {
    let (formed, mut changed) = match cfg.form {
        Form::None => (text.to_string(), 0),
        form => to_normal_form(text, form),
    };
    let mut out = String::with_capacity(formed.len());
    let mut chars = formed.chars().peekable();
    while let Some(c) = chars.next() {
        let mapped = match c {
            '\r' if cfg.line_endings => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                Some('\n')
            }
            '\u{2028}' | '\u{2029}' if cfg.line_endings => Some('\n'),
            c if cfg.remove_control && is_removable_control(c) => None,
            c if cfg.whitespace
                && c != '\u{3000}'
                && c != '\n'
                && c != '\t'
                && c.is_whitespace() =>
            {
                Some(' ')
            }
            c => Some(c),
        };
        if mapped != Some(c) {
            changed += 1;
        }
        if let Some(m) = mapped {
            out.push(m);
        }
    }
    if cfg.whitespace {
        let before = out.chars().count();
        out = tidy_whitespace(&out);
        changed += before - out.chars().count();
    }
    if cfg.lowercase {
        let lower = out.to_lowercase();
        if lower != out {
            changed += out
                .chars()
                .zip(lower.chars())
                .filter(|(a, b)| a != b)
                .count();
            changed += lower.chars().count().abs_diff(out.chars().count());
            out = lower;
        }
    }
    (out, changed)
}

/// The text in NFC or NFKC, and the number of input characters in combining sequences (a
/// starter and its combining marks) that the form changed.
fn to_normal_form(text: &str, form: Form) -> (String, usize) {
    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized};
    let quick = if form == Form::Nfkc {
        is_nfkc_quick(text.chars())
    } else {
        is_nfc_quick(text.chars())
    };
    if quick == IsNormalized::Yes {
        return (text.to_string(), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = 0;
    let mut flush = |segment: &str, out: &mut String| {
        let normal: String = if form == Form::Nfkc {
            segment.nfkc().collect()
        } else {
            segment.nfc().collect()
        };
        if normal != segment {
            changed += segment.chars().count();
        }
        out.push_str(&normal);
    };
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if i > start && canonical_combining_class(c) == 0 {
            flush(&text[start..i], &mut out);
            start = i;
        }
    }
    flush(&text[start..], &mut out);
    (out, changed)
}

fn is_removable_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{7F}'..='\u{9F}'
        | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Trailing spaces off every line, at most two blank lines in a row, no blank lines at the ends.
fn tidy_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.split('\n') {
        let line = line.trim_end_matches([' ', '\t']);
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 2 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

pub struct NormalizeStep {
    config: NormalizeConfig,
}

impl NormalizeStep {
    pub fn new(config: NormalizeConfig) -> Self {
        NormalizeStep { config }
    }
}

impl Step for NormalizeStep {
    fn name(&self) -> &str {
        "normalize"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let (normalized, changed) = normalize_counting(&doc.text, &self.config);
        doc.annotate("normalize_changed", changed);
        if changed > 0 {
            doc.text = normalized;
        }
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_and_cleans() {
        let cfg = NormalizeConfig::default();
        // e + combining acute -> é; CRLF -> LF; NBSP -> space; zero-width space and BEL removed.
        assert_eq!(
            normalize("Cafe\u{301}\r\nA\u{a0}B\u{200b}\u{7}  \n\n\n\n\nend", &cfg),
            "Café\nA B\n\n\nend"
        );
        assert_eq!(normalize("全角　空白", &cfg), "全角　空白");
    }

    #[test]
    fn nfkc_and_lowercase_are_optional() {
        let cfg = NormalizeConfig {
            form: Form::Nfkc,
            lowercase: true,
            ..Default::default()
        };
        assert_eq!(normalize("ＡＢＣ ﬁle", &cfg), "abc file");
        assert_eq!(normalize("ＡＢＣ", &NormalizeConfig::default()), "ＡＢＣ");
    }

    #[test]
    fn counts_changed_characters() {
        let cfg = NormalizeConfig::default();
        let count = |t: &str| normalize_counting(t, &cfg).1;
        assert_eq!(count("abc"), 0);
        assert_eq!(count("a\r\nb\r\nc"), 2);
        assert_eq!(count("xe\u{301}y"), 2);
        assert_eq!(count("a  \nb"), 2);
        let lower = NormalizeConfig {
            lowercase: true,
            ..Default::default()
        };
        assert_eq!(normalize_counting("xAy", &lower).1, 1);
    }
}
