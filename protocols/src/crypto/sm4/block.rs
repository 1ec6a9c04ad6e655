//! The SM4 block function (GB/T 32907): key schedule and the 32-round
//! transformation of one 16-byte block, or of four blocks interleaved.
//!
//! This is cardhub's speed path, not a new algorithm: the round function
//! `T = L ∘ τ` is looked up in four 256-entry tables (`Tn[b] = L(S(b) << 8(3-n))`,
//! the layout OpenSSL's C implementation uses) instead of applying the
//! S-box byte by byte and then the linear map, as RustCrypto's `sm4` crate
//! does. Like OpenSSL, the first and last four rounds ([`GUARD_GROUPS`]) use the
//! 256-byte S-box instead of the 4 KiB tables, so the rounds nearest the
//! plaintext and ciphertext touch fewer cache lines. Table look-ups take
//! time that depends on the cache, as in OpenSSL and in the `sm4` crate's
//! byte S-box; the guard rounds keep what a cache observer learns about the
//! outer round keys to the S-box's two-bit granularity.
//!
//! The tests below and those in [`super`] check every path block-for-block
//! against the RustCrypto implementation, which stays the reference.
//!
//! Modes, padding and MACs live in [`super`]; this file knows blocks only.

use zeroize::Zeroize;

/// The SM4 S-box (GB/T 32907 §6.2.1).
const SBOX: [u8; 256] = [
    0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05,
    0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
    0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed, 0xcf, 0xac, 0x62,
    0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa, 0x75, 0x8f, 0x3f, 0xa6,
    0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c, 0x19, 0xe6, 0x85, 0x4f, 0xa8,
    0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb, 0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35,
    0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25, 0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87,
    0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52, 0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e,
    0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38, 0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1,
    0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34, 0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3,
    0x1d, 0xf6, 0xe2, 0x2e, 0x82, 0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f,
    0xd5, 0xdb, 0x37, 0x45, 0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51,
    0x8d, 0x1b, 0xaf, 0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8,
    0x0a, 0xc1, 0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0,
    0x89, 0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84,
    0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39, 0x48,
];

/// System parameter FK of the key schedule (GB/T 32907 §7.3).
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];

/// Groups of four rounds at each end that use the byte S-box rather than
/// the T-tables. One group (four rounds) matches OpenSSL 3.0's `sm4.c`: it
/// keeps the look-ups of the rounds nearest the plaintext and ciphertext
/// within the S-box's four cache lines.
const GUARD_GROUPS: usize = 1;

/// Number of rounds of SM4.
const ROUNDS: usize = 32;

/// Number of four-round groups.
const GROUPS: usize = ROUNDS / 4;

/// Round keys grouped by four (the round function updates the four state
/// words in turn, so a group is one pass over the state).
type RoundKeys = [[u32; 4]; GROUPS];

/// Fixed parameter CK_i of the key schedule: byte j of CK_i is
/// `(4i + j) * 7 mod 256` (GB/T 32907 §7.3).
const fn ck(i: usize) -> u32 {
    let mut word = 0u32;
    let mut j = 0;
    while j < 4 {
        word = (word << 8) | (((4 * i + j) * 7) % 256) as u32;
        j += 1;
    }
    word
}

/// Non-linear substitution τ: the S-box applied to each byte.
#[inline(always)]
const fn tau(a: u32) -> u32 {
    let b = a.to_be_bytes();
    u32::from_be_bytes([
        SBOX[b[0] as usize],
        SBOX[b[1] as usize],
        SBOX[b[2] as usize],
        SBOX[b[3] as usize],
    ])
}

/// Linear transformation L of the encryption rounds.
#[inline(always)]
const fn l(b: u32) -> u32 {
    b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24)
}

/// Linear transformation L' of the key schedule.
const fn l_prime(b: u32) -> u32 {
    b ^ b.rotate_left(13) ^ b.rotate_left(23)
}

/// The four round tables: `TABLES[n][b] = L(S(b) << (24 - 8n))`, so that
/// `T(x) = TABLES[0][x₀] ^ TABLES[1][x₁] ^ TABLES[2][x₂] ^ TABLES[3][x₃]`
/// for the big-endian bytes `x₀..x₃` of `x` (L is linear over XOR).
static TABLES: [[u32; 256]; 4] = make_tables();

const fn make_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut b = 0;
    while b < 256 {
        let s = SBOX[b] as u32;
        t[0][b] = l(s << 24);
        t[1][b] = l(s << 16);
        t[2][b] = l(s << 8);
        t[3][b] = l(s);
        b += 1;
    }
    t
}

