//! Build databases (`lockcheck check -p`): reading compile_commands.json,
//! turning each entry's compile command into a clang-22 command that emits
//! bitcode, and sorting translation units into `--group`s.
//!
//! A driver project already says how each of its files is compiled; reusing
//! the database's own flags (defines, include paths, target) is the only way
//! to see the code the project really builds. The compiler is replaced with
//! clang-22, the output and dependency-file flags are dropped, and the flags
//! lockcheck needs are added (debug info, no optnone).

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// A loaded compile_commands.json.
pub struct Database {
    /// The compile_commands.json file.
    pub path: PathBuf,
    /// Its directory (absolute): the default cache lives there and group
    /// globs match paths relative to it.
    pub dir: PathBuf,
    pub units: Vec<Unit>,
}

/// One translation unit of the database.
pub struct Unit {
    /// The source as reports and groups name it: relative to the database
    /// directory when inside it, else absolute.
    pub name: String,
    /// The entry's working directory (absolute).
    pub directory: PathBuf,
    /// clang-22's arguments without the compiler, the output and the
    /// dependency-file flags, nor lockcheck's own (see `compile_args`).
    pub base_args: Vec<String>,
}

/// Flags added to every compile: debug info gives locations and names;
/// optnone would stop the promotion of locals the analysis relies on.
pub const ADDED_FLAGS: &[&str] = &["-c", "-emit-llvm", "-g", "-Xclang", "-disable-O0-optnone"];

impl Unit {
    /// The full argument list of the compile to bitcode (without `-o`).
    pub fn compile_args(&self) -> Vec<String> {
        let mut args = self.base_args.clone();
        args.extend(ADDED_FLAGS.iter().map(|s| s.to_string()));
        args
    }

    /// The argument list that preprocesses the unit to standard output.
    pub fn preprocess_args(&self) -> Vec<String> {
        let mut args = self.base_args.clone();
        args.push("-E".into());
        args
    }
}

impl Database {
    /// Reads `path`: a build directory holding compile_commands.json, or
    /// the file itself. Errors are one line.
    pub fn load(path: &Path) -> Result<Database, String> {
        let shown = path.display();
        let metadata = std::fs::metadata(path).map_err(|_| format!("{shown}: no such file or directory"))?;
        let file = if metadata.is_dir() {
            let file = path.join("compile_commands.json");
            if !file.is_file() {
                return Err(format!("{shown}: no compile_commands.json in this directory"));
            }
            file
        } else {
            path.to_path_buf()
        };
        let shown = file.display().to_string();
        let absolute = std::path::absolute(&file).map_err(|e| format!("{shown}: {e}"))?;
        let dir = normalize(absolute.parent().unwrap_or(Path::new("/")));
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{shown}: cannot read: {e}"))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{shown}: not a valid compile_commands.json: {e}"))?;
        let entries = json
            .as_array()
            .ok_or_else(|| format!("{shown}: not a valid compile_commands.json: expected an array of entries"))?;
        let mut units = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            units.push(unit(entry, &dir).map_err(|e| format!("{shown}: entry {}: {e}", index + 1))?);
        }
        if units.is_empty() {
            return Err(format!("{shown}: no entries"));
        }
        Ok(Database { path: file, dir, units })
    }
}

fn unit(entry: &serde_json::Value, db_dir: &Path) -> Result<Unit, String> {
    if !entry.is_object() {
        return Err("expected an object".into());
    }
    let string = |key: &str| -> Result<Option<&str>, String> {
        match entry.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| format!("`{key}` is not a string")),
        }
    };
    let file = string("file")?.ok_or("missing `file`")?;
    let directory = string("directory")?.ok_or("missing `directory`")?;
    let argv: Vec<String> = if let Some(arguments) = entry.get("arguments") {
        let list = arguments.as_array().ok_or("`arguments` is not an array")?;
        list.iter()
            .map(|a| a.as_str().map(str::to_string).ok_or("`arguments` holds a non-string"))
            .collect::<Result<_, _>>()?
    } else if let Some(command) = string("command")? {
        shlex::split(command).ok_or("`command` has unbalanced quotes or a trailing backslash")?
    } else {
        return Err("missing `arguments` or `command`".into());
    };
    if argv.is_empty() {
        return Err("empty compile command".into());
    }
    let directory = normalize(&db_dir.join(directory));
    let source = normalize(&directory.join(file));
    let name = match source.strip_prefix(db_dir) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => source.display().to_string(),
    };
    Ok(Unit { name, directory, base_args: rewrite(&argv) })
}

