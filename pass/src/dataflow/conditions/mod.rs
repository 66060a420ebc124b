//! Facts about tracked values along a path, and branch decisions from them.
//!
//! A fact is an interval with a few holes: enough for flags (0 / 1),
//! try-acquire results (zero / non-zero), NTSTATUS codes (negative / not),
//! switch cases (one value, or none of the listed ones), unsigned length
//! tests (`len > 4096` excludes [0, 4096]; negative readings are huge
//! unsigned values). Facts only ever come from constants in the program
//! (phi inputs, branch conditions, summaries), so joins cannot climb forever.

mod arith;
mod fact;

pub use fact::{Fact, decide};

use crate::facts::{Operand, Pred, ValueDef, ValueId, ValueInfo};

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

    /// Whether every path `other` describes is one `self` describes: each
    /// fact of `self` is implied by `other`'s.
    pub fn covers(&self, other: &Facts) -> bool {
        self.0.iter().all(|(v, f)| other.get(*v).is_some_and(|g| f.join(g) == *f))
    }

    /// The values whose facts differ between the two (each sorted).
    pub fn differing(&self, other: &Facts) -> Vec<ValueId> {
        let mut out: Vec<ValueId> = self
            .0
            .iter()
            .filter(|(v, f)| other.get(*v) != Some(*f))
            .chain(other.0.iter().filter(|(v, _)| self.get(*v).is_none()))
            .map(|(v, _)| *v)
            .collect();
        out.sort_unstable();
        out
    }

    /// Keeps the facts of the values `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(ValueId) -> bool) {
        self.0.retain(|(v, _)| keep(*v));
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

    /// Whether what `facts` say about an operand can rest on the facts of
    /// any of `values` (sorted): it is one of them or computed from one.
    pub fn reads_any(&self, operand: Operand, values: &[ValueId]) -> bool {
        !values.is_empty() && self.reads_any_at(operand, values, 0)
    }

    fn reads_any_at(&self, operand: Operand, values: &[ValueId], depth: usize) -> bool {
        let Operand::Value(v) = operand else {
            return false;
        };
        if values.binary_search(&v).is_ok() {
            return true;
        }
        if depth > MAX_DEPTH {
            return true;
        }
        let Some(info) = self.values.get(v as usize) else {
            return false;
        };
        let d = depth + 1;
        match &info.def {
            ValueDef::Opaque | ValueDef::Param(_) | ValueDef::CallResult | ValueDef::Phi => false,
            ValueDef::Cmp { lhs: a, rhs: b, .. } | ValueDef::And(a, b) | ValueDef::Or(a, b) => {
                self.reads_any_at(*a, values, d) || self.reads_any_at(*b, values, d)
            }
            ValueDef::Not(a)
            | ValueDef::ZExt(a)
            | ValueDef::SExt(a)
            | ValueDef::Trunc(a)
            | ValueDef::Mask(a, _)
            | ValueDef::Offset(a, _) => self.reads_any_at(*a, values, d),
            ValueDef::Select { condition, then_value, else_value } => {
                [condition, then_value, else_value].into_iter().any(|x| self.reads_any_at(*x, values, d))
            }
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
                let decided = self
                    .decide_masked(facts, *pred, *lhs, *rhs, d)
                    .or_else(|| decide(*pred, self.eval_at(facts, *lhs, d), self.eval_at(facts, *rhs, d)));
                match decided {
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
            ValueDef::Mask(a, m) => arith::mask(self.eval_at(facts, *a, d), *m, info.bits),
            ValueDef::Offset(a, k) => arith::offset(self.eval_at(facts, *a, d), *k, info.bits, self.base_of(*a)),
            ValueDef::Opaque | ValueDef::Param(_) | ValueDef::CallResult | ValueDef::Phi => Fact::ANY,
        };
        base.meet(derived).unwrap_or(base)
    }

    /// `(x & mask) == k` (or `!=`), decided from what `x` can be: more
    /// precise than the facts of the masked value.
    fn decide_masked(&self, facts: &Facts, pred: Pred, lhs: Operand, rhs: Operand, depth: usize) -> Option<bool> {
        if !matches!(pred, Pred::Eq | Pred::Ne) {
            return None;
        }
        let (masked, k) = match (lhs, rhs) {
            (Operand::Value(v), Operand::Const(k)) | (Operand::Const(k), Operand::Value(v)) => (v, k),
            _ => return None,
        };
        let info = self.values.get(masked as usize)?;
        let ValueDef::Mask(x, mask) = info.def else { return None };
        let equal = arith::mask_equals(self.eval_at(facts, x, depth), mask, k, info.bits)?;
        Some(if pred == Pred::Eq { equal } else { !equal })
    }

    /// The range of an operand's type.
    fn base_of(&self, operand: Operand) -> Fact {
        match operand {
            Operand::Value(v) => self.base(v),
            _ => Fact::ANY,
        }
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
            ValueDef::Mask(a, m) => match arith::unmask(new, *m, info.bits) {
                Some(Ok(f)) => self.constrain_at(facts, *a, f, d),
                Some(Err(())) => false,
                None => true,
            },
            ValueDef::Offset(a, k) => match arith::unoffset(new, *k, info.bits, self.base(v)) {
                Some(f) => self.constrain_at(facts, *a, f, d),
                None => true,
            },
            _ => true,
        }
    }
}

fn sign_extend(x: i64, bits: u32) -> i64 {
    let shift = 64 - bits;
    (x << shift) >> shift
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
        assert_eq!(Fact::range(1, 5).join(Fact::range(-5, -1)), Fact::build(-5, 5, vec![(0, 0)]).unwrap());
        // None of several switch cases.
        let default = Fact::not_equal(3).meet(Fact::not_equal(7)).unwrap();
        assert!(!default.contains(3) && !default.contains(7) && default.contains(5));
        assert_eq!(default.meet(Fact::exact(7)), None);
        assert_eq!(default.join(Fact::not_equal(3)), Fact::not_equal(3));
    }

    #[test]
    fn decides_comparisons() {
        assert_eq!(decide(Pred::Ne, Fact::not_equal(0), Fact::exact(0)), Some(true));
        assert_eq!(decide(Pred::Sge, Fact::range(0, 10), Fact::exact(0)), Some(true));
        assert_eq!(decide(Pred::Slt, Fact::range(i64::MIN, -1), Fact::exact(0)), Some(true));
        assert_eq!(decide(Pred::Eq, Fact::range(0, 1), Fact::exact(1)), None);
        assert_eq!(decide(Pred::Ugt, Fact::exact(11), Fact::exact(10)), Some(true));
        // -1 is the largest unsigned value.
        assert_eq!(decide(Pred::Ult, Fact::exact(-1), Fact::exact(10)), Some(false));
    }

    #[test]
    fn unsigned_length_tests() {
        // `len > 4096` taken: len is outside [0, 4096], so `len >= 4096` holds.
        let above = Fact::satisfying(Pred::Ugt, 4096).unwrap();
        assert_eq!(decide(Pred::Uge, above, Fact::exact(4096)), Some(true));
        // Not taken: len is in [0, 4096]; `len >= 4096` is open (4096).
        let not_above = Fact::satisfying(Pred::Ule, 4096).unwrap();
        assert_eq!(decide(Pred::Uge, not_above, Fact::exact(4096)), None);
        assert_eq!(decide(Pred::Uge, not_above, Fact::exact(4097)), Some(false));
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
