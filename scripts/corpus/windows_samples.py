#!/usr/bin/env python3
"""Build Microsoft's Windows-driver-samples and the WDK 7.1 SDV fail drivers to LLVM bitcode.

Called by windows-samples.sh. Writes the shared corpus layout (/work/corpus/LAYOUT.md):

    OUT/drivers/<driver>/compile_commands.json   one entry per unit, with `arguments` and `output`
    OUT/drivers/<driver>/<driver>.bc             llvm-link-22 of the units
    OUT/drivers/<driver>/lockcheck.args          extra lockcheck arguments (only when needed)
    OUT/stubs/...                                stand-ins generated at build time (never Microsoft text)
    OUT/summary.json, OUT/skipped.txt            what was found, built and skipped, and why

Nothing here can run Microsoft's build (MSBuild, the WDK's build.exe, mc.exe, tracewpp,
wmimofck), so each project file is read for what the compiler would have been given, and the
generated headers those tools write are replaced by stand-ins good enough to compile the
driver's own code. The header set-ups follow /work/shared/corpora/README.md:

    wdm     x86_64-w64-mingw32 with the mingw-w64 DDK headers
    kmdf    x86_64-pc-windows-msvc over the mingw-w64 headers plus the KMDF 1.33 headers
    wdk71   x86_64-pc-windows-msvc -fms-compatibility with the WDK 7.1 headers (Storport, NDIS,
            minifilters: mingw-w64 has no fltKernel.h and its storport.h/ndis.h are too old)

A project is tried with its preferred set-up first and with the others after it, since a
sample's headers do not always say which set fits it. The stand-ins (OUT/stubs/<driver>/<set-up>):

    sal_stubs.h   empty SAL 2 macros the driver or KMDF spells (forced first include)
    ci/           include spellings that only a case-insensitive file system finds, as symlinks
    gen/          tracewpp's .tmh (tracing as no-ops), mc.exe's headers of .mc/.man files,
                  wmimofck's header of the .mof: the tools' $(IntDir)
    wrap/         ntddk.h, wdm.h, ndis.h, storport.h...: the real header (#include_next), then
                  the few newer interfaces the header set lacks (COMPAT)
    fallback/     empty dontuse.h / wpprecorder.h where the header set has none
    src/          a copy of a source clang cannot take as written (MSVC's cast lvalues),
                  rewritten on the same lines and #line'd back to the original

NDIS drivers and minifilters register callbacks in structures lockcheck does not read:
their lockcheck.args name those callbacks (address-taken functions) with --entry.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

CLANG = "clang-22"
LLVM_LINK = "llvm-link-22"
MINGW_INC = Path("/usr/share/mingw-w64/include")
MINGW_SYSROOT = Path("/usr/x86_64-w64-mingw32")

# What every unit gets on top of the project's own flags (LAYOUT.md fixes the last part).
BITCODE_FLAGS = ["-c", "-emit-llvm", "-g", "-O0", "-Xclang", "-disable-O0-optnone"]
# Samples are written for MSVC: these clang >= 16 errors are warnings there, and what they
# guard against (an undeclared ETW helper, a pointer passed as ULONG_PTR) does not change
# which lock calls the IR holds.
RELAX_FLAGS = [
    "-w",
    "-Wno-error=implicit-function-declaration",
    "-Wno-error=int-conversion",
    "-Wno-error=incompatible-pointer-types",
    "-Wno-error=incompatible-function-pointer-types",
    "-Wno-error=implicit-int",
    "-Wno-error=return-type",
    "-ferror-limit=5",
]
# What the WDK's MSBuild props define for a Debug|x64 kernel build.
WDK_DEFINES = ["_WIN64", "_AMD64_", "AMD64", "DBG=1", "WINNT=1", "DEPRECATE_DDK_FUNCTIONS=1",
               "MSC_NOOPT", "_KERNEL_MODE"]
# The WDK 7.1 headers know Windows 7 at most; mingw-w64 and KMDF 1.33 know Windows 10.
VERSION_DEFINES = {
    "wdm": ["_WIN32_WINNT=0x0A00", "WINVER=0x0A00", "NTDDI_VERSION=0x0A000000"],
    "kmdf": ["_WIN32_WINNT=0x0A00", "WINVER=0x0A00", "NTDDI_VERSION=0x0A000000"],
    "wdk71": ["_WIN32_WINNT=0x0601", "WINVER=0x0601", "NTDDI_VERSION=0x06010000"],
}
# Tracing is compiled out: WPP needs tracewpp's generated code, and EVENT_TRACING selects it.
DROPPED_DEFINES = re.compile(r"^(EVENT_TRACING|WPP_\w*|_NT_TARGET_VERSION\w*)(=.*)?$")
# NDIS 6.30+ samples would stop at ndis.h's version check under WDK 7.1 (NDIS 6.20 at most);
# built as 6.20 drivers, their newer code paths drop out but the rest compiles as written.
NDIS_DOWNGRADE = re.compile(r"^NDIS6[3-9]0(_MINIPORT)?(=1)?$|^NDIS_SUPPORT_NDIS6[3-9]\d*(=1)?$")

SEH_KEYWORDS = re.compile(r"\b(try|finally)\s*\{|\bexcept\s*\(|\bleave\s*;")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
# SAL 2 annotations (_In_reads_bytes_(n), _IRQL_requires_max_(x), _Use_decl_annotations_):
# an underscore, a capital, and a trailing underscore, with at least one lower-case letter.
SAL_RE = re.compile(r"\b_[A-Z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_(?![A-Za-z0-9_])")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_text(path: Path) -> str:
    data = path.read_bytes()
    # Some sample files are UTF-16 (Visual Studio's default for .rc/.inf/.mc, sometimes .h).
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


# ---------------------------------------------------------------------------------------------
# Case-insensitive file lookup: the samples were written on a case-insensitive file system.

_listing_cache: dict[Path, dict[str, str]] = {}


def _listing(d: Path) -> dict[str, str]:
    if d not in _listing_cache:
        try:
            _listing_cache[d] = {n.lower(): n for n in os.listdir(d)}
        except OSError:
            _listing_cache[d] = {}
    return _listing_cache[d]


def find_ci(base: Path, rel: str) -> Path | None:
    """Resolve `rel` (either slash) under `base`, ignoring case; None when absent."""
    cur = base
    for part in rel.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            cur = cur.parent
            continue
        name = _listing(cur).get(part.lower())
        if name is None:
            return None
        cur = cur / name
    return cur if cur.exists() else None


def exists_exact(base: Path, rel: str) -> bool:
    return (base / rel.replace("\\", "/")).exists()


# ---------------------------------------------------------------------------------------------
# MSBuild project files (.vcxproj): just enough evaluation for one configuration.

NS = "{http://schemas.microsoft.com/developer/msbuild/2003}"


def _tag(el: ET.Element) -> str:
    return el.tag[len(NS):] if el.tag.startswith(NS) else el.tag


def expand(text: str, props: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: props.get(m.group(1), m.group(0)), text)


def condition_holds(cond: str | None, props: dict[str, str]) -> bool:
    """Evaluate the conditions samples use: 'a'=='b', 'a'!='b', and/or, exists(...)."""
    if not cond:
        return True
    c = expand(cond, props)

    def atom(m: re.Match) -> str:
        a, op, b = m.group(1), m.group(2), m.group(3)
        return str((a.lower() == b.lower()) == (op == "=="))

    c = re.sub(r"'([^']*)'\s*(==|!=)\s*'([^']*)'", atom, c)
    c = re.sub(r"!?exists\([^)]*\)", "True", c, flags=re.I)
    c = re.sub(r"\band\b", " and ", c, flags=re.I)
    c = re.sub(r"\bor\b", " or ", c, flags=re.I)
    if re.fullmatch(r"[\sA-Za-z()]*", c) and set(re.findall(r"[A-Za-z]+", c)) <= {"True", "False", "and", "or", "not"}:
        try:
            return bool(eval(c, {"__builtins__": {}}))  # only True/False/and/or/not remain
        except SyntaxError:
            return True
    return True  # a condition on something we do not model: take the element


@dataclass
class Unit:
    file: Path
    defines: list[str]
    includes: list[Path]
    wpp_functions: list[str]
    cpp: bool
    forced_includes: list[Path] = field(default_factory=list)


@dataclass
class Project:
    name: str
    path: Path            # the project file (.vcxproj or WDK `sources`)
    dir: Path
    origin: str           # "samples" or "sdv71"
    driver_type: str      # WDM, KMDF, Miniport, ExportDriver
    config_type: str      # Driver, StaticLibrary, ...
    units: list[Unit] = field(default_factory=list)
    libs: str = ""        # linker inputs, lower-cased (storport.lib, ndis.lib, fltmgr.lib)
    references: list[Path] = field(default_factory=list)   # static libraries it links
    messages: list[tuple[Path, Path]] = field(default_factory=list)  # (.mc/.man, header)
    mofs: list[tuple[Path, Path]] = field(default_factory=list)      # (.mof, header)
    kernel: bool = True


def _split_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(";") if s.strip()]


def _item_metadata(el: ET.Element, props: dict[str, str]) -> dict[str, str]:
    # The same metadata may be set several times in a row, each time extending the last
    # (<PreprocessorDefinitions>%(PreprocessorDefinitions);X</...>).
    meta: dict[str, str] = {}
    for child in el:
        if condition_holds(child.get("Condition"), props):
            k = _tag(child)
            meta[k] = _merge_inherited((child.text or "").strip(), meta.get(k, f"%({k})"), k)
    return meta


def _merge_inherited(value: str, inherited: str, key: str) -> str:
    return value.replace(f"%({key})", inherited) if f"%({key})" in value else value


def read_vcxproj(path: Path, samples_root: Path) -> Project | None:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        log(f"windows_samples: {path}: unreadable project file: {e}")
        return None
    pdir = path.parent
    props = {
        "Configuration": "Debug", "Platform": "x64", "ProjectDir": str(pdir) + "/",
        "MSBuildProjectDirectory": str(pdir), "MSBuildThisFileDirectory": str(pdir) + "/",
        "MSBuildProjectName": path.stem, "ProjectName": path.stem, "IntDir": "@INTDIR@",
        "OutDir": "@INTDIR@", "SolutionDir": str(_solution_dir(pdir, samples_root)) + "/",
        "PlatformTarget": "x64",
    }
    # Properties: later definitions win, as in MSBuild's evaluation order, except the
    # configuration and platform, which the build is given as global properties.
    for pg in root.iter(NS + "PropertyGroup"):
        if not condition_holds(pg.get("Condition"), props):
            continue
        for p in pg:
            if _tag(p) not in ("Configuration", "Platform") and condition_holds(p.get("Condition"), props):
                props[_tag(p)] = expand((p.text or "").strip(), props)
    if "WindowsKernelModeDriver" not in props.get("PlatformToolset", ""):
        return None
    proj = Project(name="", path=path, dir=pdir, origin="samples",
                   driver_type=props.get("DriverType", "WDM"),
                   config_type=props.get("ConfigurationType", ""))
    # Project-wide compiler settings (ItemDefinitionGroup) for Debug|x64.
    cl_defaults: dict[str, str] = {}
    link_deps = []
    for idg in root.iter(NS + "ItemDefinitionGroup"):
        if not condition_holds(idg.get("Condition"), props):
            continue
        for tool in idg:
            if not condition_holds(tool.get("Condition"), props):
                continue
            meta = _item_metadata(tool, props)
            if _tag(tool) == "ClCompile":
                for k, v in meta.items():
                    cl_defaults[k] = _merge_inherited(v, cl_defaults.get(k, ""), k)
            elif _tag(tool) == "Link":
                link_deps.append(meta.get("AdditionalDependencies", ""))
    proj.libs = expand(";".join(link_deps), props).lower()

    intdir_files = []
    for ig in root.iter(NS + "ItemGroup"):
        if not condition_holds(ig.get("Condition"), props):
            continue
        for item in ig:
            if not condition_holds(item.get("Condition"), props):
                continue
            kind, inc = _tag(item), expand(item.get("Include", ""), props)
            if "@(" in inc:
                continue  # a wildcard list of the items already listed
            meta = _item_metadata(item, props)
            if meta.get("ExcludedFromBuild", "").lower() == "true":
                continue
            files = []
            for part in _split_list(inc):
                part = part.replace("\\", "/")
                if any(ch in part for ch in "*?"):
                    files += [Path(p) for p in sorted(glob.glob(str(pdir / part)))]
                else:
                    files.append(pdir / part)
            if kind == "ClCompile":
                for f in files:
                    found = f if f.exists() else find_ci(pdir, os.path.relpath(f, pdir))
                    m = dict(cl_defaults)
                    for k, v in meta.items():
                        m[k] = _merge_inherited(v, cl_defaults.get(k, ""), k)
                    proj.units.append(_unit_from_meta(found or f, m, props, pdir))
            elif kind == "MessageCompile":
                for f in files:
                    hdir = meta.get("HeaderFilePath", "@INTDIR@")
                    base = meta.get("GeneratedFilesBaseName") or f.stem
                    intdir_files.append((f, hdir, base + ".h", proj.messages))
            elif kind in ("Wmimofck",):
                # Compiled from a .bmf that mofcomp made from the project's .mof of that name.
                header = meta.get("HeaderOutputFile")
                for f in files:
                    mof = find_ci(pdir, f.stem + ".mof") or pdir / (f.stem + ".mof")
                    if header:
                        hdir, hname = os.path.split(header.replace("\\", "/"))
                        intdir_files.append((mof, hdir or "@INTDIR@", hname, proj.mofs))
            elif kind == "ProjectReference":
                for f in files:
                    proj.references.append(f)
    for src, hdir, hname, target in intdir_files:
        target.append((src, Path(hdir.replace("\\", "/")) / hname))
    return proj


def _unit_from_meta(f: Path, meta: dict[str, str], props: dict[str, str], pdir: Path) -> Unit:
    defines = _split_list(expand(meta.get("PreprocessorDefinitions", ""), props))
    defines = [d for d in defines if not d.startswith("%(") and not d.startswith("/")]
    includes = []
    for d in _split_list(expand(meta.get("AdditionalIncludeDirectories", ""), props)):
        d = d.strip('"').replace("\\", "/")
        if d.startswith("%(") or "$(" in d:
            continue  # the WDK's and SDK's own include directories: the header set-up gives them
        if d.startswith(("/", "@")):
            includes.append(Path(d))
        else:
            includes.append(find_ci(pdir, d) or pdir / d)
    wpp = []
    if meta.get("WppEnabled", "").lower() == "true":
        for fn in _split_list(meta.get("WppTraceFunction", "")):
            m = re.match(r"\s*(\w+)", fn)
            if m:
                wpp.append(m.group(1))
    forced = [pdir / p.replace("\\", "/") for p in _split_list(meta.get("ForcedIncludeFiles", ""))
              if not p.startswith("%(")]
    cpp = f.suffix.lower() in (".cpp", ".cxx", ".cc") or meta.get("CompileAs", "") == "CompileAsCpp"
    return Unit(file=f, defines=defines, includes=includes, wpp_functions=wpp, cpp=cpp,
                forced_includes=forced)


def _solution_dir(pdir: Path, root: Path) -> Path:
    d = pdir
    while True:
        if any(n.lower().endswith(".sln") for n in _listing(d).values()):
            return d
        if d == root or d.parent == d:
            return pdir
        d = d.parent


# ---------------------------------------------------------------------------------------------
# WDK 7.1 `sources` files (build.exe): the SDV fail drivers use these.

def read_sources_file(path: Path) -> dict[str, str]:
    text = read_text(path)
    text = re.sub(r"\\\s*\n", " ", text)  # line continuations
    out: dict[str, str] = {}
    skip = 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("!IF"):
            skip += 1  # only SDV_BUILD_AS_CPP switches appear, which we leave off
            continue
        if s.startswith("!ENDIF"):
            skip = max(0, skip - 1)
            continue
        if skip or s.startswith("#") or "=" not in s:
            continue
        k, v = s.split("=", 1)
        k, v = k.strip(), v.strip()
        v = v.replace(f"$({k})", out.get(k, "")).strip()
        out[k] = v
    return out


def read_sdv71(driver_dir: Path, fail_root: Path) -> Project | None:
    src = read_sources_file(driver_dir / "sources")
    if src.get("TARGETTYPE", "").upper() != "DRIVER":
        return None
    rel = driver_dir.relative_to(fail_root)
    parts = [p for p in rel.parts if p.lower() != "driver"]
    model = parts[0].lower()
    proj = Project(name="sdv71." + ".".join(parts), path=driver_dir / "sources", dir=driver_dir,
                   origin="sdv71", driver_type="KMDF" if "KMDF_VERSION_MAJOR" in src else "WDM",
                   config_type="Driver")
    proj.libs = src.get("TARGETLIBS", "").lower()
    if model == "ndis":
        proj.libs += " ndis.lib"
    unit_defines = [m.group(1) for m in re.finditer(r"[-/]D(\S+)", src.get("C_DEFINES", ""))]
    # NTDDI_VERSION=NTDDI_LONGHORN is spelled by name; our set-up defines the number instead.
    unit_defines = [d for d in unit_defines if not d.startswith("NTDDI_VERSION")]
    includes = [find_ci(driver_dir, d) or driver_dir / d for d in _split_list(src.get("INCLUDES", ""))]
    for s in src.get("SOURCES", "").split():
        if s.lower().endswith((".c", ".cpp")):
            f = find_ci(driver_dir, s) or driver_dir / s
            proj.units.append(Unit(f, list(unit_defines), list(includes), [], f.suffix == ".cpp"))
    # Libraries it links, found by TARGETNAME among the `sources` files next to the driver.
    for lib in re.findall(r"([\w]+)\.lib", src.get("TARGETLIBS", "")):
        for cand in driver_dir.parent.glob("*/sources"):
            s2 = read_sources_file(cand)
            if s2.get("TARGETNAME", "").lower() == lib.lower() and cand.parent != driver_dir:
                inc2 = [find_ci(cand.parent, d) or cand.parent / d for d in _split_list(s2.get("INCLUDES", ""))]
                for s in s2.get("SOURCES", "").split():
                    if s.lower().endswith((".c", ".cpp")):
                        f = find_ci(cand.parent, s) or cand.parent / s
                        proj.units.append(Unit(f, list(unit_defines), inc2, [], f.suffix == ".cpp"))
    return proj


# ---------------------------------------------------------------------------------------------
# Discovery

def project_name(path: Path, root: Path) -> str:
    rel = path.parent.relative_to(root)
    name = ".".join(rel.parts)
    if path.stem.lower() != rel.parts[-1].lower():
        name += "." + path.stem
    return name


def discover(samples: Path, wdk: Path) -> tuple[list[Project], dict[Path, Project]]:
    drivers, libraries = [], {}
    for p in sorted(samples.rglob("*.vcxproj")):
        proj = read_vcxproj(p, samples)
        if proj is None:
            continue
        proj.name = project_name(p, samples)
        if proj.config_type == "Driver":
            drivers.append(proj)
        elif proj.config_type == "StaticLibrary":
            libraries[p.resolve()] = proj
    # WDK 7.1 keeps them in tools/sdv/samples/fail_drivers; a WinDDK checkout may hold more
    # than one kit, and the first found is the one built.
    fail_roots = sorted(wdk.glob("**/tools/sdv/samples/fail_drivers"))
    for fr in fail_roots[:1]:
        for s in sorted(fr.rglob("sources")):
            proj = read_sdv71(s.parent, fr)
            if proj is not None:
                drivers.append(proj)
    if not fail_roots:
        log(f"windows_samples: no tools/sdv/samples/fail_drivers under {wdk}: SDV fail drivers left out")
    return drivers, libraries


# ---------------------------------------------------------------------------------------------
# Header set-ups

@dataclass
class Env:
    samples: Path
    wdk: Path
    wdf: Path
    out: Path
    clang_include: Path
    wdk_inc: Path
    kmdf_inc: Path
    system_ci: dict[str, Path] = field(default_factory=dict)


def setup_flags(env: Env, setup: str, kmdf: bool) -> tuple[list[str], list[Path]]:
    """Target and header flags of a set-up, and its system include directories (searched for
    case-insensitive spellings)."""
    if setup == "wdm":
        dirs = [MINGW_INC / "ddk"]
        flags = ["--target=x86_64-w64-mingw32", f"--sysroot={MINGW_SYSROOT}", "-fms-extensions"]
        flags += [x for d in dirs for x in ("-isystem", str(d))]
        return flags, dirs + [MINGW_SYSROOT / "include"]
    if setup == "kmdf":
        # clang's own headers after mingw's: clang's intrin.h clashes with mingw's setjmp.h.
        dirs = [MINGW_INC / "ddk", MINGW_INC, env.clang_include, env.kmdf_inc]
        # For MSVC targets clang's -g leaves out columns; lockcheck's reports want them.
        flags = ["--target=x86_64-pc-windows-msvc", "-gcolumn-info", "-fgnuc-version=4.2.1", "-nostdinc",
                 "-fms-extensions"]
        flags += [x for d in dirs for x in ("-isystem", str(d))]
        flags += ["-DKMDF_VERSION_MAJOR=1", "-DKMDF_VERSION_MINOR=33"]
        return flags, dirs
    if setup == "wdk71":
        w = env.wdk_inc
        dirs = [w / "ddk", w / "api", w / "crt"]
        if kmdf:
            dirs.append(env.kmdf_inc)
        dirs.append(env.clang_include)
        flags = ["--target=x86_64-pc-windows-msvc", "-gcolumn-info", "-fms-compatibility", "-fms-extensions",
                 "-nostdinc"]
        flags += [x for d in dirs for x in ("-isystem", str(d))]
        if kmdf:
            flags += ["-DKMDF_VERSION_MAJOR=1", "-DKMDF_VERSION_MINOR=33"]
        return flags, dirs
    raise ValueError(setup)


def project_text(proj: Project, units: list[Unit]) -> str:
    """The driver's own sources and the headers next to them (for set-up choice and stand-ins)."""
    seen, chunks = set(), []
    dirs = {proj.dir} | {u.file.parent for u in units} | {d for u in units for d in u.includes
                                                          if not str(d).startswith("@")}
    files = [u.file for u in units]
    for d in dirs:
        if d.is_dir():
            files += [d / n for n in os.listdir(d) if n.lower().endswith((".h", ".hpp", ".inl"))]
    for f in files:
        try:
            key = f.resolve()
        except OSError:
            continue
        if key in seen or not f.is_file():
            continue
        seen.add(key)
        chunks.append(read_text(f))
    return "\n".join(chunks)


