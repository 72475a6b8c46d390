//! Pre-token ("word") counting: the first stage of training, parallel and mergeable.
//!
//! Sequences are split by the pre-tokenizer and counted. Special tokens in the text are plain
//! text here, as in HF's trainer (whose tokenizer has no added tokens before training). Counting is
//! an exact sum, so the result does not depend on thread count or batch boundaries. Counts of
//! several runs (shards) add up with [`WordCounts::merge`].

use super::pattern::{PreTokenizer, SearchCache};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Estimated bytes one distinct word costs in the table, beyond its own bytes (key box, count,
/// hash-table slot and load factor).
const ENTRY_OVERHEAD: usize = 48;

/// Line-per-sequence text is counted in chunks of about this many bytes.
const LINE_CHUNK: usize = 1 << 20;

/// What a memory cap removed, so a report can state it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pruned {
    /// Words whose count was at most this were dropped (0: nothing pruned).
    pub max_count: u64,
    /// Distinct words dropped (a word can be dropped more than once if it comes back).
    pub words: u64,
    /// Occurrences dropped.
    pub occurrences: u64,
}

/// How many times each pre-token occurs, keyed by its bytes.
#[derive(Debug, Clone, Default)]
pub struct WordCounts {
    counts: FxHashMap<Box<[u8]>, u64>,
    /// Bytes of all keys, for the memory estimate.
    key_bytes: usize,
    /// Number of sequences counted.
    pub sequences: u64,
    pub pruned: Pruned,
}

impl WordCounts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds `count` occurrences of `word`.
    pub fn add(&mut self, word: &[u8], count: u64) {
        if let Some(c) = self.counts.get_mut(word) {
            *c += count;
        } else {
            self.key_bytes += word.len();
            self.counts.insert(word.into(), count);
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: WordCounts) {
        self.sequences += other.sequences;
        self.pruned.max_count = self.pruned.max_count.max(other.pruned.max_count);
        self.pruned.words += other.pruned.words;
        self.pruned.occurrences += other.pruned.occurrences;
        if self.counts.is_empty() {
            self.counts = other.counts;
            self.key_bytes = other.key_bytes;
            return;
        }
        for (word, count) in other.counts {
            self.add(&word, count);
        }
    }

    /// Estimated heap bytes of the table.
    pub fn memory_estimate(&self) -> usize {
        self.key_bytes + self.counts.len() * ENTRY_OVERHEAD
    }

    /// Drops the rarest words until the estimate is at most `max_bytes`: first every word seen
    /// once, then at most twice, four times, and so on. Records what it dropped.
    pub fn prune_to(&mut self, max_bytes: usize) {
        let mut threshold = self.pruned.max_count.max(1);
        while self.memory_estimate() > max_bytes && !self.counts.is_empty() {
            let (mut words, mut occurrences, mut freed) = (0u64, 0u64, 0usize);
            self.counts.retain(|word, &mut count| {
                let keep = count > threshold;
                if !keep {
                    words += 1;
                    occurrences += count;
                    freed += word.len();
                }
                keep
            });
            self.key_bytes -= freed;
            self.pruned.words += words;
            self.pruned.occurrences += occurrences;
            self.pruned.max_count = self.pruned.max_count.max(threshold);
            threshold *= 2;
        }
        self.counts.shrink_to_fit();
    }

    /// The words and counts, sorted by word bytes (a stable order for files and training).
    pub fn sorted(&self) -> Vec<(&[u8], u64)> {
        let mut all: Vec<(&[u8], u64)> = self.counts.iter().map(|(w, &c)| (&**w, c)).collect();
        all.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.counts.iter().map(|(w, &c)| (&**w, c))
    }

    pub fn get(&self, word: &[u8]) -> u64 {
        self.counts.get(word).copied().unwrap_or(0)
    }
}

/// Counts the pre-tokens of sequences.
pub struct WordCounter<'p> {
    pre: &'p PreTokenizer,
}

impl<'p> WordCounter<'p> {
    pub fn new(pre: &'p PreTokenizer) -> Self {
        WordCounter { pre }
    }

