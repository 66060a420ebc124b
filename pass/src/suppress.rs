//! Suppressions: `lockcheck-ignore` comments in the driver's source silence
//! a rule on one line.
//!
//! Why: a report can be right about the code and still not worth a change
//! (a lock the hardware protocol hands over between routines, a helper the
//! analysis cannot see through). The developer says so where the code is,
//! with a reason a reviewer reads, instead of turning a rule off for the
//! whole driver.
//!
//! ```c
//! KeAcquireSpinLock(&ext->Lock, &irql);  // lockcheck-ignore[wdm.SpinLock]: released by the DPC
//! /* lockcheck-ignore[wdm.SpinLock, wdm.SpinLockSafe]: see the locking notes in queue.h */
//! IoCompleteRequest(Irp, IO_NO_INCREMENT);
//! ```
//!
//! The syntax: `//` or `/*`, optional spaces, `lockcheck-ignore[ID, ...]:`
//! and a reason (the rest of the line, or up to `*/`). A comment silences
//! the rules it names on its own line; a comment alone on its line (nothing
//! but spaces around it) also silences them on the line right below it. A
//! comment without a reason, or without `[...]`, silences nothing (the
//! reason is required) and is warned about; an id the rule pack does not
//! know is warned about, and the other ids of the comment still work.
//!
//! The source is read through each diagnostic's debug location
//! (`Location::path`), once per file. A file that cannot be read has no
//! suppressions. `apply` runs once, in `analyze_facts`, after diagnostics
//! are built: the CLI and the pass plugin both go through it.
//!
//! Comments that silenced nothing are returned as `lockcheck.unused-ignore`
//! diagnostics (the front ends show them under `--report-unused-ignores` /
//! `report-unused-ignores`), for every file the module's debug locations
//! that lockcheck read name: the files of the functions it analysed and of
//! the code inlined into them. `lockcheck.unused-ignore` is a diagnostic of
//! the tool, not a rule of the rule pack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::checks::Check;
use crate::diagnostics::{Diagnostic, Location};
use crate::rules::{RulePack, Severity};

/// The rule id of a `lockcheck-ignore` comment that silenced nothing.
pub const UNUSED_IGNORE: &str = "lockcheck.unused-ignore";

/// The comment's keyword.
const KEYWORD: &str = "lockcheck-ignore";

/// One `lockcheck-ignore` comment as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// 1-based line and column of the `//` or `/*`.
    pub line: u32,
    pub column: u32,
    /// The rule ids between the brackets.
    pub ids: Vec<String>,
    /// Why the comment silences nothing (no reason, no brackets), if so.
    pub problem: Option<String>,
    /// Alone on its line: also covers the line below.
    pub standalone: bool,
}

impl Comment {
    fn covers(&self, line: u32) -> bool {
        self.line == line || (self.standalone && self.line + 1 == line)
    }
}

/// Every `lockcheck-ignore` comment in a source text, in order.
pub fn parse(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(found) = line[from..].find(KEYWORD) {
            let at = from + found;
            from = at + KEYWORD.len();
            let before = line[..at].trim_end();
            let block = before.ends_with("/*");
            if !block && !before.ends_with("//") {
                continue; // not at the start of a comment
            }
            let opener = before.len() - 2;
            let mut comment = Comment {
                line: index as u32 + 1,
                column: opener as u32 + 1,
                ids: Vec::new(),
                problem: None,
                standalone: line[..opener].trim().is_empty(),
            };
            let mut rest = &line[from..];
            if block {
                match rest.find("*/") {
                    Some(end) => {
                        comment.standalone &= rest[end + 2..].trim().is_empty();
                        rest = &rest[..end];
                    }
                    None => comment.standalone = false,
                }
            }
            let rest = rest.trim_start();
            match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
                None => comment.problem = Some(format!("expected `{KEYWORD}[RULE-ID, ...]: reason`")),
                Some((ids, after)) => {
                    comment.ids = ids.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                    let reason = after.trim_start().strip_prefix(':').map(str::trim).unwrap_or("");
                    if comment.ids.is_empty() {
                        comment.problem = Some(format!("no rule id between the brackets of `{KEYWORD}[...]`"));
                    } else if reason.is_empty() {
                        comment.problem = Some(format!(
                            "a reason is required after the brackets: `{KEYWORD}[{}]: why`",
                            comment.ids.join(", ")
                        ));
                    }
                }
            }
            out.push(comment);
        }
    }
    out
}

