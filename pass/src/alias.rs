//! Lock identity.
//!
//! Locks are keyed by must-equal identity: two lock pointers are the same lock
//! when their access paths are equal (`facts::paths` canonicalises casts,
//! struct and byte offsets, reloads and SSA copies). Double acquires and
//! releases of locks not held are only ever reported on that identity.
//!
//! May-alias answers the opposite question, and only to stay silent: a
//! release through a pointer that may point to a held lock is taken to
//! release it. Two paths cannot alias when they address distinct objects
//! (different globals or stack slots, or a parameter and a local), or
//! different fields of the same object; anything loaded from memory may
//! point anywhere.

use crate::dataflow::LockKey;
use crate::facts::{Paths, Root, Step};

/// Whether two locks may be the same lock at run time.
pub fn may_alias(paths: &Paths, a: LockKey, b: LockKey) -> bool {
    match (a, b) {
        _ if a == b => true,
        (LockKey::Opaque(_), _) | (_, LockKey::Opaque(_)) => true,
        (LockKey::Handle(_), _) | (_, LockKey::Handle(_)) => true,
        (LockKey::Global(x), LockKey::Global(y)) => x == y,
        (LockKey::Global(_), LockKey::Path(_)) | (LockKey::Path(_), LockKey::Global(_)) => false,
        (LockKey::Path(p), LockKey::Path(q)) => paths_may_alias(paths, p, q),
    }
}

fn paths_may_alias(paths: &Paths, p: u32, q: u32) -> bool {
    let (p, q) = (paths.get(p), paths.get(q));
    if matches!(p.root, Root::Opaque(..)) || matches!(q.root, Root::Opaque(..)) {
        return true;
    }
    let last_load = |steps: &[Step]| steps.iter().rposition(|s| *s == Step::Load);
    let (lp, lq) = (last_load(&p.steps), last_load(&q.steps));
    // The part after the last load is a constant displacement (or an index)
    // from the object the prefix addresses.
    let (prefix_p, tail_p) = split(&p.steps, lp);
    let (prefix_q, tail_q) = split(&q.steps, lq);
    let same_object = match (lp, lq) {
        (None, None) => {
            if p.root != q.root {
                return !distinct_objects(p.root, q.root);
            }
            true
        }
        (Some(_), Some(_)) => p.root == q.root && prefix_p == prefix_q,
        _ => false,
    };
    if !same_object {
        // Pointers loaded from different places may still be equal.
        return true;
    }
    if tail_p.contains(&Step::Index) || tail_q.contains(&Step::Index) {
        return true;
    }
    offset(tail_p) == offset(tail_q)
}

fn split(steps: &[Step], last_load: Option<usize>) -> (&[Step], &[Step]) {
    match last_load {
        Some(i) => (&steps[..=i], &steps[i + 1..]),
        None => (&[], steps),
    }
}

fn offset(steps: &[Step]) -> i64 {
    steps.iter().map(|s| if let Step::Offset(o) = s { *o } else { 0 }).sum()
}

/// Roots that are certainly different objects: globals and stack slots are
/// distinct from each other, and a parameter cannot point to the callee's own
/// new stack slot. Two parameters, or a parameter and a global, may be equal.
fn distinct_objects(a: Root, b: Root) -> bool {
    use Root::*;
    matches!((a, b), (Global(_) | Local(..), Global(_) | Local(..)) | (Param(..), Local(..)) | (Local(..), Param(..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(paths: &mut Paths, root: Root, steps: &[Step]) -> LockKey {
        let r = paths.root(root);
        LockKey::Path(paths.extend(r, steps))
    }

    #[test]
    fn distinct_fields_of_one_object_do_not_alias() {
        let mut paths = Paths::default();
        let ext = [Step::Offset(64), Step::Load];
        let read = path(&mut paths, Root::Param(0, 0), &[ext[0], ext[1], Step::Offset(0)]);
        let write = path(&mut paths, Root::Param(0, 0), &[ext[0], ext[1], Step::Offset(8)]);
        assert!(!may_alias(&paths, read, write));
        assert!(may_alias(&paths, read, read));
    }

    #[test]
    fn two_parameters_may_alias_but_globals_do_not() {
        let mut paths = Paths::default();
        let a = path(&mut paths, Root::Param(0, 0), &[]);
        let b = path(&mut paths, Root::Param(0, 1), &[]);
        assert!(may_alias(&paths, a, b));
        let g1 = paths.global("g_A");
        let g2 = paths.global("g_B");
        assert!(!may_alias(&paths, LockKey::Path(g1), LockKey::Path(g2)));
        assert!(may_alias(&paths, a, LockKey::Path(g1)));
    }

    #[test]
    fn loaded_pointers_from_different_places_may_alias() {
        let mut paths = Paths::default();
        let a = path(&mut paths, Root::Param(0, 0), &[Step::Offset(8), Step::Load]);
        let b = path(&mut paths, Root::Param(0, 0), &[Step::Offset(16), Step::Load]);
        assert!(may_alias(&paths, a, b));
    }
}
