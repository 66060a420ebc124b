//! One fact about an integer value: an interval with a few holes, and
//! comparisons decided from facts.

use crate::facts::Pred;

/// Holes a fact keeps; past that, the narrowest are forgotten (the fact
/// then allows those values: weaker, still sound).
const MAX_HOLES: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fact {
    pub lo: i64,
    pub hi: i64,
    /// Excluded ranges strictly inside (lo, hi), sorted and disjoint; the
    /// first `hole_count` entries count.
    holes: [(i64, i64); MAX_HOLES],
    hole_count: u8,
}

impl Fact {
    pub const ANY: Fact = Fact { lo: i64::MIN, hi: i64::MAX, holes: [(0, 0); MAX_HOLES], hole_count: 0 };

    pub fn exact(v: i64) -> Fact {
        Fact::range(v, v)
    }

    pub fn range(lo: i64, hi: i64) -> Fact {
        Fact { lo, hi, ..Fact::ANY }
    }

    pub fn not_equal(v: i64) -> Fact {
        Fact::build(i64::MIN, i64::MAX, vec![(v, v)]).unwrap_or(Fact::ANY)
    }

    /// Every value but those in [lo, hi].
    fn outside(lo: i64, hi: i64) -> Option<Fact> {
        Fact::build(i64::MIN, i64::MAX, vec![(lo, hi)])
    }

