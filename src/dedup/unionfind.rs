//! Union-find over document keys whose root is always the smallest key of its component, so
//! the result does not depend on the order edges arrive in.
//!
//! [`UnionFind`] grows as keys arrive (a hash map, about 40 bytes per key); [`DenseUnionFind`]
//! is built over a sorted list of every key it will see (8 bytes per key plus a 4-byte parent
//! index), for the merges that must hold every clustered document of a corpus at once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a document key with one (folded) multiplication. Keys are positions in the input, not chosen
/// by an adversary, so the default (DoS-resistant, several times slower) hasher buys nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, key: u64) {
        // The folded 128-bit product: its low bits (the table's index) depend on every key
        // bit, the file number in the high bits of a key included.
        let product = ((self.0 ^ key) as u128) * 0x9E37_79B9_7F4A_7C15u128;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by document keys.
pub type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Default, Clone)]
pub struct UnionFind {
    parent: KeyMap<u64>,
}

impl UnionFind {
    pub fn new() -> Self {
        UnionFind::default()
    }

    pub fn find(&mut self, x: u64) -> u64 {
        let mut root = x;
        while let Some(&p) = self.parent.get(&root) {
            if p == root {
                break;
            }
            root = p;
        }
        // Path compression.
        let mut node = x;
        while node != root {
            let next = self.parent.get(&node).copied().unwrap_or(root);
            self.parent.insert(node, root);
            node = next;
        }
        root
    }

    pub fn union(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.parent.entry(ra).or_insert(ra);
        self.parent.entry(rb).or_insert(rb);
        if ra != rb {
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent.insert(high, low);
        }
    }

    /// Every node that is in some union, with its root (the smallest key of its component),
    /// sorted by node.
    pub fn roots(&mut self) -> Vec<(u64, u64)> {
        let mut nodes: Vec<u64> = self.parent.keys().copied().collect();
        nodes.sort_unstable();
        nodes.into_iter().map(|n| (n, self.find(n))).collect()
    }
}

/// Union-find over a fixed, sorted set of keys: a key is its index in the list, and a parent
/// is a `u32` index, so a node costs 12 bytes. Roots are the smallest index (hence the smallest
/// key) of their component, as in [`UnionFind`], so the result does not depend on the order of
/// the unions.
#[derive(Debug, Clone)]
pub struct DenseUnionFind {
    keys: Vec<u64>,
    /// `parent[i] <= i` always: a union points the larger root at the smaller one, and path
    /// halving only moves a node closer to its root.
    parent: Vec<u32>,
}

impl DenseUnionFind {
    /// A union-find of singletons over `keys`, which must ascend strictly (as
    /// [`merge_sorted_unique`] gives them); None if there are more than `u32::MAX` keys.
    pub fn new(keys: Vec<u64>) -> Option<Self> {
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys must ascend");
        let n = u32::try_from(keys.len()).ok()?;
        Some(DenseUnionFind {
            keys,
            parent: (0..n).collect(),
        })
    }

    /// The index of `key`, if it is one of the keys.
    pub fn index_of(&self, key: u64) -> Option<u32> {
        self.keys.binary_search(&key).ok().map(|i| i as u32)
    }

    /// The root index of `index` (path halving: no recursion, no extra memory).
    pub fn find(&mut self, mut index: u32) -> u32 {
        loop {
            let p = self.parent[index as usize];
            if p == index {
                return index;
            }
            let grand = self.parent[p as usize];
            self.parent[index as usize] = grand;
            index = grand;
        }
    }

    /// Joins the components of two indices.
    pub fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[high as usize] = low;
        }
    }

    /// Points every index straight at its root and returns the roots, index by index. One
    /// ascending pass is enough: a parent is never above its child, so it is already done.
    pub fn into_roots(mut self) -> (Vec<u64>, Vec<u32>) {
        for i in 0..self.parent.len() {
            let p = self.parent[i] as usize;
            self.parent[i] = self.parent[p];
        }
        (self.keys, self.parent)
    }
}

