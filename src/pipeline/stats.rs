//! Counts of what a run did. They always add up: `read == kept + rejected + quarantined`.

use crate::corpus::StreamBreak;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What one step saw and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStats {
    /// Documents that reached the step.
    pub seen: u64,
    pub rejected: u64,
}

/// Counts for a file, a shard or a whole run (`OUT/stats.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Records read: documents plus quarantined records (a stream break is not a record).
    pub read: u64,
    pub kept: u64,
    pub rejected: u64,
    pub quarantined: u64,
    /// Rejected documents by reason code.
    pub by_reason: BTreeMap<String, u64>,
    /// Quarantined records by reason code.
    pub quarantine_by_reason: BTreeMap<String, u64>,
    /// Per step, in pipeline order of first appearance.
    pub by_step: BTreeMap<String, StepStats>,
    /// UTF-8 bytes of text read and kept.
    pub text_bytes_read: u64,
    pub text_bytes_kept: u64,
    /// Input files counted here.
    pub files: u64,
    /// Files that could not be read to their end.
    pub breaks: Vec<StreamBreak>,
}

impl Stats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        self.read += other.read;
        self.kept += other.kept;
        self.rejected += other.rejected;
        self.quarantined += other.quarantined;
        add_counts(&mut self.by_reason, &other.by_reason);
        add_counts(&mut self.quarantine_by_reason, &other.quarantine_by_reason);
        for (step, counts) in &other.by_step {
            let entry = self.by_step.entry(step.clone()).or_default();
            entry.seen += counts.seen;
            entry.rejected += counts.rejected;
        }
        self.text_bytes_read += other.text_bytes_read;
        self.text_bytes_kept += other.text_bytes_kept;
        self.files += other.files;
        self.breaks.extend(other.breaks.iter().cloned());
    }

    /// Whether every record is accounted for.
    pub fn adds_up(&self) -> bool {
        self.read == self.kept + self.rejected + self.quarantined
            && self.rejected == self.by_reason.values().sum::<u64>()
            && self.quarantined == self.quarantine_by_reason.values().sum::<u64>()
    }
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (key, n) in from {
        *into.entry(key.clone()).or_default() += n;
    }
}
