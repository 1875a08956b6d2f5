//! A first-in first-out ring of identifiers with a fixed capacity, over storage the caller
//! provides.

use core::marker::PhantomData;
use core::ops::DerefMut;

/// A first-in first-out queue of `T`, in `S` (a vector, a boxed slice), which never grows.
///
/// A queue whose entries are unique identifiers of at most `capacity` things (command slots,
/// say) never overflows: [`Ring::push`] fails only when something is queued twice.
#[derive(Debug, Clone)]
pub struct Ring<T, S> {
    slots: S,
    head: usize,
    len: usize,
    _entry: PhantomData<T>,
}

impl<T: Copy, S: DerefMut<Target = [T]>> Ring<T, S> {
    /// Returns an empty ring over `storage`, whose length is the capacity.
    pub fn new(storage: S) -> Self {
        Self {
            slots: storage,
            head: 0,
            len: 0,
            _entry: PhantomData,
        }
    }

    /// Returns how many entries the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Returns how many entries are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `x` last.
    ///
    /// # Errors
    ///
    /// Returns `x` back if the ring is full.
    pub fn push(&mut self, x: T) -> Result<(), T> {
        let cap = self.capacity();
        if self.len == cap {
            return Err(x);
        }
        // Both are below `cap`: wrap by one subtraction (no division, no panic path).
        let at = self.head + self.len;
        let at = if at >= cap { at - cap } else { at };
        match self.slots.get_mut(at) {
            Some(slot) => *slot = x,
            None => return Err(x),
        }
        self.len += 1;
        Ok(())
    }

    /// Takes the first entry.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let x = *self.slots.get(self.head)?;
        self.head += 1;
        if self.head == self.capacity() {
            self.head = 0;
        }
        self.len -= 1;
        Some(x)
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Moves every entry, in order, to the end of `other` (a larger ring, say).
    ///
    /// # Errors
    ///
    /// Returns the first entry `other` had no room for; it and those after it stay here.
    pub fn move_into<S2: DerefMut<Target = [T]>>(
        &mut self,
        other: &mut Ring<T, S2>,
    ) -> Result<(), T> {
        while let Some(x) = self.pop() {
            if let Err(x) = other.push(x) {
                // Put it back first: the order is kept.
                self.unpop(x);
                return Err(x);
            }
        }
        Ok(())
    }

    /// Puts `x` back in front (only after a `pop`, so there is room).
    fn unpop(&mut self, x: T) {
        let cap = self.capacity();
        if self.len == cap || cap == 0 {
            return;
        }
        self.head = if self.head == 0 {
            cap - 1
        } else {
            self.head - 1
        };
        if let Some(slot) = self.slots.get_mut(self.head) {
            *slot = x;
            self.len += 1;
        }
    }
}