/// `old ^ T(x)` through the byte S-box (guard rounds).
#[inline(always)]
fn t_sbox(old: u32, x: u32) -> u32 {
    let s = (u32::from(SBOX[(x >> 24) as usize]) << 24)
        | (u32::from(SBOX[((x >> 16) & 0xff) as usize]) << 16)
        | (u32::from(SBOX[((x >> 8) & 0xff) as usize]) << 8)
        | u32::from(SBOX[(x & 0xff) as usize]);
    old ^ l(s)
}

/// `old ^ T(x)` through the tables (middle rounds). The bytes whose index
/// takes one instruction to extract (top and bottom) are combined with
/// `old` first, so only two XORs follow the slower look-ups.
#[inline(always)]
fn t_table(old: u32, x: u32) -> u32 {
    (old ^ TABLES[0][(x >> 24) as usize] ^ TABLES[3][(x & 0xff) as usize])
        ^ (TABLES[1][((x >> 16) & 0xff) as usize] ^ TABLES[2][((x >> 8) & 0xff) as usize])
}

/// An expanded SM4 key: the 32 round keys in encryption and in decryption
/// order. The round keys reveal the key, so they are zeroized on drop and
/// never printed.
#[derive(Clone)]
pub struct Sm4Key {
    encrypt: RoundKeys,
    decrypt: RoundKeys,
}

impl Sm4Key {
    /// Expands a 128-bit key.
    pub fn new(key: &[u8; 16]) -> Self {
        let mut k = [0u32; 4];
        for (i, word) in k.iter_mut().enumerate() {
            *word =
                u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
                    ^ FK[i];
        }
        let mut encrypt = [0u32; ROUNDS];
        for (i, rk) in encrypt.iter_mut().enumerate() {
            let next = k[i % 4]
                ^ l_prime(tau(k[(i + 1) % 4]
                    ^ k[(i + 2) % 4]
                    ^ k[(i + 3) % 4]
                    ^ ck(i)));
            k[i % 4] = next;
            *rk = next;
        }
        k.zeroize();
        let mut reversed = encrypt;
        reversed.reverse();
        let group = |rk: &[u32; ROUNDS]| -> RoundKeys {
            std::array::from_fn(|g| [rk[4 * g], rk[4 * g + 1], rk[4 * g + 2], rk[4 * g + 3]])
        };
        let key = Self {
            encrypt: group(&encrypt),
            decrypt: group(&reversed),
        };
        encrypt.zeroize();
        reversed.zeroize();
        key
    }

    /// Encrypts one block in place.
    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        *block = to_bytes(crypt(&self.encrypt, to_words(block)));
    }

    /// Decrypts one block in place.
    pub fn decrypt_block(&self, block: &mut [u8; 16]) {
        *block = to_bytes(crypt(&self.decrypt, to_words(block)));
    }

    /// Encrypts one block given as four big-endian words (the CBC hot path:
    /// the chaining XOR stays in registers).
    #[inline]
    pub(crate) fn encrypt_words(&self, x: [u32; 4]) -> [u32; 4] {
        crypt(&self.encrypt, x)
    }

    /// Encrypts four independent blocks, interleaved so that their table
    /// look-ups overlap.
    #[inline]
    pub(crate) fn encrypt_words4(&self, x: Quad) -> Quad {
        crypt4(&self.encrypt, x)
    }

    /// Decrypts four independent blocks, interleaved.
    #[inline]
    pub(crate) fn decrypt_words4(&self, x: Quad) -> Quad {
        crypt4(&self.decrypt, x)
    }

    /// Decrypts one block given as four big-endian words.
    #[inline]
    pub(crate) fn decrypt_words(&self, x: [u32; 4]) -> [u32; 4] {
        crypt(&self.decrypt, x)
    }
}

impl Drop for Sm4Key {
    fn drop(&mut self) {
        self.encrypt.as_flattened_mut().zeroize();
        self.decrypt.as_flattened_mut().zeroize();
    }
}

impl std::fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm4Key(..)")
    }
}

/// A block as four big-endian words.
#[inline(always)]
pub(crate) fn to_words(b: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
    ]
}

