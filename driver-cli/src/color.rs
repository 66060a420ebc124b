//! Whether the text report is colored: `--color always|never|auto`.
//!
//! Under `auto` (the default): never when NO_COLOR is set to a non-empty
//! value; always when CLICOLOR_FORCE is set to a non-empty value other than
//! `0`; otherwise only when the report goes to a terminal.

use std::io::IsTerminal;

/// The environment the `auto` choice reads.
pub struct Env {
    pub no_color: Option<String>,
    pub clicolor_force: Option<String>,
    pub stdout_is_terminal: bool,
}

impl Env {
    pub fn read() -> Env {
        Env {
            no_color: std::env::var("NO_COLOR").ok(),
            clicolor_force: std::env::var("CLICOLOR_FORCE").ok(),
            stdout_is_terminal: std::io::stdout().is_terminal(),
        }
    }
}

/// `choice` is the `--color` value; `to_stdout` whether the report goes to
/// standard output (not to `--output FILE`).
pub fn enabled(choice: &str, to_stdout: bool, env: &Env) -> bool {
    match choice {
        "always" => true,
        "never" => false,
        _ => {
            let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
            if set(&env.no_color) {
                false
            } else if set(&env.clicolor_force) && env.clicolor_force.as_deref() != Some("0") {
                true
            } else {
                to_stdout && env.stdout_is_terminal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(no_color: Option<&str>, force: Option<&str>, terminal: bool) -> Env {
        Env {
            no_color: no_color.map(String::from),
            clicolor_force: force.map(String::from),
            stdout_is_terminal: terminal,
        }
    }

    #[test]
    fn auto_follows_the_terminal_and_the_environment() {
        assert!(enabled("auto", true, &env(None, None, true)));
        assert!(!enabled("auto", true, &env(None, None, false)));
        assert!(!enabled("auto", false, &env(None, None, true)), "a file is not a terminal");
        assert!(!enabled("auto", true, &env(Some("1"), None, true)));
        assert!(enabled("auto", true, &env(Some(""), None, true)), "an empty NO_COLOR is unset");
        assert!(enabled("auto", true, &env(None, Some("1"), false)));
        assert!(!enabled("auto", true, &env(None, Some("0"), false)));
        assert!(!enabled("auto", true, &env(Some("1"), Some("1"), true)), "NO_COLOR wins");
    }

    #[test]
    fn always_and_never_ignore_the_environment() {
        assert!(enabled("always", false, &env(Some("1"), None, false)));
        assert!(!enabled("never", true, &env(None, Some("1"), true)));
    }
}
