//! The per-worker connection table: a slab whose slots carry a generation,
//! so a [`crate::ConnId`] kept after its connection closed can never reach
//! the connection that reuses the slot.

/// A slab entry: the generation counts how many times the slot was freed.
struct Entry<T> {
    gen: u32,
    val: Option<T>,
}

/// Slots with generations. Freed slots are reused last-in first-out (warm in
/// cache); every free bumps the slot's generation.
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Number of occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The id the next [`Slab::insert`] will return.
    pub(crate) fn vacant_id(&self) -> (u32, u32) {
        match self.free.last() {
            Some(&slot) => (slot, self.entries[slot as usize].gen),
            None => (self.entries.len() as u32, 0),
        }
    }

    /// Store `val`; returns its slot and generation.
    pub(crate) fn insert(&mut self, val: T) -> (u32, u32) {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let e = &mut self.entries[slot as usize];
            debug_assert!(e.val.is_none());
            e.val = Some(val);
            (slot, e.gen)
        } else {
            self.entries.push(Entry {
                gen: 0,
                val: Some(val),
            });
            ((self.entries.len() - 1) as u32, 0)
        }
    }

    /// The value at `slot` if its generation is still `gen`.
    pub(crate) fn get_mut(&mut self, slot: u32, gen: u32) -> Option<&mut T> {
        let e = self.entries.get_mut(slot as usize)?;
        if e.gen == gen {
            e.val.as_mut()
        } else {
            None
        }
    }

    /// The value at `slot` if its generation's low 24 bits match (the bits a
    /// completion's `user_data` carries).
    pub(crate) fn get_mut_masked(&mut self, slot: u32, gen24: u32) -> Option<(u32, &mut T)> {
        let e = self.entries.get_mut(slot as usize)?;
        if e.gen & 0x00FF_FFFF == gen24 & 0x00FF_FFFF {
            let gen = e.gen;
            e.val.as_mut().map(|v| (gen, v))
        } else {
            None
        }
    }

    /// Remove the value at `slot` (generation `gen`) and retire the id.
    pub(crate) fn remove(&mut self, slot: u32, gen: u32) -> Option<T> {
        let e = self.entries.get_mut(slot as usize)?;
        if e.gen != gen {
            return None;
        }
        let v = e.val.take()?;
        e.gen = e.gen.wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some(v)
    }

    /// Every occupied slot with its generation.
    pub(crate) fn ids(&self) -> Vec<(u32, u32)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.val.is_some())
            .map(|(i, e)| (i as u32, e.gen))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_generation_is_refused() {
        let mut s = Slab::new();
        let (a, ga) = s.insert("a");
        assert_eq!(s.remove(a, ga), Some("a"));
        let (b, gb) = s.insert("b");
        // Same slot reused, new generation: the old id sees nothing.
        assert_eq!(a, b);
        assert_ne!(ga, gb);
        assert!(s.get_mut(a, ga).is_none());
        assert!(s.remove(a, ga).is_none());
        assert_eq!(s.get_mut(b, gb).copied(), Some("b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn masked_lookup_table() {
        let mut s = Slab::new();
        let (a, ga) = s.insert(1);
        let cases = [(ga, true), (ga + 1, false), (ga | (1 << 24), true)];
        for (g, ok) in cases {
            assert_eq!(s.get_mut_masked(a, g).is_some(), ok, "gen {g}");
        }
    }

    #[test]
    fn ids_lists_occupied() {
        let mut s = Slab::new();
        let x = s.insert(1);
        let y = s.insert(2);
        s.remove(x.0, x.1);
        assert_eq!(s.ids(), vec![y]);
    }
}