/// Four big-endian words as a block.
#[inline(always)]
pub(crate) fn to_bytes(w: [u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(w) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Four SM4 rounds (one round-key group) on state `x`, with round
/// function `t`.
#[inline(always)]
fn four_rounds(x: &mut [u32; 4], rk: &[u32; 4], t: impl Fn(u32, u32) -> u32) {
    // The word written by the previous round goes in last, so the other
    // XORs run while it is still being computed.
    x[0] = t(x[0], (x[1] ^ x[2] ^ rk[0]) ^ x[3]);
    x[1] = t(x[1], (x[2] ^ x[3] ^ rk[1]) ^ x[0]);
    x[2] = t(x[2], (x[3] ^ x[0] ^ rk[2]) ^ x[1]);
    x[3] = t(x[3], (x[0] ^ x[1] ^ rk[3]) ^ x[2]);
}

/// Whether round group `g` is a guard group (byte S-box).
#[inline(always)]
fn is_guard(g: usize) -> bool {
    !(GUARD_GROUPS..GROUPS - GUARD_GROUPS).contains(&g)
}

/// Four blocks as big-endian words, processed together.
pub(crate) type Quad = [[u32; 4]; 4];

/// The 32 rounds and the final reversal R, with round keys in the given
/// order (encryption or decryption).
#[inline(always)]
fn crypt(rk: &RoundKeys, mut x: [u32; 4]) -> [u32; 4] {
    for (g, group) in rk.iter().enumerate() {
        if is_guard(g) {
            four_rounds(&mut x, group, t_sbox);
        } else {
            four_rounds(&mut x, group, t_table);
        }
    }
    [x[3], x[2], x[1], x[0]]
}

/// Four rounds (one round-key group) on four independent states, round
/// by round, so the four blocks' look-ups overlap.
#[inline(always)]
fn four_rounds_x4(x: &mut Quad, rk: &[u32; 4], t: impl Fn(u32, u32) -> u32 + Copy) {
    let [p, q, r, s] = x;
    for (i, &k) in rk.iter().enumerate() {
        let (i0, i1, i2, i3) = (i, (i + 1) % 4, (i + 2) % 4, (i + 3) % 4);
        p[i0] = t(p[i0], (p[i1] ^ p[i2] ^ k) ^ p[i3]);
        q[i0] = t(q[i0], (q[i1] ^ q[i2] ^ k) ^ q[i3]);
        r[i0] = t(r[i0], (r[i1] ^ r[i2] ^ k) ^ r[i3]);
        s[i0] = t(s[i0], (s[i1] ^ s[i2] ^ k) ^ s[i3]);
    }
}

/// [`crypt`] on four independent blocks.
#[inline(always)]
fn crypt4(rk: &RoundKeys, mut x: Quad) -> Quad {
    for (g, group) in rk.iter().enumerate() {
        if is_guard(g) {
            four_rounds_x4(&mut x, group, t_sbox);
        } else {
            four_rounds_x4(&mut x, group, t_table);
        }
    }
    x.map(|b| [b[3], b[2], b[1], b[0]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::sm4::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

    fn reference_encrypt(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
        let cipher = ::sm4::Sm4::new(key.into());
        let mut b = (*block).into();
        cipher.encrypt_block(&mut b);
        b.into()
    }

    fn reference_decrypt(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
        let cipher = ::sm4::Sm4::new(key.into());
        let mut b = (*block).into();
        cipher.decrypt_block(&mut b);
        b.into()
    }

    #[test]
    fn ck_matches_the_published_table() {
        assert_eq!(ck(0), 0x0007_0e15);
        assert_eq!(ck(1), 0x1c23_2a31);
        assert_eq!(ck(9), 0xfc03_0a11);
        assert_eq!(ck(31), 0x646b_7279);
    }

    #[test]
    fn table_round_function_equals_sbox_round_function() {
        for x in (0u32..=u32::MAX)
            .step_by(0x0101_0101 / 3)
            .chain([0, u32::MAX, 0x0123_4567])
        {
            assert_eq!(
                t_table(0x1234_5678, x),
                t_sbox(0x1234_5678, x),
                "x = {x:08x}"
            );
        }
    }

    #[test]
    fn interleaved_path_equals_single_block_path() {
        let key = Sm4Key::new(&[7u8; 16]);
        let blocks = [
            [1u32, 2, 3, 4],
            [5, 6, 7, 8],
            [u32::MAX, 0, 0, 1],
            [0xdead_beef; 4],
        ];
        let four = key.encrypt_words4(blocks);
        for (one, block) in four.iter().zip(blocks) {
            assert_eq!(*one, key.encrypt_words(block));
        }
        assert_eq!(key.decrypt_words4(four), blocks);
    }

    proptest::proptest! {
        #[test]
        fn fast_block_function_matches_rustcrypto(key: [u8; 16], block: [u8; 16]) {
            let fast = Sm4Key::new(&key);
            let mut enc = block;
            fast.encrypt_block(&mut enc);
            proptest::prop_assert_eq!(enc, reference_encrypt(&key, &block));
            let mut dec = block;
            fast.decrypt_block(&mut dec);
            proptest::prop_assert_eq!(dec, reference_decrypt(&key, &block));
        }
    }
}