/// What applying the suppressions did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The diagnostics no comment silenced, in their order.
    pub diagnostics: Vec<Diagnostic>,
    /// How many diagnostics comments silenced.
    pub suppressed: usize,
    /// Comments (or ids of comments) that silenced nothing, as
    /// `lockcheck.unused-ignore` diagnostics in location order.
    pub unused: Vec<Diagnostic>,
    /// Problems with comments, one line each (`FILE:LINE: ...`).
    pub warnings: Vec<String>,
}

/// One file's comments, with which of each comment's ids silenced something.
struct FileComments {
    /// The file as reports show it.
    shown: String,
    comments: Vec<(Comment, Vec<bool>)>,
}

/// Silences the diagnostics that comments cover. `analysed` are the other
/// files (path on disk, name as shown) whose unused comments are reported;
/// `read` reads a source file (None: no suppressions there).
pub fn apply(
    diagnostics: Vec<Diagnostic>,
    analysed: &[(PathBuf, String)],
    rules: &RulePack,
    read: impl Fn(&Path) -> Option<String>,
) -> Outcome {
    let mut files: HashMap<PathBuf, FileComments> = HashMap::new();
    let mut order: Vec<PathBuf> = Vec::new();
    let mut load = |path: &Path, shown: &str| {
        if !files.contains_key(path) {
            let comments = read(path).map(|text| parse(&text)).unwrap_or_default();
            let comments = comments.into_iter().map(|c| (c.clone(), vec![false; c.ids.len()])).collect();
            files.insert(path.to_path_buf(), FileComments { shown: shown.to_string(), comments });
            order.push(path.to_path_buf());
        }
    };
    for d in &diagnostics {
        if let Some(l) = &d.location {
            load(&l.path, &l.file);
        }
    }
    for (path, shown) in analysed {
        load(path, shown);
    }

    let mut outcome = Outcome::default();
    for d in diagnostics {
        let mut silenced = false;
        if let Some(file) = d.location.as_ref().and_then(|l| files.get_mut(&l.path).map(|f| (f, l.line))) {
            let (file, line) = file;
            for (comment, used) in file.comments.iter_mut() {
                if comment.problem.is_some() || !comment.covers(line) {
                    continue;
                }
                for (id, used) in comment.ids.iter().zip(used.iter_mut()) {
                    if *id == d.rule {
                        *used = true;
                        silenced = true;
                    }
                }
            }
        }
        if silenced {
            outcome.suppressed += 1;
        } else {
            outcome.diagnostics.push(d);
        }
    }

    for path in &order {
        let file = &files[path];
        for (comment, used) in &file.comments {
            let at = format!("{}:{}", file.shown, comment.line);
            match &comment.problem {
                Some(problem) => outcome.warnings.push(format!("{at}: {KEYWORD} comment silences nothing: {problem}")),
                None => {
                    for id in comment.ids.iter().filter(|id| rules.rule_by_id(id).is_none()) {
                        outcome.warnings.push(format!(
                            "{at}: unknown rule id `{id}` in {KEYWORD} comment (`lockcheck rules` lists them)"
                        ));
                    }
                }
            }
            let unused: Vec<&str> =
                comment.ids.iter().zip(used).filter(|(_, used)| !**used).map(|(id, _)| id.as_str()).collect();
            if comment.problem.is_none() && unused.is_empty() {
                continue;
            }
            let message = match &comment.problem {
                Some(problem) => format!("{KEYWORD} comment silences nothing: {problem}"),
                None => {
                    let lines = if comment.standalone { "this line or the next" } else { "this line" };
                    format!("{KEYWORD} for {} matched no finding on {lines}", unused.join(", "))
                }
            };
            outcome.unused.push(Diagnostic {
                rule: UNUSED_IGNORE.to_string(),
                check: Check::UnusedIgnore,
                severity: Severity::Warning,
                message,
                function: String::new(),
                symbol: String::new(),
                location: Some(Location {
                    file: file.shown.clone(),
                    line: comment.line,
                    column: comment.column,
                    path: path.clone(),
                }),
                notes: Vec::new(),
            });
        }
    }
    outcome.unused.sort_by(|a, b| {
        let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line, l.column));
        key(a).cmp(&key(b))
    });
    outcome
}

