//! X25519 key generation: the fixed-base multiplication `a·B` on edwards25519 with a larger
//! precomputed table than crrl's, then the map to the Montgomery u-coordinate.
//!
//! Why: a ratchet step makes a key pair for every message that answers the peer, and crrl's
//! `x25519_base` (four 16-entry tables, 51 additions and 60 doublings) is most of its cost after
//! the two Diffie–Hellmans. Here the scalar is written in 64 signed base-16 digits
//! `a = Σ dᵢ·16ⁱ`, dᵢ in [−8, 8], and split by the parity of i:
//! `a·B = 16·Σ d₂ₖ₊₁·(256ᵏ·B) + Σ d₂ₖ·(256ᵏ·B)`, with a table of `j·256ᵏ·B` (j = 1..8, k = 0..31):
//! 64 mixed additions and 4 doublings (the layout of curve25519-dalek's base-point table, here
//! on crrl's field arithmetic; no code taken from either).
//!
//! Constant time: the digits come from branch-free arithmetic; each table read touches all 8
//! entries of its row and keeps one with masks (`set_cond`), the sign applied with a masked
//! select; the additions are the unified (complete) ones, so a zero digit (the neutral entry)
//! costs the same. The field operations are crrl's, constant time. The clamped scalar and its
//! digits are wiped on return; the partial sums (crrl's field elements, which have no wipe) are
//! not, as in crrl's own multiplications.
//!
//! Formulas (extended coordinates X:Y:Z:T with x = X/Z, y = Y/Z, xy = T/Z, on
//! −x² + y² = 1 + d·x²y²): mixed addition with (y + x, y − x, 2d·xy), "madd-2008-hwcd-3";
//! doubling "dbl-2008-hwcd" (Hisil, Wong, Carter, Dawson, 2008).

use std::sync::OnceLock;

use crrl::field::GF25519;
use zeroize::Zeroizing;

/// A point in extended coordinates.
#[derive(Clone, Copy)]
struct Extended {
    x: GF25519,
    y: GF25519,
    z: GF25519,
    t: GF25519,
}

/// An affine point as additions use it: y + x, y − x, 2d·x·y.
#[derive(Clone, Copy)]
struct Niels {
    y_plus_x: GF25519,
    y_minus_x: GF25519,
    xy2d: GF25519,
}

impl Niels {
    /// The neutral point (x = 0, y = 1).
    const NEUTRAL: Niels = Niels {
        y_plus_x: GF25519::ONE,
        y_minus_x: GF25519::ONE,
        xy2d: GF25519::ZERO,
    };
}

/// Table rows: row k holds j·256ᵏ·B for j = 1..8.
type Table = [[Niels; 8]; 32];

/// 2d, d = −121665/121666.
fn d2() -> GF25519 {
    let d = -(GF25519::from_u32(121_665) / GF25519::from_u32(121_666));
    d + d
}

impl Extended {
    const NEUTRAL: Extended = Extended {
        x: GF25519::ZERO,
        y: GF25519::ONE,
        z: GF25519::ONE,
        t: GF25519::ZERO,
    };

    /// The point (E·F : G·H : F·G : E·H), where the addition and doubling formulas below end.
    #[inline(always)]
    fn from_efgh(e: GF25519, f: GF25519, g: GF25519, h: GF25519) -> Extended {
        Extended {
            x: e * f,
            y: g * h,
            z: f * g,
            t: e * h,
        }
    }

    /// `self + q` (complete: any two points of the curve, equal or neutral included).
    fn add_niels(&self, q: &Niels) -> Extended {
        let a = (self.y - self.x) * q.y_minus_x;
        let b = (self.y + self.x) * q.y_plus_x;
        let c = self.t * q.xy2d;
        let d = self.z + self.z;
        Extended::from_efgh(b - a, d - c, d + c, b + a)
    }

    /// `2·self`.
    fn double(&self) -> Extended {
        let a = self.x.square();
        let b = self.y.square();
        let z2 = self.z.square();
        let c = z2 + z2;
        let h = a + b;
        let e = h - (self.x + self.y).square();
        let g = a - b;
        Extended::from_efgh(e, c + g, g, h)
    }

    /// `self + q` for a point in extended coordinates (building the table only).
    fn add(&self, q: &Extended, d2: &GF25519) -> Extended {
        let a = (self.y - self.x) * (q.y - q.x);
        let b = (self.y + self.x) * (q.y + q.x);
        let c = self.t * d2 * q.t;
        let zz = self.z * q.z;
        let d = zz + zz;
        Extended::from_efgh(b - a, d - c, d + c, b + a)
    }
}

/// The base point: y = 4/5, x the root with a clear low bit (RFC 8032, 5.1).
fn base_point() -> Extended {
    let y = GF25519::from_u32(4) / GF25519::from_u32(5);
    let y2 = y.square();
    let d = -(GF25519::from_u32(121_665) / GF25519::from_u32(121_666));
    let (mut x, found) = ((y2 - GF25519::ONE) / (d * y2 + GF25519::ONE)).sqrt();
    assert!(found != 0, "x² of the base point is a square");
    if x.encode()[0] & 1 == 1 {
        x = -x;
    }
    Extended {
        x,
        y,
        z: GF25519::ONE,
        t: x * y,
    }
}

