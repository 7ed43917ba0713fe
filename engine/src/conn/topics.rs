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
    /// Subscriptions added (`true`) and removed (`false`) since the worker
    /// last took them ([`Topics::take_changes`]), one entry per
    /// connection: the worker turns them into node-level counts (the
    /// subscription hook, the broker) once per turn, off the message path.
    changes: Vec<(Arc<str>, bool)>,
}

impl Topics {
    /// Subscribe; returns `false` if already subscribed.
    pub(crate) fn subscribe(&mut self, topic: &str, id: LocalId) -> bool {
        match self.subs.get_key_value(topic) {
            Some((key, _)) => {
                let key = key.clone();
                let added = self.subs.get_mut(topic).expect("present").insert(id);
                if added {
                    self.changes.push((key, true));
                }
                added
            }
            None => {
                let key: Arc<str> = Arc::from(topic);
                self.subs.insert(key.clone(), HashSet::from([id]));
                self.changes.push((key, true));
                true
            }
        }
    }

    /// Unsubscribe; returns `false` if not subscribed.
    pub(crate) fn unsubscribe(&mut self, topic: &str, id: LocalId) -> bool {
        let Some((key, set)) = self.subs.get_key_value(topic) else {
            return false;
        };
        if !set.contains(&id) {
            return false;
        }
        let key = key.clone();
        let set = self.subs.get_mut(topic).expect("present");
        set.remove(&id);
        if set.is_empty() {
            self.subs.remove(topic);
        }
        self.changes.push((key, false));
        true
    }

    /// Drop every subscription of a connection that went away.
    pub(crate) fn remove_all(&mut self, id: LocalId) {
        let changes = &mut self.changes;
        self.subs.retain(|key, set| {
            if set.remove(&id) {
                changes.push((key.clone(), false));
            }
            !set.is_empty()
        });
    }

    /// Move the subscription changes recorded since the last call into
    /// `into` (which must be empty).
    pub(crate) fn take_changes(&mut self, into: &mut Vec<(Arc<str>, bool)>) {
        std::mem::swap(&mut self.changes, into);
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
        let mut changes = Vec::new();
        t.take_changes(&mut changes);
        let got: Vec<(&str, bool)> = changes.iter().map(|(k, d)| (&**k, *d)).collect();
        // Three added; (1,0) leaves "a" and "b" on removal; (2,0) leaves "a".
        assert_eq!(
            got,
            [("a", true), ("a", true), ("b", true)]
                .into_iter()
                .chain(if got[3].0 == "a" {
                    [("a", false), ("b", false)]
                } else {
                    [("b", false), ("a", false)]
                })
                .chain([("a", false)])
                .collect::<Vec<_>>()
        );
        changes.clear();
        t.take_changes(&mut changes);
        assert!(changes.is_empty());
    }
}
