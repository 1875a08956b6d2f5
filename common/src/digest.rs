//! Header and data digests: CRC32C through the [`Crc32c`] trait.
//!
//! A digest is `!crc32c(!0, bytes)`, sent little-endian, as the C drivers compute it with
//! `~crc32c(~0, p, len)`. The kernel modules implement [`Crc32c`] with the kernel's accelerated
//! `crc32c()`; userspace uses [`SoftCrc32c`].

use core::marker::PhantomData;

/// The raw CRC32C update function a digest is built on.
pub trait Crc32c {
    /// Continues the CRC32C `crc` over `data`, exactly like the kernel's `crc32c(crc, p, len)`.
    ///
    /// No inversion is applied on entry or exit; [`Digest`] does that.
    fn crc32c(crc: u32, data: &[u8]) -> u32;
}

/// The value a digest computation starts from.
pub const SEED: u32 = !0;

/// A running digest, fed incrementally (for example while data is being copied).
pub struct Digest<C: Crc32c> {
    crc: u32,
    _crc32c: PhantomData<fn() -> C>,
}

impl<C: Crc32c> Clone for Digest<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Crc32c> Copy for Digest<C> {}

impl<C: Crc32c> core::fmt::Debug for Digest<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Digest").field("crc", &self.crc).finish()
    }
}

impl<C: Crc32c> Default for Digest<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Crc32c> Digest<C> {
    /// Returns an empty digest.
    pub const fn new() -> Self {
        Self {
            crc: SEED,
            _crc32c: PhantomData,
        }
    }

    /// Adds `data` to the digest.
    pub fn update(&mut self, data: &[u8]) {
        self.crc = C::crc32c(self.crc, data);
    }

    /// Copies `src` to the start of `dst` and adds the copied bytes to the digest.
    ///
    /// Returns the number of bytes copied, the shorter of the two lengths.
    pub fn copy_and_update(&mut self, dst: &mut [u8], src: &[u8]) -> usize {
        let n = dst.len().min(src.len());
        if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
            self.update(s);
        }
        n
    }

    /// Returns the digest value of the bytes added so far.
    pub fn finish(&self) -> u32 {
        !self.crc
    }
}

/// Returns the digest of `data`.
pub fn digest<C: Crc32c>(data: &[u8]) -> u32 {
    !C::crc32c(SEED, data)
}

/// The CRC32C (Castagnoli) polynomial, bit-reflected.
const POLY: u32 = 0x82f6_3b78;

/// Returns the CRC32C of the low byte of `v` from a zero state (one table entry).
const fn crc_byte(v: u32) -> u32 {
    let mut c = v & 0xff;
    let mut k = 0;
    while k < 8 {
        c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
        k += 1;
    }
    c
}

/// Builds the slicing-by-8 tables at compile time.
const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0usize;
    let mut v = 0u32;
    while i < 256 {
        // PANIC: `i < 256`; this runs at compile time, where a panic is a build error.
        t[0][i] = crc_byte(v);
        let mut s = 1;
        while s < 8 {
            // PANIC: `s < 8` and `i < 256`; compile time only.
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ crc_byte(prev);
            s += 1;
        }
        i += 1;
        v += 1;
    }
    t
}

/// Slicing-by-8 lookup tables (8 KiB), built at compile time.
static TABLES: [[u32; 256]; 8] = make_tables();

/// A portable table-driven CRC32C (slicing-by-8), for userspace and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoftCrc32c;

impl Crc32c for SoftCrc32c {
    fn crc32c(crc: u32, data: &[u8]) -> u32 {
        let t = &TABLES;
        let mut crc = crc;
        let mut rest = data;
        while let Some((a, tail)) = rest.split_first_chunk::<8>() {
            let l = (crc ^ u32::from_le_bytes([a[0], a[1], a[2], a[3]])).to_le_bytes();
            // PANIC: every index is a `u8` widened to `usize`, below the 256 table entries.
            crc = t[7][usize::from(l[0])]
                ^ t[6][usize::from(l[1])]
                ^ t[5][usize::from(l[2])]
                ^ t[4][usize::from(l[3])]
                ^ t[3][usize::from(a[4])]
                ^ t[2][usize::from(a[5])]
                ^ t[1][usize::from(a[6])]
                ^ t[0][usize::from(a[7])];
            rest = tail;
        }
        for &b in rest {
            let [low, ..] = (crc ^ u32::from(b)).to_le_bytes();
            // PANIC: a `u8` index below the 256 table entries.
            crc = (crc >> 8) ^ t[0][usize::from(low)];
        }
        crc
    }
}