/// The table, computed once per process (256 points, normalised with one batched inversion;
/// some 0.1 ms), in a static, its working arrays (40 KiB) on the stack: no heap allocation.
/// With them on the heap, the freed 40 KiB changed where the allocator later put message
/// buffers, enough for `signal_measure`'s burst of 10-KiB decryptions to run 12% slower (its
/// plaintexts then ended at the top of the heap, which glibc gave back after every batch and
/// page-faulted in again in the next).
fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let d2 = d2();
        let mut points = [Extended::NEUTRAL; 256];
        let mut row_base = base_point();
        for row in points.chunks_exact_mut(8) {
            let mut multiple = row_base;
            for point in row {
                *point = multiple;
                multiple = multiple.add(&row_base, &d2);
            }
            // 256·P: eight doublings.
            for _ in 0..8 {
                row_base = row_base.double();
            }
        }
        let mut inverses = points.map(|p| p.z);
        GF25519::batch_invert(&mut inverses);
        let mut table = [[Niels::NEUTRAL; 8]; 32];
        for (i, (p, inv)) in points.iter().zip(&inverses).enumerate() {
            let (x, y) = (p.x * inv, p.y * inv);
            table[i / 8][i % 8] = Niels {
                y_plus_x: y + x,
                y_minus_x: y - x,
                xy2d: x * y * d2,
            };
        }
        table
    })
}

/// `digit·row[0]` for a digit in [−8, 8], reading every entry of the row.
fn lookup(row: &[Niels; 8], digit: i8) -> Niels {
    // Sign mask (all ones if negative) and absolute value, without branches.
    let negative = ((digit as i32) >> 31) as u32;
    let magnitude = ((digit as i32 as u32) ^ negative).wrapping_sub(negative);
    let mut out = Niels::NEUTRAL;
    for (j, entry) in (1u32..).zip(row) {
        // All ones when magnitude == j: (m − j) | (j − m) has its top bit clear only then.
        let hit = (((magnitude.wrapping_sub(j) | j.wrapping_sub(magnitude)) as i32) >> 31) as u32;
        let hit = !hit;
        out.y_plus_x.set_cond(&entry.y_plus_x, hit);
        out.y_minus_x.set_cond(&entry.y_minus_x, hit);
        out.xy2d.set_cond(&entry.xy2d, hit);
    }
    // −P: y + x and y − x swap, 2d·xy changes sign.
    Niels {
        y_plus_x: GF25519::select(&out.y_plus_x, &out.y_minus_x, negative),
        y_minus_x: GF25519::select(&out.y_minus_x, &out.y_plus_x, negative),
        xy2d: GF25519::select(&out.xy2d, &-out.xy2d, negative),
    }
}

/// The 64 signed base-16 digits of a 256-bit little-endian integer below 2²⁵⁵: each in
/// [−8, 8), the last in [−8, 8].
fn signed_digits(scalar: &[u8; 32]) -> Zeroizing<[i8; 64]> {
    let mut digits = Zeroizing::new([0i8; 64]);
    for (i, byte) in scalar.iter().enumerate() {
        digits[2 * i] = (byte & 15) as i8;
        digits[2 * i + 1] = (byte >> 4) as i8;
    }
    // Each digit in 0..=16 after the carry in; move [8, 16] down by 16 and carry one.
    for i in 0..63 {
        let carry = (digits[i] + 8) >> 4;
        digits[i] -= carry << 4;
        digits[i + 1] += carry;
    }
    digits
}

/// X25519's public key for `private` (clamped here, as RFC 7748 says): the u-coordinate of
/// `a·B` for the clamped scalar a, encoded canonically. The same bytes as
/// `crrl::x25519::x25519_base` and x25519-dalek's `PublicKey::from`.
pub(crate) fn x25519_base(private: &[u8; 32]) -> [u8; 32] {
    let mut clamped = Zeroizing::new(*private);
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    let digits = signed_digits(&clamped);
    let table = table();
    let mut sum = Extended::NEUTRAL;
    for (row, pair) in table.iter().zip(digits.chunks_exact(2)) {
        sum = sum.add_niels(&lookup(row, pair[1]));
    }
    for _ in 0..4 {
        sum = sum.double();
    }
    for (row, pair) in table.iter().zip(digits.chunks_exact(2)) {
        sum = sum.add_niels(&lookup(row, pair[0]));
    }
    // u = (1 + y)/(1 − y) = (Z + Y)/(Z − Y). a·B is never the neutral point (a is not a
    // multiple of the group order), so the divisor is never zero.
    ((sum.z + sum.y) / (sum.z - sum.y)).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_recompose_the_scalar() {
        let mut scalar = [0u8; 32];
        for (i, b) in scalar.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(181).wrapping_add(7);
        }
        for top in [0x40u8, 0x7f, 0x4f, 0x78] {
            scalar[31] = top;
            let digits = signed_digits(&scalar);
            assert!(digits[..63].iter().all(|d| (-8..8).contains(d)));
            assert!((-8..=8).contains(&digits[63]));
            // Σ dᵢ·16ⁱ, carried back into bytes.
            let mut bytes = [0u8; 32];
            let mut carry = 0i32;
            for i in 0..32 {
                let v = i32::from(digits[2 * i]) + 16 * i32::from(digits[2 * i + 1]) + carry;
                bytes[i] = v.rem_euclid(256) as u8;
                carry = v.div_euclid(256);
            }
            assert_eq!(carry, 0);
            assert_eq!(bytes, scalar);
        }
    }

    #[test]
    fn matches_crrl_on_edge_scalars() {
        let mut cases = vec![[0u8; 32], [0xff; 32], [0x88; 32], [0x77; 32], [0x08; 32]];
        for i in 0..64u8 {
            let mut s = [0u8; 32];
            s[usize::from(i / 2)] = if i % 2 == 0 { 0x08 } else { 0x80 };
            cases.push(s);
        }
        for s in cases {
            assert_eq!(x25519_base(&s), crrl::x25519::x25519_base(&s), "{s:02x?}");
        }
    }
}