/// Calls `emit` with every value of the ascending `lists` once, in ascending order (a k-way
/// merge: memory is one entry per list, whatever their length).
pub fn merge_sorted_unique<I: Iterator<Item = u64>>(lists: Vec<I>, mut emit: impl FnMut(u64)) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut lists = lists;
    let mut heap = BinaryHeap::with_capacity(lists.len());
    for (i, list) in lists.iter_mut().enumerate() {
        if let Some(v) = list.next() {
            heap.push(Reverse((v, i)));
        }
    }
    let mut last = None;
    while let Some(Reverse((v, i))) = heap.pop() {
        if last != Some(v) {
            emit(v);
            last = Some(v);
        }
        if let Some(next) = lists[i].next() {
            heap.push(Reverse((next, i)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_key_is_root_whatever_the_order() {
        let edges = [(5, 9), (9, 2), (7, 8), (2, 4)];
        let mut a = UnionFind::new();
        for (x, y) in edges {
            a.union(x, y);
        }
        let mut b = UnionFind::new();
        for (x, y) in edges.iter().rev() {
            b.union(*y, *x);
        }
        assert_eq!(a.roots(), b.roots());
        assert_eq!(a.find(9), 2);
        assert_eq!(a.find(8), 7);
    }

    /// A small deterministic generator (splitmix64), so the tests need no crate.
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn dense_equals_the_map_union_find_on_random_edges_in_any_order() {
        let mut seed = 17u64;
        for round in 0..50 {
            let nodes = 2 + splitmix(&mut seed) % 300;
            let count = splitmix(&mut seed) % 400;
            // Keys spread over the whole range, file bits included.
            let key = |s: &mut u64| (splitmix(s) % nodes).wrapping_mul(0x0000_0100_0000_0007);
            let mut edges: Vec<(u64, u64)> = (0..count)
                .map(|_| (key(&mut seed), key(&mut seed)))
                .collect();
            let mut map = UnionFind::new();
            for &(a, b) in &edges {
                map.union(a, b);
            }
            let expected = map.roots();
            for order in 0..3 {
                match order {
                    1 => edges.reverse(),
                    2 => {
                        for i in (1..edges.len()).rev() {
                            edges.swap(i, (splitmix(&mut seed) % (i as u64 + 1)) as usize);
                        }
                    }
                    _ => {}
                }
                let mut keys: Vec<u64> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
                keys.sort_unstable();
                keys.dedup();
                let mut dense = DenseUnionFind::new(keys).unwrap();
                for &(a, b) in &edges {
                    let (a, b) = (dense.index_of(a).unwrap(), dense.index_of(b).unwrap());
                    // Either side first: the roots must not care.
                    if splitmix(&mut seed).is_multiple_of(2) {
                        dense.union(a, b);
                    } else {
                        dense.union(b, a);
                    }
                }
                let (keys, roots) = dense.into_roots();
                let got: Vec<(u64, u64)> = keys
                    .iter()
                    .zip(&roots)
                    .map(|(&k, &r)| (k, keys[r as usize]))
                    .collect();
                assert_eq!(got, expected, "round {round}, order {order}");
            }
        }
    }

    #[test]
    fn merge_gives_the_sorted_union_once() {
        let mut seed = 5u64;
        for _ in 0..30 {
            let lists: Vec<Vec<u64>> = (0..splitmix(&mut seed) % 8)
                .map(|_| {
                    let mut l: Vec<u64> = (0..splitmix(&mut seed) % 50)
                        .map(|_| splitmix(&mut seed) % 100)
                        .collect();
                    l.sort_unstable();
                    l.dedup();
                    l
                })
                .collect();
            let mut expected: Vec<u64> = lists.iter().flatten().copied().collect();
            expected.sort_unstable();
            expected.dedup();
            let mut got = Vec::new();
            merge_sorted_unique(lists.iter().map(|l| l.iter().copied()).collect(), |v| {
                got.push(v)
            });
            assert_eq!(got, expected);
        }
        merge_sorted_unique(Vec::<std::vec::IntoIter<u64>>::new(), |_| panic!("empty"));
    }
}
