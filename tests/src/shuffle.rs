//! Metamorphic order test: the module's function list (definitions and
//! declarations alike) is reordered, and lockcheck must report exactly what
//! it reported on the original.
//!
//! Nothing about a function's order in the module may matter: a summary
//! bug once made calls to an external function end every path when an
//! earlier function already called it, and the fixture suite stayed green
//! because clang emits functions in source order. Reordering goes through
//! textual IR (llvm-dis-22, llvm-as-22): the parser builds the function list
//! in the order functions are defined or declared in the text.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The orders each fixture is checked in, besides clang's own.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    Reversed,
    /// A pseudo-random order from the seed (derived from the fixture's name,
    /// so a failure reproduces).
    Shuffled(u64),
}

impl Order {
    pub fn name(&self) -> String {
        match self {
            Order::Reversed => "reversed".to_string(),
            Order::Shuffled(seed) => format!("shuffled (seed {seed:#x})"),
        }
    }

    fn file_tag(&self) -> String {
        match self {
            Order::Reversed => "reversed".to_string(),
            Order::Shuffled(seed) => format!("shuffled-{seed:x}"),
        }
    }
}

/// The orders for a fixture: reversed, and two shuffles seeded by its name.
pub fn orders_for(name: &str) -> [Order; 3] {
    let seed = fnv1a(name.as_bytes());
    [Order::Reversed, Order::Shuffled(seed), Order::Shuffled(seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15)]
}

/// Writes `bitcode` with its functions in `order` next to it; returns the
/// new file.
pub fn reorder_bitcode(bitcode: &Path, order: Order) -> Result<PathBuf, String> {
    let text = tool_output(Command::new("llvm-dis-22").arg("-o").arg("-").arg(bitcode), "llvm-dis-22")?;
    let reordered = reorder_functions(&String::from_utf8_lossy(&text), order);
    let stem = bitcode.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let out = bitcode.with_file_name(format!("{stem}.{}.bc", order.file_tag()));
    let ll = out.with_extension("ll");
    std::fs::write(&ll, reordered).map_err(|e| format!("cannot write {}: {e}", ll.display()))?;
    tool_output(Command::new("llvm-as-22").arg("-o").arg(&out).arg(&ll), "llvm-as-22")?;
    let _ = std::fs::remove_file(&ll);
    Ok(out)
}

fn tool_output(command: &mut Command, name: &str) -> Result<Vec<u8>, String> {
    let output = command.output().map_err(|e| format!("cannot run {name}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{name} failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(output.stdout)
}

/// Textual IR with its function definitions and declarations (each with
/// the `; Function Attrs:` comment above it) in `order`, placed where the
/// first of them was; every other line keeps its place.
pub fn reorder_functions(ir: &str, order: Order) -> String {
    let lines: Vec<&str> = ir.lines().collect();
    let mut functions: Vec<Vec<&str>> = Vec::new();
    let mut before: Vec<&str> = Vec::new();
    let mut after: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let attrs = lines[i].starts_with("; Function Attrs:");
        let head = if attrs { i + 1 } else { i };
        let line = lines.get(head).copied().unwrap_or("");
        let end = if line.starts_with("declare ") {
            Some(head)
        } else if line.starts_with("define ") {
            (head..lines.len()).find(|&j| lines[j] == "}")
        } else {
            None
        };
        match end {
            Some(end) => {
                functions.push(lines[i..=end].to_vec());
                i = end + 1;
            }
            None => {
                if functions.is_empty() {
                    before.push(lines[i])
                } else {
                    after.push(lines[i])
                }
                i += 1;
            }
        }
    }
    match order {
        Order::Reversed => functions.reverse(),
        Order::Shuffled(seed) => shuffle(&mut functions, seed),
    }
    let mut out = String::with_capacity(ir.len());
    for line in before {
        out.push_str(line);
        out.push('\n');
    }
    for function in functions {
        for line in function {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    for line in after.into_iter().filter(|l| !l.is_empty()) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Fisher-Yates with xorshift64*: deterministic, no dependency.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        items.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IR: &str = "@g = global i32 0\n\n; Function Attrs: nounwind\ndefine void @a() {\nentry:\n  ret void\n}\n\ndeclare void @b()\n\ndefine void @c() {\n  ret void\n}\n\nattributes #0 = { nounwind }\n!0 = !{}\n";

    fn names(ir: &str) -> Vec<&str> {
        ir.lines()
            .filter(|l| l.starts_with("define") || l.starts_with("declare"))
            .map(|l| l.split('@').nth(1).unwrap_or("").split('(').next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn reversing_moves_definitions_and_declarations_with_their_attributes() {
        let out = reorder_functions(IR, Order::Reversed);
        assert_eq!(names(&out), ["c", "b", "a"]);
        assert!(out.contains("; Function Attrs: nounwind\ndefine void @a()"));
        assert!(out.starts_with("@g = global i32 0\n"));
        assert!(out.trim_end().ends_with("attributes #0 = { nounwind }\n!0 = !{}"));
    }

    #[test]
    fn shuffles_are_permutations_and_reproducible() {
        let items: Vec<u32> = (0..50).collect();
        let (mut a, mut b) = (items.clone(), items.clone());
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        assert_ne!(a, items);
        a.sort_unstable();
        assert_eq!(a, items);
    }
}
