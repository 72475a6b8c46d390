//! Stage output split into hash partitions, so the next stage can run partition by partition
//! on as many tasks as there are partitions.

use super::error::Result;
use super::stagefile::{FileEntry, Manifest, StageWriter};
use crate::pipeline::ShardSpec;
use std::path::Path;

/// One stage file per partition for one task: `<stage>/p<partition>-<shard>.bin`.
pub struct PartitionedWriter {
    writers: Vec<StageWriter>,
}

impl PartitionedWriter {
    pub fn create(
        work_dir: &Path,
        stage: &str,
        shard: ShardSpec,
        partitions: u32,
        kind: &[u8; 8],
    ) -> Result<Self> {
        let writers = (0..partitions)
            .map(|p| {
                StageWriter::create(work_dir, &partition_file(stage, p, &shard_tag(shard)), kind)
            })
            .collect::<Result<_>>()?;
        Ok(PartitionedWriter { writers })
    }

    pub fn partitions(&self) -> u32 {
        self.writers.len() as u32
    }

    pub fn record(&mut self, partition: u32, bytes: &[u8]) -> Result<()> {
        self.writers[partition as usize].record(bytes)
    }

    /// Finishes every partition's file. Each one waits for its data to reach the disk, so up
    /// to [`FINISH_AT_ONCE`] are finished at the same time, each on a thread of its own (the
    /// wait is the disk's, not the CPU's).
    pub fn finish(self) -> Result<Vec<FileEntry>> {
        let mut writers = self.writers;
        let mut entries = Vec::with_capacity(writers.len());
        while !writers.is_empty() {
            let rest = writers.split_off(writers.len().min(FINISH_AT_ONCE));
            std::thread::scope(|scope| {
                let finishing: Vec<_> = writers
                    .drain(..)
                    .map(|writer| scope.spawn(move || writer.finish()))
                    .collect();
                for f in finishing {
                    let entry = f
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                    entries.push(entry);
                }
                Ok::<_, super::error::DedupError>(())
            })?;
            writers = rest;
        }
        Ok(entries)
    }
}

/// Partition files finished (and synced to disk) at the same time.
const FINISH_AT_ONCE: usize = 32;

pub fn partition_file(stage: &str, partition: u32, tag: &str) -> String {
    format!("{stage}/p{partition:05}-{tag}.bin")
}

/// The files of `partition` listed by a complete set of manifests, in shard order.
pub fn files_of_partition(manifests: &[Manifest], stage: &str, partition: u32) -> Vec<FileEntry> {
    let prefix = format!("{stage}/p{partition:05}-");
    manifests
        .iter()
        .flat_map(|m| {
            m.files
                .iter()
                .filter(|f| f.path.starts_with(&prefix))
                .cloned()
        })
        .collect()
}

/// The partition of a 64-bit hash.
pub fn partition_of(hash: u64, partitions: u32) -> u32 {
    // High bits: the low bits also pick buckets inside a partition's sort order.
    ((hash >> 32) % partitions as u64) as u32
}

/// Whether task `shard` handles hash partition `partition` (dealt round-robin).
pub fn owns_partition(shard: ShardSpec, partition: u32) -> bool {
    shard.owns(partition as usize)
}

/// File-name tag of a task, e.g. `00003-of-00004`.
pub fn shard_tag(shard: ShardSpec) -> String {
    format!("{:05}-of-{:05}", shard.index, shard.count)
}