/// The compiler's argument list for clang-22: without the compiler (and a
/// compiler wrapper such as ccache), `-c`, the output and dependency-file
/// flags, in their separate and joined spellings, and pass plugins (a build
/// that loads lockcheck into clang would otherwise run it inside this
/// compile, and with -Werror fail it).
pub fn rewrite(argv: &[String]) -> Vec<String> {
    let mut rest = &argv[1..];
    let wrapper = |a: &str| {
        let base = Path::new(a).file_name().and_then(|n| n.to_str()).unwrap_or(a);
        matches!(base, "ccache" | "sccache" | "distcc" | "icecc")
    };
    if wrapper(&argv[0]) && !rest.is_empty() {
        rest = &rest[1..];
    }
    let mut out = Vec::with_capacity(rest.len());
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let a = arg.as_str();
        match a {
            // Flags that take the next argument.
            "-o" | "--output" | "-MF" | "-MT" | "-MQ" | "-MJ" => {
                args.next();
            }
            "-c" | "-M" | "-MM" | "-MD" | "-MMD" | "-MP" | "-MG" | "-MV" => {}
            _ if a.starts_with("--output=") => {}
            // -ofile (but not -objc..., -object)
            _ if a.starts_with("-o") && !a.starts_with("-obj") => {}
            _ if ["-MF", "-MT", "-MQ", "-MJ"].iter().any(|f| a.starts_with(f)) => {}
            // -Wp,-MD,file as the Linux kernel's build passes it.
            _ if a.starts_with("-Wp,-M") => {}
            _ if a.starts_with("-fpass-plugin=") => {}
            "-fpass-plugin" => {
                args.next();
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// `path` with `.` and `..` removed lexically (without touching the file
/// system, so symbolic links stay as the database names them).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The `--group` globs.
pub struct Groups {
    globs: Vec<(String, GlobMatcher)>,
}

impl Groups {
    /// Compiles the globs; `*` does not cross a `/`, `**` does.
    pub fn new(globs: &[String]) -> Result<Groups, String> {
        let mut out = Vec::new();
        for glob in globs {
            let matcher = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("--group {glob}: {e}"))?
                .compile_matcher();
            out.push((glob.clone(), matcher));
        }
        Ok(Groups { globs: out })
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.globs.iter().map(|(g, _)| g.as_str())
    }

    /// The indices of the groups `name` belongs to (a unit may be in
    /// several).
    pub fn of(&self, name: &str) -> Vec<usize> {
        self.globs.iter().enumerate().filter(|(_, (_, m))| m.is_match(name)).map(|(i, _)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn rewrite_drops_output_and_dependency_flags() {
        let argv =
            words("/usr/bin/gcc -DX=1 -c -o obj/a.o -MD -MF obj/a.d -MTobj/a.o -Wp,-MMD,x.d -Iinc a.c -oX -objc");
        assert_eq!(rewrite(&argv), words("-DX=1 -Iinc a.c -objc"));
        assert_eq!(rewrite(&words("ccache cc -c a.c")), words("a.c"));
        let plugin = words("clang-22 -fpass-plugin=/x/liblockcheck.so -Werror -c a.c");
        assert_eq!(rewrite(&plugin), words("-Werror a.c"));
    }

    #[test]
    fn globs_do_not_cross_directories_with_one_star() {
        let groups = Groups::new(&["drivers/usb/**".into(), "drivers/*.c".into()]).unwrap();
        assert_eq!(groups.of("drivers/usb/host/x.c"), vec![0]);
        assert_eq!(groups.of("drivers/a.c"), vec![1]);
        assert!(groups.of("drivers/net/a.c").is_empty());
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
