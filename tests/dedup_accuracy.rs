//! Fuzzy dedup against the near-duplicate ground truth (a slice of whole clusters of the shared
//! near-dup corpus, fixtures/dedup/neardup-slice.jsonl.zst): precision and recall of removals,
//! and the same result whatever the number of tasks and threads.

use glmkit::dedup::fuzzy::Verify;
use glmkit::dedup::{
    fuzzy, fuzzy::FuzzyOptions, input::InputSet, output::read_records, ShardSpec, Stage,
};
use glmkit::pipeline::RunOptions;
use std::collections::HashMap;
use std::path::Path;

const SLICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/dedup/neardup-slice.jsonl.zst"
);

fn inputs() -> InputSet {
    InputSet::expand(&[SLICE.to_string()], "text", "id").unwrap()
}

/// Precision and recall of removals: a removal is right when its true cluster has another
/// member, and at most size-1 removals count per true cluster.
fn precision_recall(out: &Path) -> (f64, f64, usize) {
    let mut size: HashMap<String, usize> = HashMap::new();
    for r in read_records(out, "kept")
        .unwrap()
        .iter()
        .chain(&read_records(out, "rejected").unwrap())
    {
        *size
            .entry(r["dup_cluster"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let rejected = read_records(out, "rejected").unwrap();
    let mut removed: HashMap<String, usize> = HashMap::new();
    for r in &rejected {
        assert_eq!(r["glmkit"]["reason"], "dup_fuzzy");
        *removed
            .entry(r["dup_cluster"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let right: usize = removed.iter().map(|(c, n)| (*n).min(size[c] - 1)).sum();
    let possible: usize = size.values().map(|s| s - 1).sum();
    let precision = if rejected.is_empty() {
        1.0
    } else {
        right as f64 / rejected.len() as f64
    };
    (precision, right as f64 / possible as f64, rejected.len())
}

#[test]
fn defaults_reach_precision_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let stats = fuzzy::run(
        &inputs(),
        &FuzzyOptions::default(),
        &dir.path().join("work"),
        &RunOptions::new(&out),
        Stage::All,
    )
    .unwrap()
    .unwrap()
    .total;
    assert_eq!(stats.read, stats.kept + stats.rejected + stats.quarantined);
    assert_eq!(stats.read, 133);
    let (precision, recall, removed) = precision_recall(&out);
    eprintln!("precision {precision:.3} recall {recall:.3} removed {removed}");
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.90, "recall {recall}");
}

#[test]
fn exact_verification_and_no_verification() {
    let run = |opts: FuzzyOptions, name: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        fuzzy::run(
            &inputs(),
            &opts,
            &dir.path().join("work"),
            &run_opts(&out, ShardSpec::default(), None),
            Stage::All,
        )
        .unwrap();
        let pr = precision_recall(&out);
        eprintln!(
            "{name}: precision {:.3} recall {:.3} removed {}",
            pr.0, pr.1, pr.2
        );
        pr
    };
    let (p_exact, r_exact, _) = run(
        FuzzyOptions {
            verify: Verify::Exact,
            ..FuzzyOptions::default()
        },
        "exact",
    );
    assert!(
        p_exact >= 0.99 && r_exact >= 0.95,
        "exact verification: {p_exact} {r_exact}"
    );
    // Without verification every bucket collision links: recall stays, precision drops.
    let (p_none, r_none, _) = run(
        FuzzyOptions {
            verify: Verify::None,
            ..FuzzyOptions::default()
        },
        "none",
    );
    assert!(
        r_none >= r_exact && p_none < p_exact,
        "no verification: {p_none} {r_none}"
    );
}

fn run_sharded(root: &Path, tasks: usize, threads: usize) -> Vec<String> {
    let inputs = inputs();
    let opts = FuzzyOptions {
        partitions: 5,
        ..FuzzyOptions::default()
    };
    let (work, out) = (root.join("work"), root.join("out"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for stage in [
            Stage::Signatures,
            Stage::Buckets,
            Stage::Cluster,
            Stage::Filter,
        ] {
            for i in 0..tasks {
                fuzzy::run(
                    &inputs,
                    &opts,
                    &work,
                    &run_opts(&out, ShardSpec::new(i, tasks).unwrap(), Some(threads)),
                    stage,
                )
                .unwrap();
            }
        }
    });
    let mut decisions: Vec<String> = read_records(&out, "rejected")
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["id"], r["glmkit"]["details"]))
        .collect();
    decisions.extend(
        read_records(&out, "kept")
            .unwrap()
            .iter()
            .map(|r| format!("kept {}", r["id"])),
    );
    decisions.sort();
    decisions
}

#[test]
fn same_clusters_whatever_the_tasks_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let one = run_sharded(&dir.path().join("a"), 1, 1);
    let three = run_sharded(&dir.path().join("b"), 3, 2);
    let seven = run_sharded(&dir.path().join("c"), 7, 3);
    assert!(!one.is_empty());
    assert_eq!(one, three);
    assert_eq!(one, seven);
}

fn run_opts(out: &std::path::Path, shard: ShardSpec, threads: Option<usize>) -> RunOptions {
    let mut run = RunOptions::new(out);
    run.shard = shard;
    run.threads = threads;
    run
}
