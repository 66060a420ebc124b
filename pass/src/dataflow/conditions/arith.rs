//! Facts through the integer arithmetic optimised code tests conditions
//! with: `x & mask` (`x == 1 || x == 5` becomes `(x & ~4) == 1`) and
//! `x + k` (`lo <= x && x < lo + n` becomes `x - lo <u n`).
//!
//! Values are `bits` wide and wrap; facts read them sign-extended, as
//! constants are. Where wrapping could make a fact wrong, nothing is said.

use super::{Fact, sign_extend};

/// Values enumerated to evaluate a mask over a fact.
const MAX_ENUMERATED: i64 = 512;
/// Free bits a mask may leave for its solutions to be listed (2^6 values).
const MAX_FREE_BITS: u32 = 6;

fn width_mask(bits: u32) -> i64 {
    if bits >= 64 { -1 } else { (1i64 << bits) - 1 }
}

fn wrap(x: i64, bits: u32) -> i64 {
    if bits >= 64 { x } else { sign_extend(x & width_mask(bits), bits) }
}

/// The fact of a small set of values: their range, gaps as holes (past the
/// hole limit, a superset).
fn fact_of_set(mut values: Vec<i64>) -> Option<Fact> {
    values.sort_unstable();
    values.dedup();
    let (&lo, &hi) = (values.first()?, values.last()?);
    let holes = values.windows(2).filter(|w| w[1] - w[0] > 1).map(|w| (w[0] + 1, w[1] - 1)).collect();
    Fact::build(lo, hi, holes)
}

/// The values of a fact, when there are few.
fn enumerate(f: Fact) -> Option<Vec<i64>> {
    let width = f.hi.checked_sub(f.lo)?;
    (width < MAX_ENUMERATED).then(|| (f.lo..=f.hi).filter(|&v| f.contains(v)).collect())
}

/// What `x & mask` can be, given what `x` can be.
pub(super) fn mask(x: Fact, mask: i64, bits: u32) -> Fact {
    match enumerate(x) {
        Some(values) => fact_of_set(values.into_iter().map(|v| wrap(v & mask, bits)).collect()).unwrap_or(Fact::ANY),
        None => Fact::ANY,
    }
}

/// Whether `x & mask == k`, when what `x` can be decides it.
pub(super) fn mask_equals(x: Fact, mask: i64, k: i64, bits: u32) -> Option<bool> {
    let solutions = mask_solutions(mask, k, bits)?;
    if !solutions.iter().any(|&s| x.contains(s)) {
        return Some(false);
    }
    let values = enumerate(x)?;
    values.iter().all(|v| solutions.contains(v)).then_some(true)
}

/// The `x` with `x & mask == k`, in both readings (sign- and
/// zero-extended); `None` when too many to list.
fn mask_solutions(mask: i64, k: i64, bits: u32) -> Option<Vec<i64>> {
    let all = width_mask(bits);
    let (mask, k) = (mask & all, k & all);
    if k & !mask != 0 {
        return Some(Vec::new());
    }
    let free = all & !mask;
    if free.count_ones() > MAX_FREE_BITS {
        return None;
    }
    let free_bits: Vec<i64> = (0..bits.min(64)).map(|b| 1i64 << b).filter(|b| free & b != 0).collect();
    let mut out = Vec::new();
    for subset in 0..(1u32 << free_bits.len()) {
        let x = free_bits.iter().enumerate().filter(|(i, _)| subset & (1 << i) != 0).fold(k, |x, (_, b)| x | b);
        out.push(wrap(x, bits));
        if bits < 64 {
            out.push(x);
        }
    }
    Some(out)
}

/// What `x & mask` satisfying `result` says of `x`: a list of values for
/// an exact result, holes for excluded results. `None` when it says nothing.
pub(super) fn unmask(result: Fact, mask: i64, bits: u32) -> Option<Result<Fact, ()>> {
    if let Some(k) = result.value() {
        let solutions = mask_solutions(mask, k, bits)?;
        return Some(fact_of_set(solutions).ok_or(()));
    }
    // Excluded single values of the result exclude their solutions.
    if result.lo != i64::MIN || result.hi != i64::MAX {
        return None;
    }
    let mut holes = Vec::new();
    for &(a, b) in result.holes() {
        if a != b {
            continue;
        }
        for s in mask_solutions(mask, a, bits)? {
            holes.push((s, s));
        }
    }
    (!holes.is_empty()).then(|| Fact::build(i64::MIN, i64::MAX, holes).ok_or(()))
}

/// `f` moved by `k`: finite bounds and holes shift; bounds that are the
/// type's own (unconstrained) stay open. `None` when a bound could wrap.
fn shift(f: Fact, k: i64, bits: u32, open: Fact) -> Option<Fact> {
    let (min, max) = if bits >= 64 { (i64::MIN, i64::MAX) } else { (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1) };
    let in_range = |v: i64| bits >= 64 || (min..=max).contains(&v);
    let lo = if f.lo <= open.lo {
        i64::MIN
    } else {
        let lo = f.lo.checked_add(k)?;
        if !in_range(lo) || !in_range(f.lo) {
            return None;
        }
        lo
    };
    let hi = if f.hi >= open.hi {
        i64::MAX
    } else {
        let hi = f.hi.checked_add(k)?;
        if !in_range(hi) || !in_range(f.hi) {
            return None;
        }
        hi
    };
    let holes = f
        .holes()
        .iter()
        .filter_map(|&(a, b)| Some((a.checked_add(k)?, b.checked_add(k)?)))
        .filter(|&(a, b)| in_range(a) && in_range(b))
        .collect();
    Fact::build(lo, hi, holes)
}

/// What `x + k` can be, given what `x` can be (`open`: `x`'s type range).
pub(super) fn offset(x: Fact, k: i64, bits: u32, open: Fact) -> Fact {
    if let Some(v) = x.value() {
        return Fact::exact(wrap(v.wrapping_add(k), bits));
    }
    shift(x, k, bits, open).unwrap_or(Fact::ANY)
}

/// What `x + k` satisfying `result` says of `x`.
pub(super) fn unoffset(result: Fact, k: i64, bits: u32, open: Fact) -> Option<Fact> {
    shift(result, k.checked_neg()?, bits, open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_folds_two_cases() {
        // (x & ~4) == 1 on an i8: x is 1 or 5.
        let x = unmask(Fact::exact(1), -5, 8).unwrap().unwrap();
        assert!(x.contains(1) && x.contains(5) && !x.contains(3) && !x.contains(0));
        // (x & ~4) != 1: neither.
        let not = unmask(Fact::not_equal(1), -5, 8).unwrap().unwrap();
        assert!(!not.contains(1) && !not.contains(5) && not.contains(2));
        // x not in {1, 5}: (x & ~4) == 1 is impossible.
        let x = Fact::not_equal(1).meet(Fact::not_equal(5)).unwrap().meet(Fact::range(-128, 255)).unwrap();
        assert_eq!(mask_equals(x, -5, 1, 8), Some(false));
        assert_eq!(mask_equals(Fact::range(1, 1), -5, 1, 8), Some(true));
    }

    #[test]
    fn offset_tests_a_range() {
        // x - 3 <u 2 holds: x is 3 or 4.
        let open = Fact::range(-(1 << 31), (1 << 32) - 1);
        let x = unoffset(Fact::range(0, 1), -3, 32, open).unwrap();
        assert_eq!((x.lo, x.hi), (3, 4));
        // A wrapped exact value.
        assert_eq!(offset(Fact::exact(0), -1, 8, open).value(), Some(-1));
    }
}
