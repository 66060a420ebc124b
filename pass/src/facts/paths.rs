//! Access paths: the canonical form of a pointer expression.
//!
//! A path is a root (a global, a parameter, a local, or an opaque value the
//! analysis does not look through) followed by steps: a constant byte offset,
//! a load through the pointer so far, or a variable array index. Struct GEPs
//! (-O0) and byte GEPs (-O2) both become byte offsets, casts disappear, and
//! consecutive offsets add up, so `&DeviceObject->DeviceExtension->Lock`
//! reached through any spelling and any optimisation level is one path.
//! Paths are interned in an index set: equal paths have equal ids, and ids
//! follow first appearance, so every later map keyed by them is ordered the
//! same way on every run. Canonicalising each pointer expression to its path
//! and interning it is union-find with the path as each class's
//! representative: copies, phis and selects of one path, and reloads of one
//! field, all find the same id.

use indexmap::IndexSet;
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap};

use super::FuncId;

pub type PathId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    /// A global variable or function, by index into `Paths::globals`.
    Global(u32),
    /// Parameter `n` of a function.
    Param(FuncId, u32),
    /// A stack slot (alloca) of a function.
    Local(FuncId, u32),
    /// A pointer whose origin is not followed (a call's result, an int-to-ptr,
    /// a phi of different paths): equal only to itself.
    Opaque(FuncId, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Offset(i64),
    Load,
    /// A variable array index: the path may name any of several objects.
    Index,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub root: Root,
    pub steps: Vec<Step>,
}

#[derive(Debug, Default)]
pub struct Paths {
    /// Every path seen; a path's id is its index.
    paths: IndexSet<Path, FxBuildHasher>,
    /// A source-level name per path (the first one seen), for reports.
    names: Vec<Option<String>>,
    /// Global symbols that root a path; `Root::Global` holds the index.
    pub globals: IndexSet<String, FxBuildHasher>,
    /// `append` results, so that extending a known path allocates nothing.
    appended: HashMap<(PathId, Step), PathId>,
}

impl Paths {
    pub fn intern(&mut self, path: Path) -> PathId {
        let (index, new) = self.paths.insert_full(path);
        if new {
            self.names.push(None);
        }
        index as PathId
    }

    pub fn root(&mut self, root: Root) -> PathId {
        self.intern(Path { root, steps: Vec::new() })
    }

    pub fn global(&mut self, name: &str) -> PathId {
        let g = match self.globals.get_index_of(name) {
            Some(g) => g,
            None => self.globals.insert_full(name.to_string()).0,
        };
        self.root(Root::Global(g as u32))
    }

    pub fn get(&self, id: PathId) -> &Path {
        &self.paths[id as usize]
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// `base` followed by `step`, with offsets folded.
    pub fn append(&mut self, base: PathId, step: Step) -> PathId {
        if let Some(&id) = self.appended.get(&(base, step)) {
            return id;
        }
        let mut path = self.get(base).clone();
        push_step(&mut path.steps, step);
        let id = self.intern(path);
        self.appended.insert((base, step), id);
        id
    }

    /// `base` followed by all of `steps`.
    pub fn extend(&mut self, base: PathId, steps: &[Step]) -> PathId {
        steps.iter().fold(base, |path, &step| self.append(path, step))
    }

    pub fn name(&self, id: PathId) -> Option<&str> {
        self.names[id as usize].as_deref()
    }

    pub fn set_name_if_unnamed(&mut self, id: PathId, name: String) {
        let slot = &mut self.names[id as usize];
        if slot.is_none() {
            *slot = Some(name);
        }
    }

    /// A path a caller can name: rooted in a parameter or a global.
    pub fn is_entry_rooted(&self, id: PathId) -> bool {
        matches!(self.get(id).root, Root::Global(_) | Root::Param(..))
    }

    /// The path may denote several objects (a variable array index).
    pub fn is_several(&self, id: PathId) -> bool {
        self.get(id).steps.contains(&Step::Index)
    }

    /// Rewrites a path of `callee`'s into the caller's terms: a parameter
    /// root becomes the caller's argument path, a global stays, anything
    /// else (the callee's locals, opaque values) has no name in the caller.
    pub fn substitute(&mut self, id: PathId, args: &[Option<PathId>]) -> Option<PathId> {
        let path = self.get(id).clone();
        match path.root {
            Root::Global(_) => Some(id),
            Root::Param(_, n) => {
                let base = (*args.get(n as usize)?)?;
                Some(self.extend(base, &path.steps))
            }
            Root::Local(..) | Root::Opaque(..) => None,
        }
    }

    /// A readable rendering when debug info gives no name.
    pub fn describe(&self, id: PathId) -> String {
        if let Some(name) = self.name(id) {
            return name.to_string();
        }
        let path = self.get(id);
        let mut text = match path.root {
            Root::Global(g) => format!("&{}", self.globals[g as usize]),
            Root::Param(_, n) => format!("parameter {}", n + 1),
            Root::Local(_, n) => format!("local #{n}"),
            Root::Opaque(..) => "a pointer".to_string(),
        };
        for step in &path.steps {
            match step {
                Step::Offset(o) => text = format!("({text} + {o})"),
                Step::Load => text = format!("*{text}"),
                Step::Index => text = format!("{text}[i]"),
            }
        }
        text
    }
}

fn push_step(steps: &mut Vec<Step>, step: Step) {
    match step {
        Step::Offset(0) => {}
        Step::Offset(o) => {
            if let Some(Step::Offset(prev)) = steps.last_mut() {
                *prev += o;
                if *prev == 0 {
                    steps.pop();
                }
            } else {
                steps.push(Step::Offset(o));
            }
        }
        other => steps.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_fold_and_casts_vanish() {
        let mut paths = Paths::default();
        let p = paths.root(Root::Param(0, 0));
        let a = paths.extend(p, &[Step::Offset(64), Step::Load, Step::Offset(8), Step::Offset(8)]);
        let b = paths.extend(p, &[Step::Offset(32), Step::Offset(32), Step::Load, Step::Offset(16)]);
        assert_eq!(a, b);
        let c = paths.extend(p, &[Step::Offset(8), Step::Offset(-8)]);
        assert_eq!(c, p);
    }

    #[test]
    fn substitution_maps_parameters_to_arguments() {
        let mut paths = Paths::default();
        let callee_lock = {
            let p = paths.root(Root::Param(1, 0));
            paths.extend(p, &[Step::Offset(8)])
        };
        let caller_ext = {
            let p = paths.root(Root::Param(0, 0));
            paths.extend(p, &[Step::Offset(64), Step::Load])
        };
        let mapped = paths.substitute(callee_lock, &[Some(caller_ext)]).unwrap();
        let expected = {
            let p = paths.root(Root::Param(0, 0));
            paths.extend(p, &[Step::Offset(64), Step::Load, Step::Offset(8)])
        };
        assert_eq!(mapped, expected);
        let local = paths.root(Root::Local(1, 0));
        assert_eq!(paths.substitute(local, &[Some(caller_ext)]), None);
    }
}
