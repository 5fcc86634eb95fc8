"""Rebuild ``tests/data/taskset_reference.json`` from the read-only reference material in ../shared.

The tests check our samplers against configs TaskSet stored (facts, not code), so they need those
configs on every clone; ../shared is not part of the repository. This script copies, unchanged:

- every entry of ``../shared/reference/configs/*.json`` (verbatim entries of TaskSet's
  ``task_set/tasks/configs/<family>.json`` and ``task_set/optimizers/configs/<space>.json``,
  12 per file: seeds 0, 1, 10, 100..108, or 0, 1, 10..19 for adam8p);
- the task names of ``../shared/reference/fixed_task_names.txt`` (109 hand-designed tasks and the
  12 family names);
- the SHA-256 of the published ``opt_list.json``'s configs and source line, so the copy shipped in
  ``data/`` is checked against the published numbers without the 400 KB original.

All 12 entries of each file are kept: they are 62 KB as compact JSON, and fewer would stop the
LOSG check from seeing every problem type. Run from the repository root:

    python tests/data/make_reference_sample.py           # rewrite the file
    python tests/data/make_reference_sample.py --check   # exit 1 if it differs from ../shared
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "taskset_reference.json"
ABOUT = (
    "Configs TaskSet stored (google-research/google-research task_set/tasks/configs and "
    "task_set/optimizers/configs, Apache-2.0), copied unchanged from ../shared/reference by "
    "tests/data/make_reference_sample.py; see tests/data/README.md."
)


def opt_list_digest(lst: dict) -> str:
    """SHA-256 of a list file's ``configs`` and ``source``, as canonical JSON text."""
    text = json.dumps(
        {"configs": lst["configs"], "source": lst["source"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def build(shared: Path) -> str:
    """The file's text: one line per stored config, so a diff names the entry that changed."""
    ref = shared / "reference"
    files = sorted((ref / "configs").glob("*.json"))
    if not files:
        raise SystemExit(f"no reference configs under {ref / 'configs'}")
    names = [n.strip() for n in (ref / "fixed_task_names.txt").read_text().splitlines()]
    opt_list = json.loads((shared / "data" / "opt_list.json").read_text())

    def dump(obj) -> str:
        return json.dumps(obj, separators=(",", ":"))

    lines = ["{", f'"about":{dump(ABOUT)},', '"configs":{']
    for i, path in enumerate(files):
        entries = json.loads(path.read_text())
        lines.append(f"{dump(path.stem)}:{{")
        body = [f"{dump(name)}:{dump(value)}" for name, value in entries.items()]
        lines.append(",\n".join(body))
        lines.append("}" + ("," if i < len(files) - 1 else ""))
    lines.append("},")
    lines.append(f'"fixed_task_names":{dump([n for n in names if n])},')
    lines.append(f'"opt_list_sha256":{dump(opt_list_digest(opt_list))}')
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # well-formed before it is written
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = build(args.shared)
    if args.check:
        same = args.out.is_file() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'differs from ' + str(args.shared)}")
        return 0 if same else 1
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
