"""A corpus driver's extra `lockcheck check` arguments (LAYOUT: one per line
in OUT/drivers/<driver>/lockcheck.args), shared by run.py and mutate.py."""

from pathlib import Path


def driver_args(directory: Path, entries: bool = True) -> list[str]:
    """The driver's lockcheck.args; without `entries`, less its `--entry NAME`
    pairs (the callbacks a corpus script found), which leaves what lockcheck
    finds by default with the corpus's rule pack."""
    args_file = directory / "lockcheck.args"
    if not args_file.exists():
        return []
    args = [line.strip() for line in args_file.read_text().splitlines() if line.strip()]
    if entries:
        return args
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--entry":
            skip = True
        elif not arg.startswith("--entry="):
            kept.append(arg)
    return kept
