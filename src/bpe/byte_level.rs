//! GPT-2's byte-to-unicode mapping, used by HF's ByteLevel pre-tokenizer: every byte is shown as
//! one printable char so that token strings in `tokenizer.json` are valid text.

use std::sync::OnceLock;

struct Tables {
    byte_to_char: [char; 256],
    /// Indexed by code point (0..324); `None` where the char is not a byte-level char.
    char_to_byte: [Option<u8>; 324],
    /// Bytes ordered by the code point of their mapped char: the order in which HF's trainer
    /// assigns ids to the initial alphabet.
    alphabet_order: [u8; 256],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut byte_to_char = ['\0'; 256];
        let mut shifted = 0u32;
        for b in 0..=255u8 {
            let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            byte_to_char[b as usize] = if printable {
                b as char
            } else {
                shifted += 1;
                char::from_u32(255 + shifted).expect("code points 256..=323 are valid chars")
            };
        }
        let mut char_to_byte = [None; 324];
        for b in 0..=255u8 {
            char_to_byte[byte_to_char[b as usize] as usize] = Some(b);
        }
        let mut alphabet_order: [u8; 256] = std::array::from_fn(|b| b as u8);
        alphabet_order.sort_by_key(|&b| byte_to_char[b as usize] as u32);
        Tables {
            byte_to_char,
            char_to_byte,
            alphabet_order,
        }
    })
}

/// The char that stands for `byte` in byte-level token strings.
pub fn byte_to_char(byte: u8) -> char {
    tables().byte_to_char[byte as usize]
}

/// The byte a byte-level char stands for, or `None` for any other char.
pub fn char_to_byte(c: char) -> Option<u8> {
    tables().char_to_byte.get(c as usize).copied().flatten()
}

/// Bytes as a byte-level string (`"Ġthe"` for `b" the"`).
pub fn encode_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_char(b)).collect()
}

/// A byte-level string back to its bytes, or `None` if it has a char outside the mapping.
pub fn decode_str(s: &str) -> Option<Vec<u8>> {
    s.chars().map(char_to_byte).collect()
}

/// The 256 bytes in HF's alphabet id order (by code point of the mapped char).
pub fn alphabet_order() -> &'static [u8; 256] {
    &tables().alphabet_order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_round_trips_and_matches_gpt2() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(0), 'Ā');
        assert_eq!(byte_to_char(0xAD), 'Ń');
        assert_eq!(encode_bytes(" the".as_bytes()), "Ġthe");
        assert_eq!(char_to_byte('中'), None);
    }

    #[test]
    fn alphabet_starts_with_printable_bytes_and_ends_with_shifted_ones() {
        let order = alphabet_order();
        assert_eq!(order[0], b'!');
        assert_eq!(order[255], 0xAD);
        assert_eq!(order[188], 0);
    }
}
