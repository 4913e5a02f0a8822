//! Double to text exactly as `fpconv_dtoa` prints it: Redis 7.2+ and Valkey
//! use it for zset scores inside `DEBUG DIGEST`. It is Grisu2 (Loitsch
//! 2010), which is always correct but not always shortest: for a few
//! doubles in a thousand it prints one more digit than the shortest
//! round-trip form, so matching the servers means running the same
//! algorithm, step for step, with the same 64-bit approximations:
//!
//! * a cache of 87 powers of ten, 10^-348 .. 10^340 in steps of 8, each a
//!   64-bit mantissa rounded to nearest with its binary exponent — computed
//!   here once with exact big-integer arithmetic instead of kept as a table;
//! * w, and the boundaries m- and m+ halfway to its neighbours, scaled by
//!   the cached power that brings m+'s exponent into [-60, -32]; 64x64-bit
//!   products rounded up at bit 31; then m- + 1 and m+ - 1 ulp;
//! * digits generated from m+ until the rest fits in [m-, m+], then the
//!   last digit walked down toward w (`round_digit`);
//! * layout: a plain integer while the exponent is below ndigits + 7, a
//!   plain decimal for K in (-7, 0) or an exponent below 4, else
//!   `d.ddde±x` with at most 18 (17 when negative) digits.

use std::sync::OnceLock;

const FRAC_MASK: u64 = 0x000F_FFFF_FFFF_FFFF;
const EXP_MASK: u64 = 0x7FF0_0000_0000_0000;
const HIDDEN_BIT: u64 = 0x0010_0000_0000_0000;
const SIGN_MASK: u64 = 0x8000_0000_0000_0000;
const EXP_BIAS: i32 = 1023 + 52;
const CACHED_POWERS: usize = 87;
const FIRST_POWER: i32 = -348;
const POWER_STEP: i32 = 8;
const EXP_MAX: i32 = -32;
const EXP_MIN: i32 = -60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fp {
    frac: u64,
    exp: i32,
}

/// Little-endian u64 limbs; just enough arithmetic to build the cache.
#[derive(Clone, PartialEq, Eq)]
struct Big(Vec<u64>);

impl Big {
    fn one() -> Big {
        Big(vec![1])
    }
    fn mul_small(&mut self, m: u64) {
        let mut carry = 0u128;
        for limb in &mut self.0 {
            let v = u128::from(*limb) * u128::from(m) + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry > 0 {
            self.0.push(carry as u64);
        }
    }
    fn bits(&self) -> u32 {
        let top = self.0.iter().rposition(|&l| l != 0).unwrap_or(0);
        let l = self.0.get(top).copied().unwrap_or(0);
        top as u32 * 64 + (64 - l.leading_zeros())
    }
    fn bit(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }
    fn shl1_or(&mut self, low: bool) {
        let mut carry = u64::from(low);
        for limb in &mut self.0 {
            let next = *limb >> 63;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        if carry > 0 {
            self.0.push(carry);
        }
    }
    fn ge(&self, other: &Big) -> bool {
        let n = self.0.len().max(other.0.len());
        for i in (0..n).rev() {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            if a != b {
                return a > b;
            }
        }
        true
    }
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0u64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let b = other.0.get(i).copied().unwrap_or(0);
            let (v, o1) = limb.overflowing_sub(b);
            let (v, o2) = v.overflowing_sub(borrow);
            *limb = v;
            borrow = u64::from(o1 || o2);
        }
    }
}

/// 10^k as a normalized 64-bit mantissa (rounded to nearest) and exponent.
fn power_of_ten(k: i32) -> Fp {
    let mut d = Big::one();
    for _ in 0..k.unsigned_abs() {
        d.mul_small(10);
    }
    let len = d.bits() as i32;
    let round = |q: u128, exp: i32| -> Fp {
        if q >> 64 != 0 {
            Fp {
                frac: (q >> 1) as u64,
                exp: exp + 1,
            }
        } else {
            Fp {
                frac: q as u64,
                exp,
            }
        }
    };
    if k >= 0 {
        if len <= 64 {
            let v = d.0.first().copied().unwrap_or(0);
            return Fp {
                frac: v << (64 - len),
                exp: len - 64,
            };
        }
        // The top 64 bits, then the next one decides the rounding.
        let shift = (len - 64) as u32;
        let mut q: u128 = 0;
        for i in (shift..len as u32).rev() {
            q = (q << 1) | u128::from(d.bit(i));
        }
        let up = d.bit(shift - 1);
        return round(q + u128::from(up), len - 64);
    }
    // 2^s / 10^|k| with s chosen so the quotient has 64 bits.
    let s = (len + 63) as u32;
    let mut rem = Big(vec![0]);
    let mut q: u128 = 0;
    for i in (0..=s).rev() {
        rem.shl1_or(i == s);
        q <<= 1;
        if rem.ge(&d) {
            rem.sub(&d);
            q |= 1;
        }
    }
    rem.shl1_or(false);
    let up = rem.ge(&d);
    round(q + u128::from(up), -(s as i32))
}