/// A source file's text, or None when it cannot be read as text.
pub fn read_source(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Comment {
        let mut all = parse(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn parses_both_comment_forms() {
        let c = one("    KeAcquireSpinLock(&l, &irql); // lockcheck-ignore[wdm.SpinLock]: handed to the DPC");
        assert_eq!(
            (c.line, c.column, c.ids.clone(), c.problem.clone(), c.standalone),
            (1, 35, vec!["wdm.SpinLock".to_string()], None, false)
        );
        let c = one("x;\n  /* lockcheck-ignore[ wdm.SpinLock , wdm.SpinLockSafe ]: why */  ");
        assert_eq!((c.line, c.column), (2, 3));
        assert_eq!(c.ids, vec!["wdm.SpinLock", "wdm.SpinLockSafe"]);
        assert!(c.standalone && c.problem.is_none());
        assert!(!one("/* lockcheck-ignore[a]: why */ f();").standalone);
        assert!(one("//lockcheck-ignore[a]:why").standalone);
    }

    #[test]
    fn reason_and_brackets_are_required() {
        assert!(one("f(); // lockcheck-ignore[wdm.SpinLock]").problem.unwrap().contains("reason is required"));
        assert!(one("f(); // lockcheck-ignore[wdm.SpinLock]:   ").problem.is_some());
        assert!(one("f(); /* lockcheck-ignore[wdm.SpinLock]: */").problem.is_some());
        assert!(one("f(); // lockcheck-ignore wdm.SpinLock: x").problem.unwrap().contains("expected"));
        assert!(one("f(); // lockcheck-ignore[]: x").problem.unwrap().contains("no rule id"));
    }

    #[test]
    fn keyword_elsewhere_is_not_a_comment() {
        assert!(parse("puts(\"lockcheck-ignore[a]: b\"); // see lockcheck-ignore[a]: docs").is_empty());
    }

    fn diagnostic(rule: &str, line: u32) -> Diagnostic {
        Diagnostic {
            rule: rule.into(),
            check: Check::DoubleAcquire,
            severity: Severity::Warning,
            message: "m".into(),
            function: "F".into(),
            symbol: "F".into(),
            location: Some(Location { file: "d.c".into(), line, column: 5, path: PathBuf::from("/src/d.c") }),
            notes: Vec::new(),
        }
    }

    const SOURCE: &str = "\
f(); // lockcheck-ignore[wdm.SpinLock]: one
f(); // lockcheck-ignore[wdm.SpinLockSafe]: other rule
// lockcheck-ignore[wdm.SpinLock, wdm.Bogus]: above
f();
f(); // lockcheck-ignore[wdm.SpinLock]
f();
f(); // lockcheck-ignore[wdm.CancelSpinLock]: stale
";

    fn run(diagnostics: Vec<Diagnostic>, source: Option<&str>) -> Outcome {
        let rules = RulePack::builtin().unwrap();
        let source = source.map(str::to_string);
        apply(diagnostics, &[], &rules, |p| if p == Path::new("/src/d.c") { source.clone() } else { None })
    }

    #[test]
    fn silences_the_named_rule_on_the_line_and_below_a_lone_comment() {
        let lines = [1, 2, 4, 5, 6];
        let out = run(lines.iter().map(|&l| diagnostic("wdm.SpinLock", l)).collect(), Some(SOURCE));
        let kept: Vec<u32> = out.diagnostics.iter().map(|d| d.location.as_ref().unwrap().line).collect();
        // 1: same line; 4: comment above; 2: other rule; 5: no reason; 6: a
        // trailing comment covers its own line only.
        assert_eq!(kept, vec![2, 5, 6]);
        assert_eq!(out.suppressed, 2);
        let unused: Vec<(u32, &str)> =
            out.unused.iter().map(|d| (d.location.as_ref().unwrap().line, d.message.as_str())).collect();
        assert_eq!(unused.len(), 4, "{unused:?}");
        assert_eq!(unused[0], (2, "lockcheck-ignore for wdm.SpinLockSafe matched no finding on this line"));
        assert_eq!(unused[1], (3, "lockcheck-ignore for wdm.Bogus matched no finding on this line or the next"));
        assert!(unused[2].0 == 5 && unused[2].1.contains("reason is required"));
        assert_eq!(unused[3].0, 7);
        assert!(out.unused.iter().all(|d| d.rule == UNUSED_IGNORE && d.location.as_ref().unwrap().file == "d.c"));
        assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
        assert!(out.warnings[0].starts_with("d.c:3: unknown rule id `wdm.Bogus`"));
        assert!(out.warnings[1].starts_with("d.c:5: lockcheck-ignore comment silences nothing"));
    }

    #[test]
    fn unreadable_file_has_no_suppressions() {
        let out = run(vec![diagnostic("wdm.SpinLock", 1)], None);
        assert_eq!((out.diagnostics.len(), out.suppressed, out.unused.len()), (1, 0, 0));
    }
}