    /// Counts one sequence into `counts`.
    pub fn count_into<'t>(
        &self,
        sequence: &'t str,
        counts: &mut FxHashMap<&'t [u8], u64>,
        search: &mut SearchCache,
    ) {
        for piece in self.pre.pieces_with(sequence, search) {
            *counts.entry(piece.as_bytes()).or_insert(0) += 1;
        }
    }

    /// Counts a batch of sequences in parallel and adds the result to `total`.
    pub fn count_batch<S: AsRef<str> + Sync>(&self, sequences: &[S], total: &mut WordCounts) {
        let texts: Vec<(&str, bool)> = sequences.iter().map(|s| (s.as_ref(), false)).collect();
        self.count_texts(&texts, total);
    }

    /// Counts texts in parallel and adds the result to `total`. A text flagged `true` is a
    /// sequence per line (each with its line ending); large ones are cut at line ends so that
    /// they spread over threads.
    pub fn count_texts(&self, texts: &[(&str, bool)], total: &mut WordCounts) {
        let mut units: Vec<(&str, bool)> = Vec::new();
        let mut sequences = 0u64;
        for &(text, lines) in texts {
            if !lines {
                sequences += 1;
                units.push((text, false));
                continue;
            }
            sequences += text.split_inclusive('\n').count() as u64;
            let mut rest = text;
            while rest.len() > LINE_CHUNK {
                // Searching bytes: LINE_CHUNK need not fall on a char boundary, a '\n' always does.
                let tail = &rest.as_bytes()[LINE_CHUNK..];
                let cut = tail
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| LINE_CHUNK + i + 1);
                units.push((&rest[..cut], true));
                rest = &rest[cut..];
            }
            if !rest.is_empty() {
                units.push((rest, true));
            }
        }
        // A few chunks per thread, each counted into a map borrowing the text, then merged
        // pairwise (smaller into larger).
        let chunks = rayon::current_num_threads() * 4;
        let chunk_len = units.len().div_ceil(chunks).max(1);
        let local = units
            .par_chunks(chunk_len)
            .map(|chunk| {
                let mut counts = FxHashMap::default();
                let mut search = self.pre.search_cache();
                for &(text, lines) in chunk {
                    if lines {
                        for line in text.split_inclusive('\n') {
                            self.count_into(line, &mut counts, &mut search);
                        }
                    } else {
                        self.count_into(text, &mut counts, &mut search);
                    }
                }
                counts
            })
            .reduce(FxHashMap::default, |a, b| {
                let (small, mut big) = if a.len() < b.len() { (a, b) } else { (b, a) };
                for (w, c) in small {
                    *big.entry(w).or_insert(0) += c;
                }
                big
            });
        total.sequences += sequences;
        total.counts.reserve(local.len() / 4);
        for (word, count) in local {
            total.add(word, count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_prune_reports() {
        let pre = PreTokenizer::new("glm4").unwrap();
        let counter = WordCounter::new(&pre);
        let mut wc = WordCounts::new();
        counter.count_batch(&["a a a b<|endoftext|>b", "a"], &mut wc);
        assert_eq!(wc.get(b"a"), 2);
        assert_eq!(wc.get(b" a"), 2);
        assert_eq!(wc.get(b" b"), 1);
        assert_eq!(wc.get(b"<|"), 1);
        assert_eq!(wc.get(b"endoftext"), 1);
        assert_eq!(wc.sequences, 2);
        let before = wc.len() as u64;
        wc.prune_to(100);
        assert_eq!(
            wc.len(),
            2,
            "only `a` and ` a` were seen twice; the rarest go first"
        );
        assert_eq!(wc.pruned.max_count, 1);
        wc.prune_to(0);
        assert!(wc.is_empty());
        assert_eq!(wc.pruned.words, before);
        assert_eq!(wc.pruned.occurrences, 9);
        assert_eq!(wc.pruned.max_count, 2);
    }

    #[test]
    fn large_line_text_is_cut_at_line_ends() {
        let pre = PreTokenizer::new("glm4").unwrap();
        let counter = WordCounter::new(&pre);
        // Over 2 MB of lines of multibyte text, so chunk cuts land inside chars.
        let line = "中文 text  with spaces\n";
        let text: String = (0..100_000)
            .map(|i| {
                if i % 7 == 0 {
                    "\n".to_string()
                } else {
                    format!("{i}{line}")
                }
            })
            .collect();
        assert!(text.len() > 2 * LINE_CHUNK);
        let mut chunked = WordCounts::new();
        counter.count_texts(&[(&text, true)], &mut chunked);
        let mut one_by_one = WordCounts::new();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        counter.count_batch(&lines, &mut one_by_one);
        assert_eq!(chunked.sequences, lines.len() as u64);
        assert_eq!(chunked.sorted(), one_by_one.sorted());
    }
}
