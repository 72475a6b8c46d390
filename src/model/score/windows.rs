//! Which tokens of a long document each model window scores.
//!
//! A document of n tokens is cut into windows of at most `max_tokens`, starting every `stride`
//! tokens (as transformers' perplexity guide does): every target token is scored exactly once,
//! in the first window that contains it, with the window's earlier tokens as context. Unlike the
//! guide, a window never starts on its first target (which would leave it no context and
//! unscored when `stride == max_tokens`): it starts one token earlier.

/// One model call's worth of a document: tokens `[begin, end)`, scoring the targets `[first, end)`
/// (target t is predicted from the logits at position t - 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub begin: usize,
    pub end: usize,
    pub first: usize,
}

impl Window {
    pub fn len(&self) -> usize {
        self.end - self.begin
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.begin
    }

    pub fn targets(&self) -> usize {
        self.end - self.first
    }
}

/// Windows over `n` tokens scoring targets `first_target..n`. `stride` must be in
/// `1..=max_tokens`, `max_tokens` at least 2; returns no windows when nothing is to be scored.
pub fn plan_windows(
    n: usize,
    first_target: usize,
    max_tokens: usize,
    stride: usize,
) -> Vec<Window> {
    assert!(
        max_tokens >= 2 && stride >= 1 && stride <= max_tokens,
        "bad window settings"
    );
    let first_target = first_target.max(1);
    if n <= first_target {
        return Vec::new();
    }
    let mut windows = Vec::new();
    let mut scored_up_to = first_target;
    let mut nominal_begin = 0;
    loop {
        // A window starts early enough that its first target has a token of context (with
        // stride == max_tokens the nominal start would leave it none).
        let begin = nominal_begin.min(scored_up_to - 1);
        let end = (begin + max_tokens).min(n);
        let first = scored_up_to.max(begin + 1);
        if first < end {
            windows.push(Window { begin, end, first });
            scored_up_to = end;
        }
        if end == n {
            return windows;
        }
        nominal_begin += stride;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(windows: &[Window]) -> Vec<usize> {
        windows.iter().flat_map(|w| w.first..w.end).collect()
    }

    #[test]
    fn short_document_is_one_window() {
        assert_eq!(
            plan_windows(10, 2, 16, 8),
            vec![Window {
                begin: 0,
                end: 10,
                first: 2
            }]
        );
        assert!(plan_windows(2, 2, 16, 8).is_empty());
        assert!(plan_windows(1, 0, 16, 8).is_empty());
    }

    #[test]
    fn every_target_is_scored_once_with_context() {
        for (n, first, max, stride) in [
            (100, 2, 16, 8),
            (100, 1, 16, 16),
            (37, 2, 10, 3),
            (17, 0, 16, 1),
        ] {
            let windows = plan_windows(n, first, max, stride);
            assert_eq!(
                covered(&windows),
                (first.max(1)..n).collect::<Vec<_>>(),
                "{n} {first} {max} {stride}"
            );
            for w in &windows {
                assert!(w.len() <= max && w.first > w.begin && w.end <= n);
            }
        }
    }

    #[test]
    fn stride_sets_the_context_of_later_windows() {
        let windows = plan_windows(40, 2, 16, 8);
        assert_eq!(
            windows[0],
            Window {
                begin: 0,
                end: 16,
                first: 2
            }
        );
        assert_eq!(
            windows[1],
            Window {
                begin: 8,
                end: 24,
                first: 16
            }
        );
        assert_eq!(windows.last().unwrap().end, 40);
    }
}
