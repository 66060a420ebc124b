//! Symbol names as the rules and users spell them.

/// The name a symbol is known by in rules.yaml and on the command line.
///
/// x86 decorated names carry a leading `\x01` (no further mangling), a
/// calling-convention prefix and a parameter-size suffix:
/// `\x01@KfAcquireSpinLock@4` (fastcall), `\x01_IoAcquireCancelSpinLock@4`
/// (stdcall). Those decorations are stripped; undecorated names are kept as
/// they are (a C function may legitimately start with `_`).
pub fn normalize(symbol: &str) -> &str {
    let Some(decorated) = symbol.strip_prefix('\x01') else {
        return symbol;
    };
    let name = decorated.strip_prefix(['_', '@']).unwrap_or(decorated);
    match name.rfind('@') {
        Some(at) if at > 0 && name[at + 1..].bytes().all(|b| b.is_ascii_digit()) && at + 1 < name.len() => &name[..at],
        _ => name,
    }
}

/// The name to show a user: decorations stripped, Rust symbols demangled.
pub fn display(symbol: &str) -> String {
    let name = normalize(symbol);
    // `{:#}` leaves out the hash suffix (`17h…E` of legacy symbols, the crate
    // disambiguators of v0 ones): `mydriver::queue::drain`.
    match rustc_demangle::try_demangle(name) {
        Ok(demangled) => format!("{demangled:#}"),
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{display, normalize};

    #[test]
    fn demangles_rust_symbols() {
        assert_eq!(
            display("_ZN19held_at_exit_direct13dispatch_read17h964408c1769ad453E"),
            "held_at_exit_direct::dispatch_read"
        );
        assert_eq!(display("DispatchRead"), "DispatchRead");
        assert_eq!(display("\x01_DriverEntry@8"), "DriverEntry");
    }

    #[test]
    fn strips_x86_decorations() {
        assert_eq!(normalize("\x01@KfAcquireSpinLock@4"), "KfAcquireSpinLock");
        assert_eq!(normalize("\x01_IoAcquireCancelSpinLock@4"), "IoAcquireCancelSpinLock");
        assert_eq!(normalize("\x01@IofCompleteRequest@8"), "IofCompleteRequest");
        assert_eq!(normalize("\x01_DriverEntry@8"), "DriverEntry");
    }

    #[test]
    fn keeps_plain_names() {
        assert_eq!(normalize("KeAcquireSpinLockRaiseToDpc"), "KeAcquireSpinLockRaiseToDpc");
        assert_eq!(normalize("_my_helper"), "_my_helper");
        assert_eq!(normalize("user@domain"), "user@domain");
    }
}