fn cached_powers() -> &'static [Fp; CACHED_POWERS] {
    static CACHE: OnceLock<[Fp; CACHED_POWERS]> = OnceLock::new();
    CACHE.get_or_init(|| std::array::from_fn(|i| power_of_ten(FIRST_POWER + i as i32 * POWER_STEP)))
}

/// The cached power that scales binary exponent `exp` into
/// [EXP_MIN, EXP_MAX], and its decimal exponent.
fn find_cached_power(exp: i32) -> (Fp, i32) {
    let powers = cached_powers();
    let approx = (-f64::from(exp + CACHED_POWERS as i32) * 0.301_029_995_663_981_14) as i32;
    let mut idx = ((approx - FIRST_POWER) / POWER_STEP).clamp(0, CACHED_POWERS as i32 - 1);
    // Each step moves the scaled exponent by about 27, so the window of 28
    // is always found within a step or two; bounded anyway.
    for _ in 0..CACHED_POWERS {
        let p = powers[idx as usize];
        let current = exp + p.exp + 64;
        if current < EXP_MIN && idx + 1 < CACHED_POWERS as i32 {
            idx += 1;
        } else if current > EXP_MAX && idx > 0 {
            idx -= 1;
        } else {
            break;
        }
    }
    (powers[idx as usize], FIRST_POWER + idx * POWER_STEP)
}

fn build_fp(bits: u64) -> Fp {
    let frac = bits & FRAC_MASK;
    let e = ((bits & EXP_MASK) >> 52) as i32;
    if e != 0 {
        Fp {
            frac: frac + HIDDEN_BIT,
            exp: e - EXP_BIAS,
        }
    } else {
        Fp {
            frac,
            exp: -EXP_BIAS + 1,
        }
    }
}

fn normalize(mut fp: Fp) -> Fp {
    while fp.frac & HIDDEN_BIT == 0 {
        fp.frac <<= 1;
        fp.exp -= 1;
    }
    Fp {
        frac: fp.frac << 11,
        exp: fp.exp - 11,
    }
}

/// m- and m+, normalized to m+'s exponent.
fn boundaries(fp: Fp) -> (Fp, Fp) {
    let mut upper = Fp {
        frac: (fp.frac << 1) + 1,
        exp: fp.exp - 1,
    };
    while upper.frac & (HIDDEN_BIT << 1) == 0 {
        upper.frac <<= 1;
        upper.exp -= 1;
    }
    upper.frac <<= 10;
    upper.exp -= 10;
    let l_shift = if fp.frac == HIDDEN_BIT { 2 } else { 1 };
    let mut lower = Fp {
        frac: (fp.frac << l_shift) - 1,
        exp: fp.exp - l_shift,
    };
    lower.frac <<= lower.exp - upper.exp;
    lower.exp = upper.exp;
    (lower, upper)
}

/// The high 64 bits of the 128-bit product, rounded as fpconv rounds
/// (adding 2^31 to the middle partial sum).
fn multiply(a: Fp, b: Fp) -> Fp {
    const LO: u64 = 0xFFFF_FFFF;
    let ah_bl = (a.frac >> 32) * (b.frac & LO);
    let al_bh = (a.frac & LO) * (b.frac >> 32);
    let al_bl = (a.frac & LO) * (b.frac & LO);
    let ah_bh = (a.frac >> 32) * (b.frac >> 32);
    let mut tmp = (ah_bl & LO) + (al_bh & LO) + (al_bl >> 32);
    tmp += 1 << 31;
    Fp {
        frac: ah_bh + (ah_bl >> 32) + (al_bh >> 32) + (tmp >> 32),
        exp: a.exp + b.exp + 64,
    }
}

fn round_digit(digits: &mut [u8], delta: u64, mut rem: u64, kappa: u64, frac: u64) {
    let Some(last) = digits.last_mut() else {
        return;
    };
    // Unsigned C arithmetic: wrapping, as the original relies on.
    while rem < frac
        && delta.wrapping_sub(rem) >= kappa
        && (rem.wrapping_add(kappa) < frac
            || frac - rem > rem.wrapping_add(kappa).wrapping_sub(frac))
        && *last > b'0'
    {
        *last -= 1;
        rem = rem.wrapping_add(kappa);
    }
}

const TENS: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 19;
    while i > 0 {
        t[i - 1] = t[i] * 10;
        i -= 1;
    }
    t
};

