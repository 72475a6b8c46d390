//! Which part of the work this process does: shard `i` of `n`.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based). Input file `k` (in sorted order) belongs to shard
/// `k % count`, so shards get similar numbers of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl Default for ShardSpec {
    fn default() -> Self {
        ShardSpec { index: 0, count: 1 }
    }
}

impl ShardSpec {
    /// The shard a Slurm array task stands for: `SLURM_ARRAY_TASK_ID` (minus
    /// `SLURM_ARRAY_TASK_MIN`, so arrays may start at 1) of `SLURM_ARRAY_TASK_COUNT`.
    pub fn from_env() -> Result<Option<ShardSpec>, String> {
        let var = |name: &str| std::env::var(name).ok();
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let parse = |name: &str, value: &str| {
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{name}={value} is not a number"))
        };
        let id = parse("SLURM_ARRAY_TASK_ID", &id)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(min) => parse("SLURM_ARRAY_TASK_MIN", &min)?,
            None => 0,
        };
        let count = parse("SLURM_ARRAY_TASK_COUNT", &count)?;
        let index = id
            .checked_sub(min)
            .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
        ShardSpec::new(index, count).map(Some)
    }

    pub fn new(index: usize, count: usize) -> Result<ShardSpec, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index must be below the count, and the count above 0"
            ));
        }
        Ok(ShardSpec { index, count })
    }

    /// Whether the `k`-th item belongs to this shard.
    pub fn owns(&self, k: usize) -> bool {
        k % self.count == self.index
    }
}

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}`: expected i/n, e.g. 0/4"))?;
        let number = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("shard `{s}`: `{x}` is not a number"))
        };
        ShardSpec::new(number(i)?, number(n)?)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_assigns() {
        let s: ShardSpec = "1/3".parse().unwrap();
        assert_eq!(s, ShardSpec { index: 1, count: 3 });
        assert_eq!((0..7).filter(|&k| s.owns(k)).collect::<Vec<_>>(), [1, 4]);
        assert!("3/3".parse::<ShardSpec>().is_err());
        assert!("x/3"
            .parse::<ShardSpec>()
            .unwrap_err()
            .contains("not a number"));
        assert!("2".parse::<ShardSpec>().is_err());
    }
}
