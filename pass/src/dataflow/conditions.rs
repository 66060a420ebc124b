//! Facts about tracked values along a path, and branch decisions from them.
//!
//! A fact is an interval with at most one excluded value: enough for flags
//! (0 / 1), try-acquire results (zero / non-zero), NTSTATUS codes (negative /
//! not), switch cases. Facts only ever come from constants in the program
//! (phi inputs, branch conditions, summaries), so joins cannot climb forever.

use crate::facts::{Operand, Pred, ValueDef, ValueId, ValueInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fact {
    pub lo: i64,
    pub hi: i64,
    /// A value inside [lo, hi] that is excluded.
    pub not: Option<i64>,
}

impl Fact {
    pub const ANY: Fact = Fact { lo: i64::MIN, hi: i64::MAX, not: None };

    pub fn exact(v: i64) -> Fact {
        Fact { lo: v, hi: v, not: None }
    }

    pub fn range(lo: i64, hi: i64) -> Fact {
        Fact { lo, hi, not: None }
    }

    pub fn not_equal(v: i64) -> Fact {
        Fact { lo: i64::MIN, hi: i64::MAX, not: Some(v) }
    }

    pub fn is_any(&self) -> bool {
        *self == Fact::ANY
    }

    pub fn value(&self) -> Option<i64> {
        (self.lo == self.hi).then_some(self.lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.lo <= v && v <= self.hi && self.not != Some(v)
    }

    /// Both facts hold; `None` when no value satisfies both.
    pub fn meet(self, other: Fact) -> Option<Fact> {
        let mut f = Fact { lo: self.lo.max(other.lo), hi: self.hi.min(other.hi), not: None };
        for not in [self.not, other.not].into_iter().flatten() {
            if not == f.lo && f.lo < f.hi {
                f.lo += 1;
            } else if not == f.hi && f.lo < f.hi {
                f.hi -= 1;
            } else if not == f.lo && not == f.hi {
                return None;
            } else if f.lo < not && not < f.hi {
                f.not = Some(not);
            }
        }
        (f.lo <= f.hi).then_some(f)
    }

    /// Either fact holds.
    pub fn join(self, other: Fact) -> Fact {
        let lo = self.lo.min(other.lo);
        let hi = self.hi.max(other.hi);
        let excluded_by = |f: &Fact, v: i64| !f.contains(v);
        // Disjoint intervals one value apart keep that value excluded
        // ([MIN, -1] or [1, MAX] is "non-zero").
        let gap = |a: &Fact, b: &Fact| (a.hi < b.lo && b.lo.checked_sub(a.hi) == Some(2)).then(|| a.hi + 1);
        let candidates = [self.not, other.not, gap(&self, &other), gap(&other, &self)];
        let not = candidates.into_iter().flatten().find(|&v| excluded_by(&self, v) && excluded_by(&other, v));
        Fact { lo, hi, not }
    }

    fn from_bool(b: bool) -> Fact {
        Fact::exact(b as i64)
    }

    /// The values `x` with `x <pred> k`, when one fact can say so.
    fn satisfying(pred: Pred, k: i64) -> Option<Fact> {
        Some(match pred {
            Pred::Eq => Fact::exact(k),
            Pred::Ne => Fact::not_equal(k),
            Pred::Slt => Fact::range(i64::MIN, k.checked_sub(1)?),
            Pred::Sle => Fact::range(i64::MIN, k),
            Pred::Sgt => Fact::range(k.checked_add(1)?, i64::MAX),
            Pred::Sge => Fact::range(k, i64::MAX),
            // Unsigned order agrees with signed order on non-negative values.
            Pred::Ult if k > 0 => Fact::range(0, k - 1),
            Pred::Ule if k >= 0 => Fact::range(0, k),
            Pred::Ult | Pred::Ule | Pred::Ugt | Pred::Uge => return None,
        })
    }
}

/// Facts per tracked value, sorted by value id. Values without an entry are
/// unconstrained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Facts(Vec<(ValueId, Fact)>);

impl Facts {
    pub fn get(&self, v: ValueId) -> Option<Fact> {
        self.0.binary_search_by_key(&v, |(id, _)| *id).ok().map(|i| self.0[i].1)
    }

    pub fn set(&mut self, v: ValueId, fact: Fact) {
        match self.0.binary_search_by_key(&v, |(id, _)| *id) {
            Ok(i) if fact.is_any() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = fact,
            Err(_) if fact.is_any() => {}
            Err(i) => self.0.insert(i, (v, fact)),
        }
    }

    pub fn remove(&mut self, v: ValueId) {
        if let Ok(i) = self.0.binary_search_by_key(&v, |(id, _)| *id) {
            self.0.remove(i);
        }
    }

    /// What holds on both: values known on one side only become unknown.
    pub fn join(&self, other: &Facts) -> Facts {
        let mut out = Vec::new();
        for (v, f) in &self.0 {
            if let Some(g) = other.get(*v) {
                let j = f.join(g);
                if !j.is_any() {
                    out.push((*v, j));
                }
            }
        }
        Facts(out)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(ValueId, Fact)> {
        self.0.iter()
    }
}

const MAX_DEPTH: usize = 24;

/// Evaluates conditions over one function's tracked values.
pub struct Conditions<'a> {
    pub values: &'a [ValueInfo],
}

impl Conditions<'_> {
    fn base(&self, v: ValueId) -> Fact {
        match self.values.get(v as usize) {
            Some(info) if info.bits == 1 => Fact::range(0, 1),
            Some(info) if info.bits < 64 && info.bits > 0 => {
                let half = 1i64 << (info.bits - 1);
                // Either signedness may be meant: cover both readings.
                Fact::range(-half, (half << 1) - 1)
            }
            _ => Fact::ANY,
        }
    }

    /// What `facts` say about an operand.
    pub fn eval(&self, facts: &Facts, operand: Operand) -> Fact {
        self.eval_at(facts, operand, 0)
    }

    fn eval_at(&self, facts: &Facts, operand: Operand, depth: usize) -> Fact {
        let v = match operand {
            Operand::Const(c) => return Fact::exact(c),
            Operand::Unknown => return Fact::ANY,
            Operand::Value(v) => v,
        };
        let known = facts.get(v).unwrap_or(Fact::ANY);
        let base = self.base(v).meet(known).unwrap_or(known);
        if depth > MAX_DEPTH || base.value().is_some() {
            return base;
        }
        let Some(info) = self.values.get(v as usize) else {
            return base;
        };
        let d = depth + 1;
        let derived = match &info.def {
            ValueDef::Cmp { pred, lhs, rhs } => {
                match decide(*pred, self.eval_at(facts, *lhs, d), self.eval_at(facts, *rhs, d)) {
                    Some(b) => Fact::from_bool(b),
                    None => Fact::ANY,
                }
            }
            ValueDef::Not(a) => match self.eval_at(facts, *a, d).value() {
                Some(x) => Fact::from_bool(x == 0),
                None => Fact::ANY,
            },
            ValueDef::And(a, b) => {
                let (x, y) = (self.eval_at(facts, *a, d), self.eval_at(facts, *b, d));
                match (x.value(), y.value()) {
                    (Some(0), _) | (_, Some(0)) => Fact::exact(0),
                    (Some(_), Some(_)) => Fact::exact(1),
                    _ => Fact::ANY,
                }
            }
            ValueDef::Or(a, b) => {
                let (x, y) = (self.eval_at(facts, *a, d), self.eval_at(facts, *b, d));
                match (x.value(), y.value()) {
                    (Some(1), _) | (_, Some(1)) => Fact::exact(1),
                    (Some(0), Some(0)) => Fact::exact(0),
                    _ => Fact::ANY,
                }
            }
            ValueDef::ZExt(a) => {
                let f = self.eval_at(facts, *a, d);
                if f.lo >= 0 { f } else { Fact::ANY }
            }
            ValueDef::SExt(a) => {
                let f = self.eval_at(facts, *a, d);
                if self.bits(*a) == 1 {
                    // i1 true sign-extends to -1.
                    match f.value() {
                        Some(1) => Fact::exact(-1),
                        Some(0) => Fact::exact(0),
                        _ => Fact::range(-1, 0),
                    }
                } else {
                    f
                }
            }
            ValueDef::Trunc(a) => {
                let f = self.eval_at(facts, *a, d);
                let bits = info.bits;
                match f.value() {
                    Some(x) if bits < 64 => {
                        let masked = x & ((1i64 << bits) - 1);
                        Fact::exact(if bits == 1 { masked } else { sign_extend(masked, bits) })
                    }
                    _ if bits >= 64 => f,
                    // A value that fits in the narrower type keeps its value (BOOLEANs).
                    _ if f.lo >= 0 && bits > 1 && f.hi < (1i64 << (bits - 1)) => f,
                    _ if f.lo >= 0 && bits == 1 && f.hi <= 1 => f,
                    _ => Fact::ANY,
                }
            }
            ValueDef::Select { condition, then_value, else_value } => {
                match self.eval_at(facts, *condition, d).value() {
                    Some(0) => self.eval_at(facts, *else_value, d),
                    Some(_) => self.eval_at(facts, *then_value, d),
                    None => self.eval_at(facts, *then_value, d).join(self.eval_at(facts, *else_value, d)),
                }
            }
            ValueDef::Opaque | ValueDef::Param(_) | ValueDef::CallResult | ValueDef::Phi => Fact::ANY,
        };
        base.meet(derived).unwrap_or(base)
    }

    fn bits(&self, operand: Operand) -> u32 {
        match operand {
            Operand::Value(v) => self.values.get(v as usize).map(|i| i.bits).unwrap_or(64),
            _ => 64,
        }
    }

    /// Adds "`operand` satisfies `fact`" to `facts`, and what follows from it
    /// through the operand's definition. Returns false when that cannot be
    /// (the path is infeasible).
    pub fn constrain(&self, facts: &mut Facts, operand: Operand, fact: Fact) -> bool {
        self.constrain_at(facts, operand, fact, 0)
    }

    fn constrain_at(&self, facts: &mut Facts, operand: Operand, fact: Fact, depth: usize) -> bool {
        let v = match operand {
            Operand::Const(c) => return fact.contains(c),
            Operand::Unknown => return true,
            Operand::Value(v) => v,
        };
        let current = self.eval_at(facts, operand, 0);
        let Some(new) = current.meet(fact) else {
            return false;
        };
        facts.set(v, new);
        if depth > MAX_DEPTH {
            return true;
        }
        let Some(info) = self.values.get(v as usize) else {
            return true;
        };
        let d = depth + 1;
        match &info.def {
            ValueDef::Cmp { pred, lhs, rhs } => {
                let Some(truth) = new.value() else {
                    return true;
                };
                let pred = if truth != 0 { *pred } else { pred.negate() };
                let (l, r) = (self.eval_at(facts, *lhs, d), self.eval_at(facts, *rhs, d));
                if let Some(k) = r.value() {
                    if let Some(f) = Fact::satisfying(pred, k) {
                        return self.constrain_at(facts, *lhs, f, d);
                    }
                } else if let Some(k) = l.value()
                    && let Some(f) = Fact::satisfying(pred.swap(), k)
                {
                    return self.constrain_at(facts, *rhs, f, d);
                }
                true
            }
            ValueDef::Not(a) => match new.value() {
                Some(x) => self.constrain_at(facts, *a, Fact::from_bool(x == 0), d),
                None => true,
            },
            ValueDef::And(a, b) if new.value() == Some(1) => {
                self.constrain_at(facts, *a, Fact::exact(1), d) && self.constrain_at(facts, *b, Fact::exact(1), d)
            }
            ValueDef::Or(a, b) if new.value() == Some(0) => {
                self.constrain_at(facts, *a, Fact::exact(0), d) && self.constrain_at(facts, *b, Fact::exact(0), d)
            }
            ValueDef::ZExt(a) => self.constrain_at(facts, *a, new, d),
            ValueDef::SExt(a) if self.bits(*a) == 1 => match new.value() {
                Some(-1) => self.constrain_at(facts, *a, Fact::exact(1), d),
                Some(0) => self.constrain_at(facts, *a, Fact::exact(0), d),
                _ => true,
            },
            ValueDef::SExt(a) => self.constrain_at(facts, *a, new, d),
            ValueDef::Trunc(a) => {
                // Only values that fit the narrow type carry over (BOOLEAN flags).
                let wide = self.eval_at(facts, *a, d);
                if wide.lo >= 0 && wide.hi <= 1 { self.constrain_at(facts, *a, new, d) } else { true }
            }
            ValueDef::Select { condition, then_value, else_value } => {
                match self.eval_at(facts, *condition, d).value() {
                    Some(0) => self.constrain_at(facts, *else_value, new, d),
                    Some(_) => self.constrain_at(facts, *then_value, new, d),
                    None => true,
                }
            }
            _ => true,
        }
    }
}

fn sign_extend(x: i64, bits: u32) -> i64 {
    let shift = 64 - bits;
    (x << shift) >> shift
}

/// Whether `a <pred> b` is decided by what is known of a and b.
pub fn decide(pred: Pred, a: Fact, b: Fact) -> Option<bool> {
    let (a, b, pred) = if pred.is_unsigned() {
        // Unsigned compares agree with signed ones on non-negative values.
        if a.lo < 0 || b.lo < 0 {
            return None;
        }
        let signed = match pred {
            Pred::Ult => Pred::Slt,
            Pred::Ule => Pred::Sle,
            Pred::Ugt => Pred::Sgt,
            _ => Pred::Sge,
        };
        (a, b, signed)
    } else {
        (a, b, pred)
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meet_and_join() {
        let nonzero = Fact::not_equal(0);
        assert_eq!(nonzero.meet(Fact::exact(0)), None);
        assert_eq!(Fact::range(0, 1).meet(nonzero), Some(Fact::exact(1)));
        assert_eq!(Fact::exact(0).join(Fact::exact(1)), Fact::range(0, 1));
        assert_eq!(Fact::range(1, 5).join(Fact::range(-5, -1)).not, Some(0));
    }

    #[test]
    fn decides_comparisons() {
        assert_eq!(decide(Pred::Ne, Fact::not_equal(0), Fact::exact(0)), Some(true));
        assert_eq!(decide(Pred::Sge, Fact::range(0, 10), Fact::exact(0)), Some(true));
        assert_eq!(decide(Pred::Slt, Fact::range(i64::MIN, -1), Fact::exact(0)), Some(true));
        assert_eq!(decide(Pred::Eq, Fact::range(0, 1), Fact::exact(1)), None);
        assert_eq!(decide(Pred::Ugt, Fact::exact(11), Fact::exact(10)), Some(true));
    }

    #[test]
    fn branch_on_flag_phi_is_decided() {
        // %c = icmp ne i8 %flag, 0 ; flag known to be 1 on this path
        let values = vec![
            ValueInfo { def: ValueDef::Phi, bits: 8, name: Some("taken".into()) },
            ValueInfo {
                def: ValueDef::Cmp { pred: Pred::Ne, lhs: Operand::Value(0), rhs: Operand::Const(0) },
                bits: 1,
                name: None,
            },
        ];
        let c = Conditions { values: &values };
        let mut facts = Facts::default();
        facts.set(0, Fact::exact(1));
        assert_eq!(c.eval(&facts, Operand::Value(1)).value(), Some(1));
        let mut unknown = Facts::default();
        assert!(c.constrain(&mut unknown, Operand::Value(1), Fact::exact(0)));
        assert_eq!(unknown.get(0), Some(Fact::exact(0)));
    }
}
