//! Per-worker publish/subscribe: topic → subscribed connections of this
//! worker. A publish serializes its frame once; every subscriber's send
//! queue shares the same bytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// `(slot, generation)` of a local connection.
type LocalId = (u32, u32);

/// Topic subscriptions of one worker's connections.
#[derive(Default)]
pub(crate) struct Topics {
    subs: HashMap<Arc<str>, HashSet<LocalId>>,
}

impl Topics {
    /// Subscribe; returns `false` if already subscribed.
    pub(crate) fn subscribe(&mut self, topic: &str, id: LocalId) -> bool {
        match self.subs.get_mut(topic) {
            Some(set) => set.insert(id),
            None => {
                self.subs.insert(Arc::from(topic), HashSet::from([id]));
                true
            }
        }
    }

    /// Unsubscribe; returns `false` if not subscribed.
    pub(crate) fn unsubscribe(&mut self, topic: &str, id: LocalId) -> bool {
        let Some(set) = self.subs.get_mut(topic) else {
            return false;
        };
        let removed = set.remove(&id);
        if set.is_empty() {
            self.subs.remove(topic);
        }
        removed
    }

    /// Drop every subscription of a connection that went away.
    pub(crate) fn remove_all(&mut self, id: LocalId) {
        self.subs.retain(|_, set| {
            set.remove(&id);
            !set.is_empty()
        });
    }

    /// The subscribers of `topic`, copied out (the caller mutates the slab
    /// while delivering).
    pub(crate) fn subscribers(&self, topic: &str, into: &mut Vec<LocalId>) {
        into.clear();
        if let Some(set) = self.subs.get(topic) {
            into.extend(set.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_table() {
        let mut t = Topics::default();
        assert!(t.subscribe("a", (1, 0)));
        assert!(!t.subscribe("a", (1, 0)));
        assert!(t.subscribe("a", (2, 0)));
        assert!(t.subscribe("b", (1, 0)));
        let mut v = Vec::new();
        t.subscribers("a", &mut v);
        v.sort();
        assert_eq!(v, vec![(1, 0), (2, 0)]);
        t.remove_all((1, 0));
        t.subscribers("a", &mut v);
        assert_eq!(v, vec![(2, 0)]);
        t.subscribers("b", &mut v);
        assert!(v.is_empty());
        assert!(t.unsubscribe("a", (2, 0)));
        assert!(!t.unsubscribe("a", (2, 0)));
        assert!(t.subs.is_empty());
    }
}
