//! The per-worker connection table: a slab whose slots carry a generation,
//! so a [`crate::ConnId`] kept after its connection closed can never reach
//! the connection that reuses the slot.

/// A slab entry: the generation counts how many times the slot was freed.
struct Entry<T> {
    gen: u32,
    val: Option<T>,
}

/// Entries per chunk. The table grows a chunk at a time instead of doubling
/// one `Vec`: no 2× slack and no copy of every connection on growth, which
/// matters when the per-connection budget is a few hundred bytes.
const CHUNK: usize = 512;

/// Slots with generations. Freed slots are reused last-in first-out (warm in
/// cache); every free bumps the slot's generation.
///
/// Invariant: every chunk but the last holds exactly `CHUNK` entries, and
/// no chunk's capacity exceeds `CHUNK`.
pub(crate) struct Slab<T> {
    chunks: Vec<Vec<Entry<T>>>,
    free: Vec<u32>,
    len: usize,
    /// Slots ever created (`chunks` hold this many entries).
    slots: usize,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Self {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
            slots: 0,
        }
    }

    fn entry(&self, slot: u32) -> Option<&Entry<T>> {
        let s = slot as usize;
        self.chunks.get(s / CHUNK)?.get(s % CHUNK)
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry<T>> {
        let s = slot as usize;
        self.chunks.get_mut(s / CHUNK)?.get_mut(s % CHUNK)
    }

    /// Number of occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The id the next [`Slab::insert`] will return.
    pub(crate) fn vacant_id(&self) -> (u32, u32) {
        match self.free.last() {
            Some(&slot) => (slot, self.entry(slot).expect("free slot exists").gen),
            None => (self.slots as u32, 0),
        }
    }

    /// Store `val`; returns its slot and generation.
    pub(crate) fn insert(&mut self, val: T) -> (u32, u32) {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let e = self.entry_mut(slot).expect("free slot exists");
            debug_assert!(e.val.is_none());
            e.val = Some(val);
            (slot, e.gen)
        } else {
            if self.slots % CHUNK == 0 {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            let chunk = self.chunks.last_mut().expect("pushed");
            chunk.push(Entry {
                gen: 0,
                val: Some(val),
            });
            self.slots += 1;
            ((self.slots - 1) as u32, 0)
        }
    }

    /// The value at `slot` if its generation is still `gen`.
    pub(crate) fn get_mut(&mut self, slot: u32, gen: u32) -> Option<&mut T> {
        let e = self.entry_mut(slot)?;
        if e.gen == gen {
            e.val.as_mut()
        } else {
            None
        }
    }

    /// The value at `slot` if its generation's low 24 bits match (the bits a
    /// completion's `user_data` carries).
    pub(crate) fn get_mut_masked(&mut self, slot: u32, gen24: u32) -> Option<(u32, &mut T)> {
        let e = self.entry_mut(slot)?;
        if e.gen & 0x00FF_FFFF == gen24 & 0x00FF_FFFF {
            let gen = e.gen;
            e.val.as_mut().map(|v| (gen, v))
        } else {
            None
        }
    }

    /// Remove the value at `slot` (generation `gen`) and retire the id.
    pub(crate) fn remove(&mut self, slot: u32, gen: u32) -> Option<T> {
        let e = self.entry_mut(slot)?;
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
        self.chunks
            .iter()
            .flatten()
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
    fn grows_by_chunks_across_boundaries() {
        let mut s = Slab::new();
        let n = CHUNK * 2 + 3;
        let ids: Vec<_> = (0..n).map(|i| s.insert(i)).collect();
        assert_eq!(s.chunks.len(), 3);
        assert!(s.chunks.iter().all(|c| c.capacity() == CHUNK));
        for (i, &(slot, gen)) in ids.iter().enumerate() {
            assert_eq!(slot as usize, i);
            assert_eq!(s.get_mut(slot, gen).copied(), Some(i));
        }
        assert_eq!(s.ids().len(), n);
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
