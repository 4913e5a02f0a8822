//! The shape of a radix tree (`rax.c`) holding a sorted sequence of
//! fixed-length keys (stream IDs), computed in one pass from the keys in
//! order, in memory bounded by the key length.
//!
//! A rax is a compacted trie whose nodes are: *branching* nodes (one char
//! and child pointer per child), *compressed* nodes (a run of chars with one
//! child, for a path without branches) and the empty *key* node each key
//! ends at. For sorted keys the trie follows from the longest common prefix
//! of each key with the one before (the classic stack construction); a
//! compressed node sits on every edge that skips at least one char. This is
//! the structure `raxInsert` builds when the keys arrive in order, as they
//! do when a server loads a stream.
//!
//! Redis's `MEMORY USAGE` counts a rax as 16 bytes per key plus 244 per
//! node; Valkey counts the allocations, which [`RaxShape`]
//! sizes as `rax.c` lays nodes out (4-byte header, chars padded to 8, 8 per
//! child pointer, 8 for a key's value pointer).

/// One internal (branching) node on the rightmost path.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Index of the char this node branches on.
    depth: usize,
    children: u64,
}

/// Counts the nodes of a rax as keys are added in increasing order.
#[derive(Debug, Clone)]
pub struct RaxShape {
    key_len: usize,
    prev: Vec<u8>,
    /// Branching nodes on the rightmost path, shallowest first.
    open: Vec<Open>,
    pub keys: u64,
    pub nodes: u64,
    /// Sum of allocator-independent node sizes, one entry per node, passed
    /// through `alloc` as each node is finished.
    allocated: u64,
}

/// `raxPadding`: chars are padded so the pointers that follow are aligned.
fn padded(chars: u64) -> u64 {
    (4 + chars).next_multiple_of(8)
}

impl RaxShape {
    pub fn new(key_len: usize) -> Self {
        RaxShape {
            key_len,
            prev: Vec::new(),
            open: Vec::new(),
            keys: 0,
            nodes: 0,
            allocated: 0,
        }
    }

    /// The edge from a node at `parent` (-1 for the root) to a node at
    /// `child` (`key_len` for a key node): a compressed node holds the
    /// chars in between, if any.
    fn edge(&mut self, parent: isize, child: usize, alloc: &impl Fn(u64) -> u64) {
        let gap = child as isize - parent - 1;
        if gap > 0 {
            self.nodes += 1;
            self.allocated += alloc(padded(gap as u64) + 8);
        }
    }

    fn close(&mut self, node: Open, alloc: &impl Fn(u64) -> u64) {
        self.nodes += 1;
        self.allocated += alloc(padded(node.children) + 8 * node.children);
    }

    /// Adds the next key (keys must be distinct, increasing and of the
    /// length given to [`RaxShape::new`]; others are ignored).
    pub fn push(&mut self, key: &[u8], alloc: &impl Fn(u64) -> u64) {
        if key.len() != self.key_len || (self.keys > 0 && key <= self.prev.as_slice()) {
            return;
        }
        // The key node itself, with its value pointer.
        self.nodes += 1;
        self.allocated += alloc(4 + 8);
        if self.keys > 0 {
            let lcp = key
                .iter()
                .zip(&self.prev)
                .take_while(|(a, b)| a == b)
                .count();
            // The previous key's node hangs below the deepest open node.
            let mut last = self.key_len;
            while let Some(&top) = self.open.last() {
                if top.depth <= lcp {
                    break;
                }
                self.open.pop();
                self.edge(top.depth as isize, last, alloc);
                self.close(top, alloc);
                last = top.depth;
            }
            match self.open.last_mut() {
                Some(top) if top.depth == lcp => {
                    top.children += 1;
                    let d = top.depth as isize;
                    self.edge(d, last, alloc);
                }
                _ => {
                    self.edge(lcp as isize, last, alloc);
                    self.open.push(Open {
                        depth: lcp,
                        children: 2,
                    });
                }
            }
        }
        self.prev.clear();
        self.prev.extend_from_slice(key);
        self.keys += 1;
    }

    /// Closes the tree: its node count and the sum of its node allocations
    /// (the empty tree is one empty root node).
    pub fn finish(mut self, alloc: &impl Fn(u64) -> u64) -> (u64, u64) {
        if self.keys == 0 {
            return (1, alloc(4));
        }
        let mut last = self.key_len;
        while let Some(top) = self.open.pop() {
            self.edge(top.depth as isize, last, alloc);
            self.close(top, alloc);
            last = top.depth;
        }
        self.edge(-1, last, alloc);
        (self.nodes, self.allocated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&ms.to_be_bytes());
        k[8..].copy_from_slice(&seq.to_be_bytes());
        k
    }

    fn nodes(keys: &[[u8; 16]]) -> u64 {
        let one = |n: u64| n;
        let mut r = RaxShape::new(16);
        for k in keys {
            r.push(k, &one);
        }
        r.finish(&one).0
    }

    #[test]
    fn node_counts_match_the_measured_shapes() {
        // Measured through Redis's MEMORY USAGE (244 bytes per node).
        assert_eq!(nodes(&[]), 1);
        assert_eq!(nodes(&[id(1, 1)]), 2);
        // IDs differing in the last ms byte: two nodes per key plus two.
        let ms: Vec<_> = (1..=10).map(|m| id(m, 1)).collect();
        assert_eq!(nodes(&ms[..2]), 6);
        assert_eq!(nodes(&ms), 22);
        // IDs differing in the last seq byte: one node per key plus two.
        let seq: Vec<_> = (0..10).map(|s| id(5, s)).collect();
        assert_eq!(nodes(&seq), 12);
    }

    #[test]
    fn nested_branches_and_bad_input() {
        // Two groups of two, branching at byte 7 and then at byte 15.
        let keys = [id(1, 1), id(1, 2), id(2, 1), id(2, 2)];
        // root compressed, branch@7, 2 × (compressed, branch@15, 2 keys).
        assert_eq!(nodes(&keys), 1 + 1 + 2 * (1 + 1 + 2));
        // Out of order, duplicate or wrong-length keys are ignored.
        let one = |n: u64| n;
        let mut r = RaxShape::new(16);
        r.push(&id(2, 0), &one);
        r.push(&id(1, 0), &one);
        r.push(&id(2, 0), &one);
        r.push(b"short", &one);
        assert_eq!(r.finish(&one).0, 2);
    }
}