    /// [lo, hi] without the `holes`; `None` when nothing is left.
    pub(super) fn build(mut lo: i64, mut hi: i64, mut holes: Vec<(i64, i64)>) -> Option<Fact> {
        if lo > hi {
            return None;
        }
        holes.retain(|&(a, b)| a <= b && b >= lo && a <= hi);
        holes.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(holes.len());
        for (a, b) in holes {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        // Holes at the ends shrink the interval.
        if let Some(&(a, b)) = merged.first()
            && a <= lo
        {
            if b >= hi {
                return None;
            }
            lo = b + 1;
            merged.remove(0);
        }
        if let Some(&(a, b)) = merged.last()
            && b >= hi
        {
            hi = a - 1;
            merged.pop();
        }
        if merged.len() > MAX_HOLES {
            // Keep the widest holes, in order.
            let mut by_width: Vec<usize> = (0..merged.len()).collect();
            by_width.sort_by_key(|&i| std::cmp::Reverse(merged[i].1.abs_diff(merged[i].0)));
            by_width.truncate(MAX_HOLES);
            by_width.sort_unstable();
            merged = by_width.into_iter().map(|i| merged[i]).collect();
        }
        let mut fact = Fact::range(lo, hi);
        for (i, hole) in merged.into_iter().enumerate() {
            fact.holes[i] = hole;
            fact.hole_count += 1;
        }
        Some(fact)
    }

    pub(super) fn holes(&self) -> &[(i64, i64)] {
        &self.holes[..self.hole_count as usize]
    }

    pub fn is_any(&self) -> bool {
        *self == Fact::ANY
    }

    pub fn value(&self) -> Option<i64> {
        (self.lo == self.hi).then_some(self.lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.lo <= v && v <= self.hi && !self.holes().iter().any(|&(a, b)| a <= v && v <= b)
    }

    /// Both facts hold; `None` when no value satisfies both.
    pub fn meet(self, other: Fact) -> Option<Fact> {
        let holes = self.holes().iter().chain(other.holes()).copied().collect();
        Fact::build(self.lo.max(other.lo), self.hi.min(other.hi), holes)
    }

    /// The excluded ranges of `self` within [lo, hi]: its holes and what lies
    /// outside its interval.
    fn gaps_within(&self, lo: i64, hi: i64) -> Vec<(i64, i64)> {
        let mut gaps = self.holes().to_vec();
        if self.lo > lo {
            gaps.push((lo, self.lo - 1));
        }
        if self.hi < hi {
            gaps.push((self.hi + 1, hi));
        }
        gaps
    }

    /// Either fact holds.
    pub fn join(self, other: Fact) -> Fact {
        let (lo, hi) = (self.lo.min(other.lo), self.hi.max(other.hi));
        // Excluded by the join: what both exclude.
        let mut holes = Vec::new();
        for &(a1, b1) in &self.gaps_within(lo, hi) {
            for &(a2, b2) in &other.gaps_within(lo, hi) {
                let (a, b) = (a1.max(a2), b1.min(b2));
                if a <= b {
                    holes.push((a, b));
                }
            }
        }
        Fact::build(lo, hi, holes).unwrap_or(Fact::range(lo, hi))
    }

    /// The part of the fact at or above zero, and the part below.
    pub(super) fn split_at_zero(self) -> (Option<Fact>, Option<Fact>) {
        (self.meet(Fact::range(0, i64::MAX)), self.meet(Fact::range(i64::MIN, -1)))
    }

    pub(super) fn from_bool(b: bool) -> Fact {
        Fact::exact(b as i64)
    }

    /// The values `x` with `x <pred> k`, when one fact can say so.
    pub(super) fn satisfying(pred: Pred, k: i64) -> Option<Fact> {
        Some(match pred {
            Pred::Eq => Fact::exact(k),
            Pred::Ne => Fact::not_equal(k),
            Pred::Slt => Fact::range(i64::MIN, k.checked_sub(1)?),
            Pred::Sle => Fact::range(i64::MIN, k),
            Pred::Sgt => Fact::range(k.checked_add(1)?, i64::MAX),
            Pred::Sge => Fact::range(k, i64::MAX),
            // Unsigned against a non-negative constant: a negative reading is
            // a huge unsigned value, above k.
            Pred::Ult if k > 0 => Fact::range(0, k - 1),
            Pred::Ule if k >= 0 => Fact::range(0, k),
            Pred::Ugt if k >= 0 => Fact::outside(0, k)?,
            Pred::Uge if k > 0 => Fact::outside(0, k - 1)?,
            Pred::Ult | Pred::Ule | Pred::Ugt | Pred::Uge => return None,
        })
    }
}

/// Whether `a <pred> b` is decided by what is known of a and b.
pub fn decide(pred: Pred, a: Fact, b: Fact) -> Option<bool> {
    if pred.is_unsigned() {
        return decide_unsigned(pred, a, b);
    }
    match pred {
        Pred::Eq | Pred::Ne => {
            let equal = match (a.value(), b.value()) {
                (Some(x), Some(y)) => Some(x == y),
                (Some(x), None) if !b.contains(x) => Some(false),
                (None, Some(y)) if !a.contains(y) => Some(false),
                _ if a.hi < b.lo || b.hi < a.lo => Some(false),
                _ => None,
            };
            equal.map(|e| if pred == Pred::Eq { e } else { !e })
        }
        Pred::Slt if a.hi < b.lo => Some(true),
        Pred::Slt if a.lo >= b.hi => Some(false),
        Pred::Sle if a.hi <= b.lo => Some(true),
        Pred::Sle if a.lo > b.hi => Some(false),
        Pred::Sgt => decide(Pred::Slt, b, a),
        Pred::Sge => decide(Pred::Sle, b, a),
        _ => None,
    }
}

/// Unsigned order agrees with signed order on non-negative values, and a
/// negative reading is above every non-negative one. Each side's negative
/// and non-negative parts are decided apart; the parts must agree.
fn decide_unsigned(pred: Pred, a: Fact, b: Fact) -> Option<bool> {
    let signed = match pred {
        Pred::Ult => Pred::Slt,
        Pred::Ule => Pred::Sle,
        Pred::Ugt => Pred::Sgt,
        _ => Pred::Sge,
    };
    let (a_plus, a_minus) = a.split_at_zero();
    let (b_plus, b_minus) = b.split_at_zero();
    let mut verdict = None;
    for x in [a_plus, a_minus].into_iter().flatten() {
        for y in [b_plus, b_minus].into_iter().flatten() {
            let part = if (x.hi < 0) == (y.hi < 0) {
                // Same sign: signed order is unsigned order.
                decide(signed, x, y)?
            } else {
                // The negative side is the greater one.
                let a_greater = x.hi < 0;
                matches!(pred, Pred::Ugt | Pred::Uge) == a_greater
            };
            match verdict {
                None => verdict = Some(part),
                Some(v) if v != part => return None,
                _ => {}
            }
        }
    }
    verdict
}
