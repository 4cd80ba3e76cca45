"""``main.py models``: list, verify, download, import and allow the neural models.

A model whose part exists only as a pickle needs the artist's permission once: on a terminal
``download`` and ``import`` ask, elsewhere ``--allow-pickle`` gives it, and ``allow`` gives or
(``--revoke``) takes it back. The store remembers it per model. A licence with terms beyond a
permissive one is printed before the download starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.storage.models import ConsentNeeded, ModelStatus, ModelStore, human_size
from engine.storage.paths import DataDir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="list, verify, download or import the neural models")
    verbs = models.add_subparsers(dest="verb", parser_class=parser_class, required=True)
    verbs.add_parser("list", help="every known model: state, size, folder, licence") \
        .add_argument("--json", action="store_true")
    verify = verbs.add_parser("verify", help="check model files (exit 1 if one is unusable)")
    verify.add_argument("ids", nargs="*", metavar="ID", help="model ids (default: all)")
    verify.add_argument("--json", action="store_true")
    download = verbs.add_parser("download", help="fetch a model's files from the Hugging Face hub")
    download.add_argument("id", metavar="ID", help="a model id or hub id, e.g. hunyuan3d-2mini")
    imported = verbs.add_parser("import", help="use a model folder downloaded elsewhere")
    imported.add_argument("id", metavar="ID", help="the model it holds, e.g. shap-e")
    imported.add_argument("folder", type=Path, metavar="FOLDER",
                          help="the folder (or a Hugging Face cache entry models--org--name)")
    for verb in (download, imported):
        verb.add_argument("--allow-pickle", action="store_true",
                          help="allow this model's pickle parts (they can run code when loaded)")
    allow = verbs.add_parser("allow", help="allow a model's pickle parts (remembered)")
    allow.add_argument("id", metavar="ID", help="a model id, hub id or model folder")
    allow.add_argument("--revoke", action="store_true", help="take the permission back")


def run(args: argparse.Namespace, ask: Callable[[str], bool] | None = None) -> int:
    store = ModelStore(DataDir.default().ensure())
    ask = ask or _ask
    if args.verb == "allow":
        store.allow_pickle(args.id, not args.revoke)
        verb = "no longer allowed" if args.revoke else "allowed"
        print(f"Pickle weights are {verb} for {args.id}.")
        return EXIT_OK
    if args.verb in ("download", "import"):
        return _get(store, args, ask)
    ids = getattr(args, "ids", None)
    statuses = [store.status(i) for i in ids] if ids else store.list()
    _show(statuses, args.json)
    usable = all(st.state == "installed" for st in statuses)
    return EXIT_OK if args.verb == "list" or usable else EXIT_FAILED


def _get(store: ModelStore, args: argparse.Namespace, ask: Callable[[str], bool]) -> int:
    info = store.info(args.id)
    if args.verb == "download" and info.licence_terms:
        print(f"meshsmith: {info.name}'s licence: {info.licence_terms} ({info.licence_url})",
              file=sys.stderr)

    def attempt() -> ModelStatus:
        if args.verb == "download":  # tqdm bars on stderr
            return store.download(args.id, allow_pickle=args.allow_pickle)
        return store.import_folder(args.id, args.folder, allow_pickle=args.allow_pickle)

    try:
        status = attempt()
    except ConsentNeeded as needed:
        if not ask(f"{needed.message} Allow it for {info.name}?"):
            raise
        store.allow_pickle(info.id)
        status = attempt()
    if status.state != "installed":
        print(f"meshsmith: {info.hub_id or info.id} was downloaded to {status.folder} but "
              f"cannot be used ({status.problem}).", file=sys.stderr)
        return EXIT_FAILED
    print(status.folder)
    return EXIT_OK


def _ask(question: str) -> bool:
    """On a terminal, a yes/no question on stderr; elsewhere no (the flag says yes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _show(statuses: list[ModelStatus], as_json: bool) -> None:
    if as_json:
        print(json.dumps([status.to_json() for status in statuses]))
        return
    for st in statuses:
        size = human_size(st.size_bytes) if st.folder else "-"
        print(f"{st.info.id:<26} {st.state:<13} {size:>9}  {st.info.licence:<11} "
              f"{st.folder or '-'}")
        if st.problem:
            print(f"{'':<26} {st.problem}")