/// Digits of `upper` until within `delta` of it; `k` gains the power of
/// ten of the last digit.
fn generate_digits(w: Fp, upper: Fp, lower: Fp, k: &mut i32) -> Vec<u8> {
    let wfrac = upper.frac.wrapping_sub(w.frac);
    let mut delta = upper.frac.wrapping_sub(lower.frac);
    let shift = (-upper.exp) as u32;
    let one = 1u64 << shift;
    let mut part1 = upper.frac >> shift;
    let mut part2 = upper.frac & (one - 1);
    let mut digits = Vec::with_capacity(18);
    let mut kappa = 10;
    // Integral part: divisors 10^9 .. 10^0.
    for &div in &TENS[10..] {
        let digit = part1 / div;
        if digit != 0 || !digits.is_empty() {
            digits.push(b'0' + digit as u8);
        }
        part1 -= digit * div;
        kappa -= 1;
        let tmp = (part1 << shift).wrapping_add(part2);
        if tmp <= delta {
            *k += kappa;
            round_digit(&mut digits, delta, tmp, div << shift, wfrac);
            return digits;
        }
    }
    // Fractional part. The loop ends: delta grows tenfold each step while
    // part2 stays below `one`, and at most 17 more digits fit.
    let mut unit = 18usize;
    loop {
        part2 = part2.wrapping_mul(10);
        delta = delta.wrapping_mul(10);
        kappa -= 1;
        let digit = part2 >> shift;
        if digit != 0 || !digits.is_empty() {
            digits.push(b'0' + digit as u8);
        }
        part2 &= one - 1;
        if part2 < delta || digits.len() >= 18 {
            *k += kappa;
            let scale = TENS.get(unit).copied().unwrap_or(1);
            round_digit(&mut digits, delta, part2, one, wfrac.wrapping_mul(scale));
            return digits;
        }
        unit = unit.saturating_sub(1);
    }
}

fn grisu2(bits: u64) -> (Vec<u8>, i32) {
    let w = build_fp(bits);
    let (lower, upper) = boundaries(w);
    let w = normalize(w);
    let (cp, k) = find_cached_power(upper.exp);
    let w = multiply(w, cp);
    let mut upper = multiply(upper, cp);
    let mut lower = multiply(lower, cp);
    lower.frac = lower.frac.wrapping_add(1);
    upper.frac = upper.frac.wrapping_sub(1);
    let mut kk = -k;
    let digits = generate_digits(w, upper, lower, &mut kk);
    (digits, kk)
}

fn emit(digits: &[u8], k: i32, neg: bool, out: &mut String) {
    let n = digits.len() as i32;
    let exp = (k + n - 1).abs();
    let text = |d: &[u8]| String::from_utf8_lossy(d).into_owned();
    if k >= 0 && exp < n + 7 {
        out.push_str(&text(digits));
        out.extend(std::iter::repeat_n('0', k as usize));
        return;
    }
    if k < 0 && (k > -7 || exp < 4) {
        let offset = n + k;
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&text(digits));
        } else {
            let (i, f) = digits.split_at(offset as usize);
            out.push_str(&text(i));
            out.push('.');
            out.push_str(&text(f));
        }
        return;
    }
    let shown = digits
        .get(..(18 - usize::from(neg)).min(digits.len()))
        .unwrap_or(digits);
    let (first, rest) = shown.split_at(1.min(shown.len()));
    out.push_str(&text(first));
    if !rest.is_empty() {
        out.push('.');
        out.push_str(&text(rest));
    }
    out.push('e');
    out.push(if k + shown.len() as i32 - 1 < 0 {
        '-'
    } else {
        '+'
    });
    out.push_str(&exp.to_string());
}

/// `fpconv_dtoa(d)`.
pub fn dtoa(d: f64) -> String {
    let bits = d.to_bits();
    let mut out = String::new();
    if bits & SIGN_MASK != 0 {
        out.push('-');
    }
    if d == 0.0 {
        out.push('0');
    } else if bits & EXP_MASK == EXP_MASK {
        out.push_str(if bits & FRAC_MASK != 0 { "nan" } else { "inf" });
    } else {
        let (digits, k) = grisu2(bits);
        emit(&digits, k, bits & SIGN_MASK != 0, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_powers_are_exact_roundings() {
        // 10^4 and 10^12 are exact; 10^-4 = 2^-77 * 15111572745182864683.83
        // rounds up; 10^-348 and 10^340 are the ends of the cache.
        assert_eq!(
            power_of_ten(4),
            Fp {
                frac: 10_000 << 50,
                exp: -50
            }
        );
        assert_eq!(
            power_of_ten(12),
            Fp {
                frac: 16_777_216_000_000_000_000,
                exp: -24
            }
        );
        assert_eq!(
            power_of_ten(-4),
            Fp {
                frac: 15_111_572_745_182_864_684,
                exp: -77
            }
        );
        assert_eq!(power_of_ten(-348).exp, -1220);
        assert_eq!(power_of_ten(340).exp, 1066);
        for p in cached_powers() {
            assert!(p.frac >> 63 == 1, "normalized");
        }
    }

    #[test]
    fn layouts() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (100.0, "100"),
            (1e7, "10000000"),
            (1e17, "1e+17"),
            (1e22, "1e+22"),
            (1e-7, "1e-7"),
            (0.0001, "0.0001"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(dtoa(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn every_output_reads_back_as_the_same_double() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = f64::from_bits(x);
            if d.is_finite() {
                let s = dtoa(d);
                assert_eq!(s.parse::<f64>().ok(), Some(d), "{d:e} printed as {s}");
            }
        }
    }
}
