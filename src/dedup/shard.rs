//! `--shard i/n`: which part of the work one task does.

use super::error::DedupError;
use std::fmt;
use std::str::FromStr;

/// Task `index` of `count` (0-based), as given by `--shard i/n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl ShardSpec {
    /// The whole job as one task.
    pub const WHOLE: ShardSpec = ShardSpec { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Self, DedupError> {
        if count == 0 || index >= count {
            return Err(DedupError::Config(format!(
                "shard {index}/{count}: need 0 <= i < n (shards are numbered from 0)"
            )));
        }
        Ok(ShardSpec { index, count })
    }

    /// Whether this task owns hash partition `partition` (partitions are dealt round-robin).
    pub fn owns_partition(&self, partition: u32) -> bool {
        partition % self.count == self.index
    }

    /// File-name tag, e.g. `00003-of-00004`.
    pub fn tag(&self) -> String {
        format!("{:05}-of-{:05}", self.index, self.count)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = DedupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DedupError::Config(format!("shard `{s}`: expected i/n, e.g. 0/4"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        ShardSpec::new(i, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "1/4".parse::<ShardSpec>().unwrap(),
            ShardSpec { index: 1, count: 4 }
        );
        assert!("4/4".parse::<ShardSpec>().is_err());
        assert!("x".parse::<ShardSpec>().is_err());
        assert!("0/0".parse::<ShardSpec>().is_err());
    }
}
