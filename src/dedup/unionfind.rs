//! Union-find over document keys whose root is always the smallest key of its component, so
//! the result does not depend on the order edges arrive in.

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
}
