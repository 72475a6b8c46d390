//! Stage output split into hash partitions, so the next stage can run partition by partition
//! on as many tasks as there are partitions.

use super::error::Result;
use super::stagefile::{FileEntry, Manifest, StageWriter};
use crate::corpus::ShardSpec;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::thread::{Scope, ScopedJoinHandle};

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
                    entries.push(join(f)?);
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

/// Finishes the files of a stage's partitions in the background: a file waits for the disk as
/// it is finished, and that wait overlaps the work on the next partitions instead of holding a
/// worker. At most [`FINISH_AT_ONCE`] are pending; [`BackgroundFinish::wait`] waits for all.
pub struct BackgroundFinish<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    pending: Mutex<VecDeque<ScopedJoinHandle<'scope, Result<()>>>>,
}

impl<'scope, 'env> BackgroundFinish<'scope, 'env> {
    pub fn new(scope: &'scope Scope<'scope, 'env>) -> Self {
        BackgroundFinish {
            scope,
            pending: Mutex::new(VecDeque::new()),
        }
    }

    /// Runs `finish` (finishing a file, then writing its manifest) on a thread of its own,
    /// after waiting for the oldest pending one when [`FINISH_AT_ONCE`] are pending.
    pub fn spawn(&self, finish: impl FnOnce() -> Result<()> + Send + 'scope) -> Result<()> {
        let oldest = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            (pending.len() >= FINISH_AT_ONCE)
                .then(|| pending.pop_front())
                .flatten()
        };
        if let Some(oldest) = oldest {
            join(oldest)?;
        }
        let handle = self.scope.spawn(finish);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(handle);
        Ok(())
    }

    /// Waits for every pending finish; the first error, if any.
    pub fn wait(self) -> Result<()> {
        let pending = self.pending.into_inner().unwrap_or_else(|e| e.into_inner());
        pending.into_iter().map(join).fold(Ok(()), Result::and)
    }
}

fn join<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

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
