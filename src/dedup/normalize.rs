//! Text normalization applied before hashing, so trivially different copies hash alike.

use std::fmt;
use std::str::FromStr;
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// How much of a text's surface is ignored when comparing it.
///
/// - `none`: the bytes as they are.
/// - `basic` (default): Unicode NFC, every run of whitespace made one space, ends trimmed.
///   Catches re-flowed copies (other line breaks or indentation).
/// - `aggressive`: Unicode NFKC, lowercase, punctuation and symbols dropped, then whitespace as
///   in `basic`. Catches copies that differ in case, full/half-width forms or punctuation
///   (CCNet normalizes lines the same way, digits aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    None,
    #[default]
    Basic,
    Aggressive,
}

impl FromStr for Normalization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Normalization::None),
            "basic" => Ok(Normalization::Basic),
            "aggressive" => Ok(Normalization::Aggressive),
            other => Err(format!(
                "normalization `{other}`: expected none, basic or aggressive"
            )),
        }
    }
}

impl fmt::Display for Normalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Normalization::None => "none",
            Normalization::Basic => "basic",
            Normalization::Aggressive => "aggressive",
        })
    }
}

impl Normalization {
    /// Writes the normalized form of `text` into `out` (cleared first) and returns it as bytes.
    /// `out` is reused across documents to avoid an allocation per document.
    pub fn apply<'a>(&self, text: &'a str, out: &'a mut String) -> &'a [u8] {
        out.clear();
        match self {
            Normalization::None => text.as_bytes(),
            Normalization::Basic => {
                if !collapse_whitespace_nfc_stable(text, out) {
                    out.clear();
                    basic_reference(text, out);
                }
                out.as_bytes()
            }
            Normalization::Aggressive => {
                let kept = |c: &char| c.is_alphanumeric() || c.is_whitespace();
                if text.is_ascii() {
                    let chars = text.chars().filter(kept).map(|c| c.to_ascii_lowercase());
                    collapse_whitespace(chars, out);
                } else {
                    let lower = nfkc(text).flat_map(char::to_lowercase);
                    collapse_whitespace(lower.filter(kept), out);
                }
                out.as_bytes()
            }
        }
    }
}

/// NFKC, skipping the work when the text is already in NFKC (most text is).
pub(crate) fn nfkc(text: &str) -> Box<dyn Iterator<Item = char> + '_> {
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Box::new(text.chars())
    } else {
        Box::new(text.nfkc())
    }
}

/// `basic` as defined: NFC, then whitespace collapsed.
pub(crate) fn basic_reference(text: &str, out: &mut String) {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        collapse_whitespace(text.chars(), out);
    } else {
        collapse_whitespace(text.nfc(), out);
    }
}

/// `basic` in one pass over the bytes, copying runs of non-whitespace whole. Returns false
/// (leaving `out` partial) when a character may change under NFC, for the caller to redo the
/// text with [`basic_reference`].
fn collapse_whitespace_nfc_stable(text: &str, out: &mut String) -> bool {
    let bytes = text.as_bytes();
    let mut run_start: Option<usize> = None;
    let flush = |out: &mut String, run: &str| {
        // Runs are maximal, so any run after the first had whitespace before it.
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(run);
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (is_space, len) = if b < 0x80 {
            (matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c), 1)
        } else {
            let c = text[i..].chars().next().expect("a char starts here");
            if is_nfc_quick(std::iter::once(c)) != IsNormalized::Yes {
                return false;
            }
            (c.is_whitespace(), c.len_utf8())
        };
        if is_space {
            if let Some(start) = run_start.take() {
                flush(out, &text[start..i]);
            }
        } else if run_start.is_none() {
            run_start = Some(i);
        }
        i += len;
    }
    if let Some(start) = run_start {
        flush(out, &text[start..]);
    }
    true
}

fn collapse_whitespace(chars: impl Iterator<Item = char>, out: &mut String) {
    let mut pending_space = false;
    for c in chars {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(mode: Normalization, text: &str) -> String {
        let mut buf = String::new();
        String::from_utf8(mode.apply(text, &mut buf).to_vec()).unwrap()
    }

    #[test]
    fn basic_fast_path_equals_reference() {
        for text in [
            "  a  b\t\nc ",
            "Caf\u{0065}\u{0301} x",
            "e\u{301}\u{300}",
            "\u{3000}全角\u{3000}空白\u{a0}nbsp\u{2028}end\u{85}",
            "",
            " \n ",
            "日本語 テキスト",
            "\u{301}leading mark",
        ] {
            let mut reference = String::new();
            basic_reference(text, &mut reference);
            assert_eq!(norm(Normalization::Basic, text), reference, "{text:?}");
        }
    }

    #[test]
    fn basic_fast_path_equals_reference_on_real_text() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/corpus/sample.jsonl.zst"
        );
        let inputs = crate::dedup::input::InputSet::expand(&[file], "text", "id").unwrap();
        let mut seen = 0;
        inputs
            .for_each_batch(Default::default(), 1 << 20, |batch| {
                for record in &batch {
                    let Some(fields) = inputs.fields(record) else {
                        continue;
                    };
                    let mut reference = String::new();
                    basic_reference(&fields.text, &mut reference);
                    assert_eq!(
                        norm(Normalization::Basic, &fields.text),
                        reference,
                        "{}",
                        fields.id
                    );
                    seen += 1;
                }
                Ok(())
            })
            .unwrap();
        assert!(seen > 80);
    }

    #[test]
    fn modes() {
        let text = "  Caf\u{0065}\u{0301}\n\tBAR,  ｆｕｌｌ!  ";
        assert_eq!(norm(Normalization::None, text), text);
        assert_eq!(norm(Normalization::Basic, text), "Café BAR, ｆｕｌｌ!");
        assert_eq!(norm(Normalization::Aggressive, text), "café bar full");
        assert_eq!(norm(Normalization::Basic, " \n "), "");
        assert_eq!(
            norm(Normalization::Basic, "a\r\nb  c"),
            norm(Normalization::Basic, "a b\nc")
        );
    }
}
