"""Command line inspection.

    python -m core inspect PATH... [--conf C] [--json]

PATH may be image files or folders (searched recursively). With ``--json`` one JSON list is
printed: one entry per file, ``{image, error}`` for a file that could not be inspected. The exit
code is nonzero only when no image at all could be inspected.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.images import ImageLoadError, load_image
from core.settings import Settings


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; folders replaced by the files under them, sorted. Hidden files skipped."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def inspect_command(args: argparse.Namespace) -> int:
    from core.pipeline import Inspector

    settings = Settings.from_env(detector_conf=args.conf)
    inspector = Inspector.from_settings(settings)
    results = []
    inspected = 0
    for path in expand_paths(args.paths):
        try:
            image = load_image(path, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes)
        except ImageLoadError as exc:
            results.append({"image": str(path), "error": str(exc)})
            continue
        inspection = inspector.inspect(image)
        inspected += 1
        results.append({"image": str(path), **inspection.as_dict()})
        if not args.json:
            _print_human(str(path), inspection)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for entry in results:
            if "error" in entry:
                print(f"{entry['image']}: error: {entry['error']}", file=sys.stderr)
    if inspected == 0:
        print("no image could be inspected", file=sys.stderr)
        return 1
    return 0


def _print_human(name: str, inspection) -> None:
    print(
        f"{name} ({inspection.width}x{inspection.height}), {len(inspection.findings)} objects, "
        f"{inspection.timings_ms['total']:.0f} ms"
    )
    for f in inspection.findings:
        probs = ", ".join(f"{k} {v:.2f}" for k, v in f.condition_probs.items())
        print(f"  {f.object_type:<12} {f.condition:<8} ({probs})  det {f.confidence:.2f}  {f.context.describe()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core")
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="inspect slope photos")
    inspect.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    inspect.add_argument("--conf", type=float, default=None, help="detector confidence threshold")
    inspect.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    return inspect_command(args)


if __name__ == "__main__":
    sys.exit(main())
