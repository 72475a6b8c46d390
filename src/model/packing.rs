//! Where the sequences of a `[B, T]` batch sit in its rows.
//!
//! A row holds one sequence, or several back to back ("packed") to cut padding, then right
//! padding. A token attends to the earlier tokens of its own sequence only, and its rotary
//! position counts from the start of its sequence, so a packed sequence is computed as if it
//! had a row of its own.

use super::error::ModelError;

/// Segment id of padding positions (no sequence).
pub const PADDING: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packing {
    len: usize,
    rows: Vec<Vec<usize>>,
}

impl Packing {
    /// `rows[b]` lists the lengths of the sequences of row b, in order; rows are `len` long.
    pub fn new(len: usize, rows: Vec<Vec<usize>>) -> Result<Self, ModelError> {
        for (b, row) in rows.iter().enumerate() {
            let used: usize = row.iter().sum();
            if used > len {
                return Err(ModelError::Input(format!(
                    "row {b} packs {used} tokens into {len} positions"
                )));
            }
        }
        Ok(Packing { len, rows })
    }

    /// One sequence of `lengths[b]` tokens per row (0: a row of padding only).
    pub fn one_per_row(len: usize, lengths: &[usize]) -> Result<Self, ModelError> {
        let rows = lengths
            .iter()
            .map(|&l| if l == 0 { Vec::new() } else { vec![l] })
            .collect();
        Packing::new(len, rows)
    }

    /// Positions per row (T).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows (B).
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Whether some row holds more than one sequence.
    pub fn is_packed(&self) -> bool {
        self.rows.iter().any(|r| r.len() > 1)
    }

    /// Positions that hold a token (the rest is padding).
    pub fn tokens(&self) -> usize {
        self.rows.iter().flatten().sum()
    }

    /// For every position, row-major: its sequence's number in the row ([`PADDING`] for
    /// padding) and its position counted from the start of its sequence (of the padding run for
    /// padding, so that a padding query always sees at least itself).
    pub fn segments_and_positions(&self) -> (Vec<u32>, Vec<u32>) {
        let mut segments = Vec::with_capacity(self.rows.len() * self.len);
        let mut positions = Vec::with_capacity(self.rows.len() * self.len);
        for row in &self.rows {
            for (s, &n) in row.iter().enumerate() {
                segments.extend(std::iter::repeat_n(s as u32, n));
                positions.extend(0..n as u32);
            }
            let pad = self.len - row.iter().sum::<usize>();
            segments.extend(std::iter::repeat_n(PADDING, pad));
            positions.extend(0..pad as u32);
        }
        (segments, positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_restart_positions() {
        let p = Packing::new(6, vec![vec![2, 3], vec![]]).unwrap();
        assert!(p.is_packed());
        assert_eq!(p.tokens(), 5);
        let (seg, pos) = p.segments_and_positions();
        assert_eq!(
            seg,
            [0, 0, 1, 1, 1, PADDING, PADDING, PADDING, PADDING, PADDING, PADDING, PADDING]
        );
        assert_eq!(pos, [0, 1, 0, 1, 2, 0, 0, 1, 2, 3, 4, 5]);
        assert!(Packing::new(4, vec![vec![3, 2]]).is_err());
        assert!(!Packing::one_per_row(4, &[4, 0]).unwrap().is_packed());
    }
}