def choose_setups(proj: Project, text: str) -> list[str]:
    low = text.lower()
    needs_wdk71 = (proj.driver_type == "Miniport"
                   or any(lib in proj.libs for lib in ("storport.lib", "ndis.lib", "fltmgr.lib"))
                   or re.search(r'#\s*include\s*[<"](storport|ndis|fltkernel)\.h[>"]', low) is not None)
    if needs_wdk71:
        return ["wdk71"] + (["kmdf"] if proj.driver_type == "KMDF" else ["wdm"])
    if proj.driver_type == "KMDF":
        return ["kmdf", "wdk71"]
    return ["wdm", "wdk71"]


# ---------------------------------------------------------------------------------------------
# Stand-ins (all generated here, under OUT/stubs/<driver>/)

# Headers of the WDK that only feed Microsoft's tools; when the header set lacks them, an
# empty file stands in.
EMPTY_HEADERS = {
    "dontuse.h": ("marks deprecated functions for MSVC", ""),
    "wpprecorder.h": ("the WPP in-flight recorder (tracing is compiled out)",
                      "typedef void *RECORDER_LOG;\ntypedef RECORDER_LOG *PRECORDER_LOG;\n"
                      "#define WppRecorderLogGetDefault() ((RECORDER_LOG)0)\n"
                      "#define WppRecorderLogCreate(...) 0\n#define WppRecorderLogDelete(...) ((void)0)\n"
                      "#define RECORDER_LOG_CREATE_PARAMS_INIT(...) ((void)0)\n"
                      "typedef struct _RECORDER_LOG_CREATE_PARAMS { int Unused; } RECORDER_LOG_CREATE_PARAMS;\n"
                      "typedef struct _RECORDER_CONFIGURE_PARAMS { int Unused; } RECORDER_CONFIGURE_PARAMS;\n"
                      "#define RECORDER_CONFIGURE_PARAMS_INIT(...) ((void)0)\n"
                      "#define WppRecorderConfigure(...) 0\n"),
}

