"""`weijian kb import FILE | export | search "问题" [--k 5] [--json]` against the configured database."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from case_core.db import make_engine, make_sessionmaker
from case_core.domain.errors import CaseError
from case_core.settings import Settings
from case_core.timeutil import utcnow
from knowledge_base import dense, service
from knowledge_base.runtime import KnowledgeBase
from knowledge_base.yamlio import dump_rasa, dump_seed, parse


def add_parser(sub: Any) -> None:
    kb = sub.add_parser("kb", help="knowledge base: import, export, search")
    kbsub = kb.add_subparsers(dest="kb_command", required=True)
    imp = kbsub.add_parser("import", help="import a YAML file (seed format or Rasa faq/<key>)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--draft", action="store_true", help="import as drafts for review instead of publishing")
    exp = kbsub.add_parser("export", help="export published entries as YAML")
    exp.add_argument("--format", choices=("seed", "rasa"), default="seed")
    exp.add_argument("-o", "--output", type=Path)
    search = kbsub.add_parser("search", help="ranked published entries for a question")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5)
    search.add_argument("--json", action="store_true")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)
    try:
        if args.kb_command == "import":
            kb_file = parse(args.file.read_text(encoding="utf-8"))

            def progress(n: int, total: int) -> None:
                if n == total or n % 50 == 0:
                    print(f"\r{n}/{total}", end="" if n < total else "\n", file=sys.stderr, flush=True)

            async with sessions() as session, session.begin():
                report = await service.import_file(
                    session, kb_file, utcnow(), publish=not args.draft, progress=progress
                )
            print(json.dumps(report, ensure_ascii=False))
        elif args.kb_command == "export":
            async with sessions() as session:
                entries = await service.export_entries(session)
                text = (
                    dump_rasa(entries) if args.format == "rasa" else dump_seed(entries, await service.synonyms(session))
                )
            if args.output:
                args.output.write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
        elif args.kb_command == "search":
            kb = KnowledgeBase(dense.from_settings(settings))
            async with sessions() as session:
                await kb.load(session)
            hits = kb.search(args.query, max(1, min(args.k, 50)))
            if args.json:
                print(
                    json.dumps(
                        {"results": [{"id": h.key, "question": h.question, "score": h.score} for h in hits]},
                        ensure_ascii=False,
                    )
                )
            else:
                for h in hits:
                    print(f"{h.score:.3f}  {h.key}  {h.question}")
    finally:
        await engine.dispose()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except dense.EmbedModelError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except CaseError as exc:
        print(
            json.dumps(
                {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}, ensure_ascii=False
            ),
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
