//! cardhub's one-shot SM3 for x86-64 CPUs with BMI2: the whole message
//! hashed by a compression function compiled for BMI2's three-operand
//! rotate (`rorx`).
//!
//! The compression is the standard's (GB/T 32905 §5.3): rounds unrolled
//! with rotating register names and the message expansion interleaved, so
//! it fills the slots the round chain leaves idle. SM3's round has a
//! dependency chain of about seven cycles that no arrangement shortens, and
//! RustCrypto's `sm3` already reaches it on an idle core; what `rorx`
//! removes is a register copy before every rotate, about a sixth of the
//! instructions, which is what counts when the core is shared. The
//! RustCrypto hasher stays the reference and the fallback; the tests in
//! [`super`] compare the two on random inputs.

/// Initial value IV (GB/T 32905 §4.1).
const IV: [u32; 8] = [
    0x7380_166f,
    0x4914_b2b9,
    0x1724_42d7,
    0xda8a_0600,
    0xa96f_30bc,
    0x1631_38aa,
    0xe38d_ee4d,
    0xb0fb_0e4e,
];

/// Round constants `T_j <<< (j mod 32)` (GB/T 32905 §4.2 and §5.3.3).
const T: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut j = 0;
    while j < 64 {
        let base: u32 = if j < 16 { 0x79cc_4519 } else { 0x7a87_9d8a };
        t[j] = base.rotate_left((j % 32) as u32);
        j += 1;
    }
    t
};

/// The SM3 digest of `data` through the BMI2 build of the compression
/// function.
///
/// # Safety
/// The CPU must support BMI2 (`is_x86_feature_detected!("bmi2")`).
#[target_feature(enable = "bmi2")]
pub(super) unsafe fn digest_bmi2(data: &[u8]) -> [u8; 32] {
    digest(data)
}

/// Merkle–Damgård over the compression function, with SM3's padding: `80`,
/// zeros, and the bit length as a 64-bit big-endian number.
#[inline(always)]
fn digest(data: &[u8]) -> [u8; 32] {
    let mut state = IV;
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress(&mut state, block.try_into().expect("chunks are 64 bytes"));
    }
    let tail = blocks.remainder();
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let len = if tail.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    last[len - 8..len].copy_from_slice(&bits.to_be_bytes());
    for block in last[..len].chunks_exact(64) {
        compress(&mut state, block.try_into().expect("chunks are 64 bytes"));
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[inline(always)]
fn p0(x: u32) -> u32 {
    x ^ x.rotate_left(9) ^ x.rotate_left(17)
}

#[inline(always)]
fn p1(x: u32) -> u32 {
    x ^ x.rotate_left(15) ^ x.rotate_left(23)
}

#[inline(always)]
fn ff_low(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

/// Majority.
#[inline(always)]
fn ff_high(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | (z & (x | y))
}

/// Choice: `(x & y) | (!x & z)`.
#[inline(always)]
fn gg_high(x: u32, y: u32, z: u32) -> u32 {
    ((y ^ z) & x) ^ z
}

/// The compression function CF on one block.
#[inline(always)]
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    // W_0..W_15, then W_16..W_67 computed four rounds ahead into the same
    // 16-word ring.
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;

    // One round j. Instead of shifting eight registers, the caller renames
    // them: the new A is written into D and the new E into H.
    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $j:expr, $ff:ident, $gg:ident) => {{
            let j: usize = $j;
            let wj = w[j % 16];
            let wj4 = if j + 4 >= 16 {
                let n = j + 4;
                w[n % 16] = p1(w[(n - 16) % 16] ^ w[(n - 9) % 16] ^ w[(n - 3) % 16].rotate_left(15))
                    ^ w[(n - 13) % 16].rotate_left(7)
                    ^ w[(n - 6) % 16];
                w[n % 16]
            } else {
                w[j + 4]
            };
            let a12 = $a.rotate_left(12);
            let ss1 = a12.wrapping_add($e).wrapping_add(T[j]).rotate_left(7);
            let ss2 = ss1 ^ a12;
            $d = $ff($a, $b, $c).wrapping_add($d).wrapping_add(ss2).wrapping_add(wj ^ wj4);
            $h = p0($gg($e, $f, $g).wrapping_add($h).wrapping_add(ss1).wrapping_add(wj));
            $b = $b.rotate_left(9);
            $f = $f.rotate_left(19);
        }};
    }
    macro_rules! four_rounds {
        ($j:expr, $ff:ident, $gg:ident) => {
            round!(a, b, c, d, e, f, g, h, $j, $ff, $gg);
            round!(d, a, b, c, h, e, f, g, $j + 1, $ff, $gg);
            round!(c, d, a, b, g, h, e, f, $j + 2, $ff, $gg);
            round!(b, c, d, a, f, g, h, e, $j + 3, $ff, $gg);
        };
    }
    four_rounds!(0, ff_low, ff_low);
    four_rounds!(4, ff_low, ff_low);
    four_rounds!(8, ff_low, ff_low);
    four_rounds!(12, ff_low, ff_low);
    four_rounds!(16, ff_high, gg_high);
    four_rounds!(20, ff_high, gg_high);
    four_rounds!(24, ff_high, gg_high);
    four_rounds!(28, ff_high, gg_high);
    four_rounds!(32, ff_high, gg_high);
    four_rounds!(36, ff_high, gg_high);
    four_rounds!(40, ff_high, gg_high);
    four_rounds!(44, ff_high, gg_high);
    four_rounds!(48, ff_high, gg_high);
    four_rounds!(52, ff_high, gg_high);
    four_rounds!(56, ff_high, gg_high);
    four_rounds!(60, ff_high, gg_high);

    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s ^= v;
    }
}