WPP_NOOPS = {
    # Function-like no-ops tracewpp's headers would define; used directly by driver code.
    "WPP_INIT_TRACING": "((void)0)", "WPP_CLEANUP": "((void)0)", "WPP_LEVEL_ENABLED": "0",
    "WPP_FLAG_ENABLED": "0", "WPP_LEVEL_FLAGS_ENABLED": "0", "WPP_LEVEL_LOGGER": "0",
    "WPP_RECORDER_LEVEL_FLAGS_ARGS": "0", "WPP_RECORDER_LEVEL_FLAGS_FILTER": "0",
    "WppRecorderLogGetDefault": "((void*)0)", "WPP_INIT_RECORDER_TRACING": "((void)0)",
    # tracewpp's default trace functions, there whether or not the project names any.
    "DoTraceMessage": "((void)0)", "DoDebugTrace": "((void)0)", "DoTraceLevelMessage": "((void)0)",
}


def defines_function(text: str, name: str) -> bool:
    """Whether `name(...)` is followed by a body somewhere in text (a definition, not a call)."""
    for m in re.finditer(r"\b" + re.escape(name) + r"\s*\(", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        rest = text[i:i + 200].lstrip()
        if rest.startswith("{"):
            return True
    return False


# Newer kernel interfaces the older header sets (mingw-w64 10, WDK 7.1) lack, written from
# their documented names and values. Each is added after the header that should declare it
# (through wrapper headers that #include_next the real one), and only when the header set does
# not declare it itself. (section, names it provides, text)
COMPAT = [
    ("wdm", ["POOL_FLAGS", "ExAllocatePool2"], """
typedef ULONG64 POOL_FLAGS;
PVOID NTAPI ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);"""),
    ("wdm", ["DRIVER_REGKEY_TYPE", "IoOpenDriverRegistryKey"], """
typedef enum _DRIVER_REGKEY_TYPE { DriverRegKeyParameters, DriverRegKeyPersistentState,
    DriverRegKeySharedPersistentState } DRIVER_REGKEY_TYPE, *PDRIVER_REGKEY_TYPE;
NTSTATUS NTAPI IoOpenDriverRegistryKey(PDRIVER_OBJECT DriverObject, DRIVER_REGKEY_TYPE RegKeyType,
    ACCESS_MASK DesiredAccess, ULONG Flags, PHANDLE DriverRegKey);"""),
    ("wdm", ["FILE_ID_128"], """
typedef struct _FILE_ID_128 { UCHAR Identifier[16]; } FILE_ID_128, *PFILE_ID_128;"""),
    ("wdm", ["POHANDLE"], """
typedef struct _LOCKCHECK_POHANDLE *POHANDLE;"""),
    ("wdm", ["ExInitializeDriverRuntime"], """
#define ExInitializeDriverRuntime(RuntimeFlags) ((void)(RuntimeFlags))"""),
    ("storport", ["sp_DRIVER_INITIALIZE"], """
typedef ULONG sp_DRIVER_INITIALIZE(PVOID DriverObject, PVOID Argument2);"""),
]
# Constants: plain #ifndef guards are enough.
COMPAT_MACROS = {
    "wdm": {
        "POOL_FLAG_USE_QUOTA": "0x0000000000000001ULL", "POOL_FLAG_UNINITIALIZED": "0x0000000000000002ULL",
        "POOL_FLAG_SESSION": "0x0000000000000004ULL", "POOL_FLAG_CACHE_ALIGNED": "0x0000000000000008ULL",
        "POOL_FLAG_RAISE_ON_FAILURE": "0x0000000000000020ULL", "POOL_FLAG_NON_PAGED": "0x0000000000000040ULL",
        "POOL_FLAG_NON_PAGED_EXECUTE": "0x0000000000000080ULL", "POOL_FLAG_PAGED": "0x0000000000000100ULL",
        "POOL_NX_ALLOCATION": "512", "NonPagedPoolNx": "((POOL_TYPE)512)",
        "NonPagedPoolNxCacheAligned": "((POOL_TYPE)516)", "MdlMappingNoWrite": "0x80000000",
        "MdlMappingNoExecute": "0x40000000", "DrvRtPoolNxOptIn": "0x00000001",
        "RTL_QUERY_REGISTRY_TYPECHECK": "0x00000100", "RTL_QUERY_REGISTRY_TYPECHECK_SHIFT": "24",
        "USBD_CLIENT_CONTRACT_VERSION_602": "0x602", "TRACE_LEVEL_NONE": "0",
        "TRACE_LEVEL_CRITICAL": "1", "TRACE_LEVEL_FATAL": "1", "TRACE_LEVEL_ERROR": "2",
        "TRACE_LEVEL_WARNING": "3", "TRACE_LEVEL_INFORMATION": "4", "TRACE_LEVEL_VERBOSE": "5",
        # Enumerators of Windows 8+ (FLT_FILESYSTEM_TYPE, FILE_INFORMATION_CLASS) and FSCTLs.
        "FLT_FSTYPE_CSVFS": "((FLT_FILESYSTEM_TYPE)27)", "FLT_FSTYPE_REFS": "((FLT_FILESYSTEM_TYPE)28)",
        "FileDispositionInformationEx": "((FILE_INFORMATION_CLASS)64)",
        "FileRenameInformationEx": "((FILE_INFORMATION_CLASS)65)", "FILE_INVALID_FILE_ID": "((LONGLONG)-1LL)",
        "FSCTL_OFFLOAD_READ": "0x00094264", "FSCTL_OFFLOAD_WRITE": "0x00098268",
    },
}
# The headers a driver includes first, and the compat section that follows each.
WRAPPED = {"ntddk.h": "wdm", "wdm.h": "wdm", "ntifs.h": "wdm", "fltkernel.h": "wdm",
           "ndis.h": "ndis", "storport.h": "storport"}

_ident_cache: dict[tuple[str, ...], set[str]] = {}


def header_identifiers(dirs: list[Path]) -> set[str]:
    """Every identifier a header set spells (to tell what it already declares)."""
    key = tuple(str(d) for d in dirs)
    if key not in _ident_cache:
        ids: set[str] = set()
        for d in dirs:
            for r, _, ns in os.walk(d):
                for n in ns:
                    if n.lower().endswith((".h", ".hpp")):
                        ids.update(re.findall(r"\b[A-Za-z_]\w*", read_text(Path(r) / n)))
        _ident_cache[key] = ids
    return _ident_cache[key]


def write_compat(wrap: Path, text: str, known: set[str], role_pointers: dict[str, set[str]]) -> None:
    """Wrapper headers for the header set's entry points, each followed by what it lacks."""
    used = set(re.findall(r"\b[A-Za-z_]\w*", text))
    sections: dict[str, list[str]] = {}
    for section, names, body in COMPAT:
        if used & set(names) and not known & set(names):
            sections.setdefault(section, []).append(body.strip())
    for section, macros in COMPAT_MACROS.items():
        for name, value in macros.items():
            if name in used:
                sections.setdefault(section, []).append(f"#ifndef {name}\n#define {name} {value}\n#endif")
    # NDIS 6.30+ annotations naming a driver's context types (SDV role types): nothing to
    # compile, so empty where ndis.h lacks them.
    for name in sorted(set(re.findall(r"\bNDIS_DECLARE_\w+_CONTEXT\b", text)) - known):
        sections.setdefault("ndis", []).append(f"#ifndef {name}\n#define {name}(type)\n#endif")
    # Function role types (HW_INITIALIZE, MINIPORT_ISR...) that older storport.h/ndis.h only
    # give as a pointer type PX: the pointee is the role type.
    own = set(re.findall(r"\b(?:typedef\b[^;]*?|struct\s+|union\s+|enum\s+)(\w+)\s*[;{,)]", text))
    for section, names in role_pointers.items():
        for name in sorted(used - known - own):
            if re.fullmatch(r"[A-Z][A-Z0-9_]{3,}", name) and "P" + name in names:
                sections.setdefault(section, []).append(f"typedef __typeof__(*(P{name})0) {name};")
    wrap.mkdir(parents=True, exist_ok=True)
    for section in ("wdm", "ndis", "storport"):
        body = "\n".join(sections.get(section, []))
        (wrap / f"lockcheck_compat_{section}.h").write_text(
            f"/* lockcheck corpus stand-in: interfaces the header set lacks. */\n#pragma once\n{body}\n")
    for header, section in WRAPPED.items():
        for spelling in {header, {"fltkernel.h": "fltKernel.h"}.get(header, header)}:
            (wrap / spelling).write_text(
                f"/* lockcheck corpus stand-in: the real {spelling}, then what it lacks. */\n"
                f"#include_next <{spelling}>\n#include \"lockcheck_compat_{section}.h\"\n")


def write_tmh(path: Path, trace_functions: set[str]) -> None:
    lines = ["/* lockcheck corpus stand-in for a tracewpp header: tracing compiled out. */"]
    for name, body in sorted(WPP_NOOPS.items()):
        lines.append(f"#ifndef {name}\n#define {name}(...) {body}\n#endif")
    for fn in sorted(trace_functions):
        lines.append(f"#undef {fn}\n#define {fn}(...) ((void)0)")
    path.write_text("\n".join(lines) + "\n")


def write_sal(path: Path, text: str, defined: set[str]) -> None:
    """Empty definitions for every SAL 2 annotation the driver spells (WDK 7.1 has SAL 1 only;
    mingw-w64 lacks some). Headers that define one later replace ours."""
    names: dict[str, bool] = {}
    for m in SAL_RE.finditer(text):
        n = m.group(0)
        if not re.search(r"[a-z]", n) or n in defined:
            continue
        after = text[m.end():m.end() + 8].lstrip()
        names[n] = names.get(n, False) or after.startswith("(")
    lines = ["/* lockcheck corpus stand-in: SAL annotations as empty macros. */"]
    for n, fn in sorted(names.items()):
        lines.append(f"#ifndef {n}\n#define {n}{'(...)' if fn else ''}\n#endif")
    path.write_text("\n".join(lines) + "\n")


def write_mc_header(path: Path, mc: Path) -> None:
    """#defines of a message-compiler (.mc) file's SymbolicNames, with mc's value layout:
    severity << 30 | customer bit << 29 | facility << 16 | message id."""
    text = read_text(mc)
    sev = {"success": 0, "informational": 1, "warning": 2, "error": 3}
    fac = {"system": 0xFF, "application": 0xFFF}
    for key, table in (("SeverityNames", sev), ("FacilityNames", fac)):
        m = re.search(key + r"\s*=\s*\(([^)]*)\)", text, re.I)
        if m:
            for name, val in re.findall(r"(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)", m.group(1)):
                table[name.lower()] = int(val, 0)
    typedef = re.search(r"MessageIdTypedef\s*=\s*(\w+)", text, re.I)
    cast = f"({typedef.group(1)})" if typedef else ""
    lines = [f"/* lockcheck corpus stand-in for mc.exe's header of {mc.name}. */", "#pragma once"]
    msg_id, cur_sev, cur_fac = -1, 0, 0
    for block in re.split(r"(?im)^\s*(?=MessageId\s*=)", text):
        if not re.match(r"(?i)MessageId\s*=", block.strip()):
            continue
        head = block.split("\nLanguage", 1)[0]
        m = re.search(r"(?i)MessageId\s*=\s*(\+?)(0x[0-9a-fA-F]+|\d*)", head)
        if m and m.group(2):
            msg_id = (msg_id + int(m.group(2), 0)) if m.group(1) else int(m.group(2), 0)
        else:
            msg_id += 1
        m = re.search(r"(?i)\bSeverity\s*=\s*(\w+)", head)
        if m:
            cur_sev = sev.get(m.group(1).lower(), 0)
        m = re.search(r"(?i)\bFacility\s*=\s*(\w+)", head)
        if m:
            cur_fac = fac.get(m.group(1).lower(), 0)
        m = re.search(r"(?i)SymbolicName\s*=\s*(\w+)", head)
        if m:
            value = (cur_sev << 30) | (cur_fac << 16) | (msg_id & 0xFFFF)
            lines.append(f"#define {m.group(1)} {cast}0x{value:08X}L")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_man_header(path: Path, man: Path) -> None:
    """mc.exe -km's ETW macros for an instrumentation manifest, as no-ops returning success."""
    text = read_text(man)
    lines = [f"/* lockcheck corpus stand-in for mc.exe's ETW header of {man.name}. */", "#pragma once"]
    for prov in re.findall(r"<provider\b([^>]*)>", text, re.S):
        for attr in ("name", "symbol"):
            m = re.search(attr + r'\s*=\s*"([^"]+)"', prov)
            if m:
                s = re.sub(r"\W", "_", m.group(1))
                lines.append(f"#define EventRegister{s}() 0")
                lines.append(f"#define EventUnregister{s}() 0")
    for ev in re.findall(r"<event\b([^>]*)>", text, re.S):
        m = re.search(r'symbol\s*=\s*"([^"]+)"', ev)
        if m:
            lines.append(f"#define EventWrite{m.group(1)}(...) 0")
            lines.append(f"#define EventEnabled{m.group(1)}(...) 0")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


MOF_TYPES = {
    "uint8": "UCHAR", "sint8": "CHAR", "uint16": "USHORT", "sint16": "SHORT",
    "uint32": "ULONG", "sint32": "LONG", "uint64": "ULONGLONG", "sint64": "LONGLONG",
    "boolean": "BOOLEAN", "real32": "ULONG", "real64": "ULONGLONG", "char16": "WCHAR",
}


def write_mof_header(path: Path, mof: Path) -> None:
    """wmimofck -h's header for a .mof: per class a <Class>Guid initializer, <Class>_GUID, a
    struct with <Class>_<Field>_SIZE/_ID defines and <Class>_SIZE; methods get their ids.
    Strings and embedded objects become the variable-size trailing members wmimofck leaves
    to the driver."""
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", read_text(mof), flags=re.S)
    lines = [f"/* lockcheck corpus stand-in for wmimofck's header of {mof.name}. */", "#pragma once"]
    for m in re.finditer(r"\[([^\]]*)\]\s*class\s+(\w+)(?:\s*:\s*\w+)?\s*\{(.*?)\n\s*\}\s*;", text, re.S):
        quals, cls, body = m.group(1), m.group(2), m.group(3)
        g = re.search(r'guid\s*\(\s*"\{?([0-9a-fA-F-]{36})\}?"\s*\)', quals, re.I)
        if g:
            h = g.group(1).replace("-", "")
            parts = [h[0:8], h[8:12], h[12:16]] + [h[16 + 2 * i:18 + 2 * i] for i in range(8)]
            init = (f"{{ 0x{parts[0]}L, 0x{parts[1]}, 0x{parts[2]}, {{ "
                    + ", ".join("0x" + p for p in parts[3:]) + " } }")
            lines.append(f"#define {cls}Guid \\\n    {init}")
            lines.append(f"#if !defined(MIDL_PASS)\nDEFINE_GUID({cls}_GUID, 0x{parts[0]}, 0x{parts[1]}, "
                         f"0x{parts[2]}, " + ", ".join("0x" + p for p in parts[3:]) + ");\n#endif")
        fields, method_id = [], 0
        for fm in re.finditer(r"\[([^\]]*)\]\s*([\w ]+?)\s+(\w+)\s*(\[[^\]]*\])?\s*(\([^)]*\))?\s*;", body, re.S):
            fq, ftype, fname, arr, method = fm.groups()
            if method is not None:
                wm = re.search(r"WmiMethodId\s*\(\s*(\d+)", fq, re.I)
                method_id = int(wm.group(1)) if wm else method_id + 1
                lines.append(f"#define {fname} {method_id}")
                continue
            did = re.search(r"WmiDataId\s*\(\s*(\d+)", fq, re.I)
            if not did:
                continue
            fields.append((int(did.group(1)), ftype.split()[-1], fname, arr))
        if not fields and not g:
            continue
        lines.append(f"typedef struct _{cls}\n{{")
        last = None
        for did, ftype, fname, arr in sorted(fields):
            ctype = MOF_TYPES.get(ftype.lower())
            if ctype is None:  # string, datetime or an embedded class: variable size
                ctype = "WCHAR" if ftype.lower() in ("string", "datetime") else ftype
                arr = arr or "[1]"
            dims = arr if arr and arr.strip("[] ") else ("[1]" if arr else "")
            lines.append(f"    {ctype} {fname}{dims};")
            lines.append(f"    #define {cls}_{fname}_SIZE sizeof({ctype}{dims})")
            lines.append(f"    #define {cls}_{fname}_ID {did}")
            last = fname
        if not fields:
            lines.append("    ULONG Reserved_;")
        lines.append(f"}} {cls}, *P{cls};")
        if last:
            lines.append(f"#define {cls}_SIZE (FIELD_OFFSET({cls}, {last}) + {cls}_{last}_SIZE)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def link_ci(ci_root: Path, spelling: str, target: Path) -> None:
    """A symlink named as the source spells an include, to the file it means. ci_root is
    searched with -idirafter, after every real directory; its four `_` levels let spellings
    with up to four leading `..` stay inside it."""
    rel = spelling.replace("\\", "/")
    link = Path(os.path.normpath(ci_root / "_/_/_/_" / rel))
    if not str(link).startswith(str(ci_root)) or link.exists() or link.is_symlink():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target.resolve())


def scan_includes(start: list[Path], search: list[Path], ci_root: Path, gen: set[str],
                  limit_to: list[Path] | None = None) -> list[str]:
    """Follow #include spellings from the given files; link each one found only by ignoring
    case; return spellings found nowhere (clang will say which matter). Files under
    limit_to are followed; others (the system headers) are only resolved."""
    todo, seen, missing = list(start), set(), []
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        try:
            text = read_text(f)
        except OSError:
            continue
        for m in INCLUDE_RE.finditer(text):
            spelling = m.group(2).strip()
            if spelling.lower().endswith(".tmh") or spelling.lower() in gen:
                continue
            dirs = ([f.parent] if m.group(1) == '"' else []) + search
            hit = None
            for d in dirs:
                if exists_exact(d, spelling):
                    hit = d / spelling.replace("\\", "/")
                    break
            if hit is None:
                for d in dirs:
                    hit = find_ci(d, spelling)
                    if hit is not None:
                        link_ci(ci_root, spelling, hit)
                        break
            if hit is None:
                missing.append(spelling)
                continue
            if limit_to is None or any(str(hit.resolve()).startswith(str(l)) for l in limit_to):
                todo.append(hit)
    return missing


def system_ci(env: Env, setup: str, sys_dirs: list[Path]) -> Path:
    """Case-insensitive links for the header set itself (WDF and WDK headers spell their own
    includes in mixed case), made once per set-up."""
    key = setup
    if key in env.system_ci:
        return env.system_ci[key]
    ci_root = env.out / "stubs" / f"setup-{setup}" / "ci"
    if ci_root.exists():
        shutil.rmtree(ci_root)
    ci_root.mkdir(parents=True)
    for d in sys_dirs:
        if not d.is_dir() or d == env.clang_include:
            continue
        headers = [Path(r) / n for r, _, ns in os.walk(d) for n in ns if n.lower().endswith((".h", ".hpp"))]
        for h in headers:
            text = read_text(h)
            for m in INCLUDE_RE.finditer(text):
                sp = m.group(2).strip()
                dirs = [h.parent] + sys_dirs
                if any(exists_exact(x, sp) for x in dirs):
                    continue
                for x in dirs:
                    hit = find_ci(x, sp)
                    if hit is not None:
                        link_ci(ci_root, sp, hit)
                        break
    env.system_ci[key] = ci_root / "_/_/_/_"
    return env.system_ci[key]


# ---------------------------------------------------------------------------------------------
# Build

@dataclass
class Result:
    name: str
    status: str          # built / skipped
    reason: str = ""
    setup: str = ""
    units: int = 0
    attempts: list[str] = field(default_factory=list)


def unit_output(drv_dir: Path, unit: Unit, proj: Project) -> Path:
    try:
        rel = unit.file.relative_to(proj.dir)
    except ValueError:
        rel = Path(os.path.relpath(unit.file, proj.dir))
    flat = str(rel).replace("../", "up_").replace("/", "__")
    return drv_dir / "bc" / (flat + ".bc")


def unit_args(env: Env, proj: Project, unit: Unit, setup: str, stub: Path, ci_dirs: list[Path],
              out: Path) -> list[str]:
    flags, _ = setup_flags(env, setup, proj.driver_type == "KMDF")
    args = [CLANG, "-isystem", str(stub / "wrap")] + flags
    if unit.cpp:
        args += ["-x", "c++", "-std=c++17", "-fno-exceptions", "-fno-rtti", "-fms-extensions"]
        if setup in ("wdm", "kmdf"):
            # In C++ mingw-w64's intrin-impl.h and its ddk/wdm.h both define these two.
            args += ["-D__INTRINSIC_DEFINED_InterlockedBitTestAndSet",
                     "-D__INTRINSIC_DEFINED_InterlockedBitTestAndReset"]
            # COM interfaces (portcls, ks) use it; only mingw-w64's winnt.h defines it.
            args += ["-DDECLSPEC_NOVTABLE=__declspec(novtable)", "-DDECLSPEC_NOTHROW=__declspec(nothrow)"]
    defines = []
    for d in WDK_DEFINES + VERSION_DEFINES[setup] + unit.defines:
        if DROPPED_DEFINES.match(d):
            continue
        if setup == "wdk71" and NDIS_DOWNGRADE.match(d):
            d = re.sub(r"6[3-9]\d*", "620", d, count=1)
        if setup == "wdk71" and d.startswith("NDIS_SUPPORT_NDIS6"):
            continue
        if d not in defines:
            defines.append(d)
    args += ["-D" + d for d in defines]
    if not unit.cpp and SEH_KEYWORDS.search(read_text(unit.file)):
        args += ["-Dtry=__try", "-Dexcept=__except", "-Dfinally=__finally", "-Dleave=__leave"]
    gen = stub / "gen"
    args += ["-include", str(stub / "sal_stubs.h")]
    for f in unit.forced_includes:
        args += ["-include", str(f)]
    seen = set()
    for d in unit.includes + [proj.dir]:
        d = gen if str(d).startswith("@INTDIR@") else d
        if str(d) not in seen:
            seen.add(str(d))
            args += ["-I", str(d)]
    args += ["-I", str(gen)]
    for d in ci_dirs:
        args += ["-idirafter", str(d)]
    source = fixed_source(unit, stub)
    if source != unit.file:
        args += ["-iquote", str(unit.file.parent)]  # the copy's quoted includes
    # MSVC compiles .C (upper case) as C; clang would take it for C++.
    language = [] if unit.cpp else ["-x", "c"]
    args += RELAX_FLAGS + language + BITCODE_FLAGS + ["-o", str(out), str(source)]
    return args


def first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "error:" in line:
            return re.sub(r"^.*?error: ", "", line).strip()[:200] + "  [" + line.split(":")[0].split("/")[-1] + "]"
    return stderr.strip().splitlines()[-1][:200] if stderr.strip() else "clang failed"


def prepare_stubs(env: Env, proj: Project, units: list[Unit], setup: str, text: str) -> tuple[Path, list[Path]]:
    stub = env.out / "stubs" / proj.name / setup
    if stub.exists():
        shutil.rmtree(stub)
    gen = stub / "gen"
    gen.mkdir(parents=True)
    # Generated headers first, so the include scan below knows them.
    generated = set()
    for src, hdr in proj.messages:
        h = gen / hdr.name
        if src.suffix.lower() == ".mc" and src.exists():
            write_mc_header(h, src)
        elif src.exists():
            write_man_header(h, src)
        generated.add(hdr.name.lower())
    for src, hdr in proj.mofs:
        if src.exists():
            write_mof_header(gen / hdr.name, src)
            generated.add(hdr.name.lower())
    # Generated headers as the sources spell them (WmiData.h for wmimofck's wmidata.h).
    for m in INCLUDE_RE.finditer(text):
        sp = Path(m.group(2).strip().replace("\\", "/")).name
        real = find_ci(gen, sp)
        if real is not None and real.name != sp and not (gen / sp).exists():
            (gen / sp).symlink_to(real.name)
            generated.add(sp.lower())
    trace = {fn for u in units for fn in u.wpp_functions}
    # A trace function the driver defines itself (its non-WPP fallback) must stay a function.
    sources = "\n".join(read_text(u.file) for u in units)
    trace = {fn for fn in trace if not defines_function(sources, fn)}
    for m in INCLUDE_RE.finditer(text):
        sp = m.group(2).strip()
        if sp.lower().endswith(".tmh"):
            write_tmh(gen / Path(sp.replace("\\", "/")).name, trace)
    for name, (why, body) in EMPTY_HEADERS.items():
        for m in re.finditer(r'#\s*include\s*[<"](' + re.escape(name) + ')[>"]', text, re.I):
            # Searched after the header set (-idirafter): the WDK's own copy wins where it exists.
            (stub / "fallback").mkdir(exist_ok=True)
            (stub / "fallback" / m.group(1)).write_text(f"/* lockcheck corpus stand-in: {why}. */\n#pragma once\n{body}")
            generated.add(m.group(1).lower())
    defined = set(re.findall(r"(?m)^\s*#\s*define\s+(\w+)", text))
    sal_text = text
    if proj.driver_type == "KMDF":
        # KMDF 1.33's headers spell SAL 2 too, and WDK 7.1's sal.h has none of it.
        sal_text += "\n".join(read_text(p) for p in env.kmdf_inc.glob("*.h"))
    write_sal(stub / "sal_stubs.h", sal_text, defined)
    _, sys_dirs = setup_flags(env, setup, proj.driver_type == "KMDF")
    role_pointers = {}
    for header, section in (("storport.h", "storport"), ("ndis.h", "ndis")):
        found = [d / header for d in sys_dirs if (d / header).is_file()]
        role_pointers[section] = set(re.findall(r"\bP[A-Z]\w+", read_text(found[0]))) if found else set()
    write_compat(stub / "wrap", sal_text, header_identifiers([d for d in sys_dirs if d != env.clang_include]),
                 role_pointers)
    ci_root = stub / "ci"
    ci_root.mkdir()
    search = []
    for u in units:
        for d in u.includes + [proj.dir]:
            d = gen if str(d).startswith("@INTDIR@") else d
            if d not in search:
                search.append(d)
    scan_includes([u.file for u in units], search + [gen] + sys_dirs, ci_root, generated,
                  limit_to=[env.samples.resolve(), env.wdk.resolve()])
    return stub, [ci_root / "_/_/_/_", system_ci(env, setup, sys_dirs), stub / "fallback"]


# MSVC's cast-as-lvalue extension, `(ULONG_PTR)Srb->DataBuffer += n;`, which clang rejects;
# rewritten as the equivalent `*(ULONG_PTR *)&(Srb->DataBuffer) += n;` on the same line.
LVALUE_CAST = re.compile(r"\((ULONG_PTR|PUCHAR|PCHAR|ULONG|PVOID)\)\s*([A-Za-z_][\w\->\.\[\]]*)\s*(\+=|-=)")


def fixed_source(unit: Unit, stub: Path) -> Path:
    """The file clang is given: the source itself, or, where it needs a rewrite clang can
    compile, a copy under stub/src with `#line` pointing debug info back at the original."""
    text = read_text(unit.file)
    fixed = LVALUE_CAST.sub(lambda m: f"*({m.group(1)} *)&({m.group(2)}) {m.group(3)}", text)
    if fixed == text:
        return unit.file
    copy = stub / "src" / unit.file.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(f'#line 1 "{unit.file}"\n' + fixed)
    return copy


def compile_unit(job: tuple[list[str], Path, Path]) -> tuple[bool, str]:
    args, cwd, out = job
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False, "clang timed out"
    return r.returncode == 0, r.stderr


def link(outputs: list[Path], target: Path) -> tuple[bool, str]:
    r = subprocess.run([LLVM_LINK, "-o", str(target)] + [str(o) for o in outputs],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return True, ""
    # Inline helpers and selectany data defined in several units collide; MSVC's linker
    # folds them, llvm-link wants to be told (DOMAIN.md).
    args = [LLVM_LINK, "-o", str(target), str(outputs[0])]
    for o in outputs[1:]:
        args += ["--override", str(o)]
    r = subprocess.run(args, capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip().splitlines()[0] if r.returncode else ""


def build_project(env: Env, proj: Project, libraries: dict[Path, Project], pool) -> Result:
    res = Result(proj.name, "skipped")
    units = list(proj.units)
    for ref in proj.references:
        lib = libraries.get(ref.resolve())
        if lib is not None:
            units += lib.units
    missing = [u.file for u in units if not u.file.exists()]
    if not units:
        res.reason = "no C/C++ sources in the Debug|x64 configuration"
        return res
    if missing:
        res.reason = f"source file absent from the snapshot: {missing[0].name}"
        return res
    text = project_text(proj, units)
    drv_dir = env.out / "drivers" / proj.name
    for setup in choose_setups(proj, text):
        stub, ci_dirs = prepare_stubs(env, proj, units, setup, text)
        if drv_dir.exists():
            shutil.rmtree(drv_dir)
        drv_dir.mkdir(parents=True)
        jobs, entries = [], []
        for u in units:
            out = unit_output(drv_dir, u, proj)
            args = unit_args(env, proj, u, setup, stub, ci_dirs, out)
            jobs.append((args, proj.dir, out))
            entries.append({"directory": str(proj.dir), "file": str(u.file), "output": str(out),
                            "arguments": args})
        results = list(pool.map(compile_unit, jobs))
        failed = [(u, err) for u, (ok, err) in zip(units, results) if not ok]
        if failed and os.environ.get("WINDOWS_SAMPLES_DEBUG"):
            log(" ".join(jobs[units.index(failed[0][0])][0]) + "\n" + failed[0][1])
        if failed:
            res.attempts.append(f"{setup}: {len(failed)}/{len(units)} units fail: {first_error(failed[0][1])}")
            continue
        ok, err = link([j[2] for j in jobs], drv_dir / f"{proj.name}.bc")
        if not ok:
            res.attempts.append(f"{setup}: llvm-link failed: {err[:200]}")
            continue
        (drv_dir / "compile_commands.json").write_text(json.dumps(entries, indent=1) + "\n")
        extra = lockcheck_args(proj, drv_dir / f"{proj.name}.bc")
        if extra:
            (drv_dir / "lockcheck.args").write_text("\n".join(extra) + "\n")
        res.status, res.setup, res.units = "built", setup, len(units)
        return res
    shutil.rmtree(drv_dir, ignore_errors=True)
    res.reason = " | ".join(res.attempts) if res.attempts else "no header set-up applies"
    return res


def address_taken_functions(bc: Path) -> list[str]:
    """Defined functions whose address the module uses other than as a direct callee: stored
    in a structure, a global initializer or passed as an argument."""
    ir = subprocess.run(["llvm-dis-22", str(bc), "-o", "-"], capture_output=True, text=True).stdout
    defined = re.findall(r'(?m)^define\b[^@]*@("[^"]+"|[\w.$]+)\(', ir)
    body = re.sub(r'(?m)^define\b[^@]*@("[^"]+"|[\w.$]+)\(', "", ir)
    body = re.sub(r'\b(call|invoke)\b[^@\n]*@("[^"]+"|[\w.$]+)\(', "", body)
    # The cancel-safe queue's callbacks (IoCsq*, FltCbdq*) run with its lock held (CsqAcquire
    # returns holding it by design): they are not routines of their own.
    not_routines = set()
    for line in re.findall(r"(?m)^.*@(?:IoCsqInitialize(?:Ex)?|FltCbdqInitialize)\(.*$", ir):
        not_routines.update(re.findall(r'ptr (?:noundef )?@("[^"]+"|[\w.$]+)', line))
    # A cancel routine (IoSetCancelRoutine is an atomic exchange into Irp->CancelRoutine) is
    # found by lockcheck itself, as entered holding the cancel spin lock; naming it with
    # --entry would make it a routine entered with nothing held.
    for line in re.findall(r"(?m)^.*\batomicrmw xchg\b.*$", ir):
        not_routines.update(re.findall(r'@("[^"]+"|[\w.$]+)', line))
    return sorted(f for f in set(defined) - not_routines if re.search(r"@" + re.escape(f) + r"\b", body))


def lockcheck_args(proj: Project, bc: Path) -> list[str]:
    """NDIS drivers and minifilters register their callbacks in structures lockcheck does not
    read (NDIS_MINIPORT_DRIVER_CHARACTERISTICS, NDIS_FILTER_DRIVER_CHARACTERISTICS,
    FLT_REGISTRATION): name as routines the functions whose address the driver hands out, as
    SDV's harness for these models calls each registered callback."""
    if not any(lib in proj.libs for lib in ("ndis.lib", "fltmgr.lib")):
        return []
    args = []
    for f in address_taken_functions(bc):
        args += ["--entry", f.strip('"')]
    return args


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", required=True, type=Path, help="Windows-driver-samples tree")
    ap.add_argument("--wdk", required=True, type=Path, help="WinDDK tree (WDK 7600.16385.1 inside)")
    ap.add_argument("--wdf", required=True, type=Path, help="Windows-Driver-Frameworks tree")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", default="", help="regular expression on driver names")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()

    wdk_inc = next(iter(sorted(a.wdk.glob("**/inc/ddk/ntddk.h"))), None)
    kmdf_inc = next(iter(sorted(a.wdf.glob("**/publicinc/wdf/kmdf/1.33"))), None)
    if wdk_inc is None:
        sys.exit(f"windows_samples: error: no inc/ddk/ntddk.h under --wdk {a.wdk}")
    if kmdf_inc is None:
        sys.exit(f"windows_samples: error: no publicinc/wdf/kmdf/1.33 under --wdf {a.wdf}")
    res_dir = subprocess.run([CLANG, "-print-resource-dir"], capture_output=True, text=True).stdout.strip()
    env = Env(a.samples.resolve(), a.wdk.resolve(), a.wdf.resolve(), a.out.resolve(),
              Path(res_dir) / "include", wdk_inc.parent.parent, kmdf_inc)
    (env.out / "drivers").mkdir(parents=True, exist_ok=True)
    (env.out / "stubs").mkdir(parents=True, exist_ok=True)
    src_link = env.out / "source"
    if not src_link.exists():
        src_link.mkdir()
        for n, p in (("samples", env.samples), ("wdk", env.wdk), ("wdf", env.wdf)):
            (src_link / n).symlink_to(p)

    t0 = time.time()
    drivers, libraries = discover(env.samples, env.wdk)
    if a.only:
        drivers = [d for d in drivers if re.search(a.only, d.name)]
    log(f"windows_samples: {len(drivers)} kernel driver projects "
        f"({sum(d.origin == 'sdv71' for d in drivers)} WDK 7.1 SDV fail drivers)")
    results = []
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for i, proj in enumerate(drivers, 1):
            r = build_project(env, proj, libraries, pool)
            results.append(r)
            what = f"built ({r.setup}, {r.units} units)" if r.status == "built" else f"skipped: {r.reason}"
            log(f"[{i}/{len(drivers)}] {proj.name}: {what}")
    built = [r for r in results if r.status == "built"]
    summary = {
        "projects": len(results), "built": len(built), "skipped": len(results) - len(built),
        "seconds": round(time.time() - t0, 1),
        "drivers": [r.__dict__ for r in results],
    }
    if not a.only:
        # A full run owns OUT/drivers: drop drivers a previous run built that no longer build.
        names = {r.name for r in built}
        for d in (env.out / "drivers").iterdir():
            if d.name not in names:
                shutil.rmtree(d)
        (env.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        (env.out / "skipped.txt").write_text("".join(f"{r.name}\t{r.reason}\n" for r in results
                                                      if r.status != "built"))
    log(f"windows_samples: built {len(built)} of {len(results)} driver projects in "
        f"{summary['seconds']} s; {len(results) - len(built)} skipped (OUT/skipped.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
