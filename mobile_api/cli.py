"""The `weijian` command: migrate, demo, serve, ocr (inspect, worker), kb (import/export/search), bot (evaluate),
staff (accounts)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot import cli as bot_cli
from case_core.db import make_engine, make_sessionmaker
from case_core.settings import Settings
from knowledge_base import cli as kb_cli
from mobile_api import staff_cli
from notifiers import cli as notify_cli


def _migrate(settings: Settings) -> None:
    from migrations import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)


async def _demo(settings: Settings) -> dict:
    from mobile_api.demo import load_demo

    engine = make_engine(settings.resolved_database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await load_demo(session, settings)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="weijian", description="卫健政务服务平台 backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("demo", help="load the demo catalogue, calendar and staff accounts (idempotent)")
    serve = sub.add_parser("serve", help="run the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    from ocr import cli as ocr_cli

    ocr_cli.add_parser(sub)
    kb_cli.add_parser(sub)
    bot_cli.add_parser(sub)
    notify_cli.add_parser(sub)
    staff_cli.add_parser(sub)
    args = parser.parse_args(argv)
    settings = Settings()

    if args.command == "ocr":
        return ocr_cli.run(args, settings)
    if args.command == "kb":
        return kb_cli.run(args, settings)
    if args.command == "bot":
        return bot_cli.run(args, settings)
    if args.command == "staff":
        return staff_cli.run(args, settings)

    if args.command == "migrate":
        _migrate(settings)
        print("database is up to date")
    elif args.command == "demo":
        settings.ensure_secret()
        _migrate(settings)
        report = asyncio.run(_demo(settings))
        password = report.pop("password")
        print(json.dumps(report, ensure_ascii=False))
        if report["staff_created"]:
            shown = password or "(WEIJIAN_DEMO_PASSWORD)"
            print(f"demo staff: {', '.join(report['staff_created'])}  password: {shown}")
            if password:
                print("The password is shown only now; set WEIJIAN_DEMO_PASSWORD to choose it.")
        else:
            print("demo staff already exist; nothing changed")
    elif args.command == "serve":
        import uvicorn

        _migrate(settings)
        settings.resolved_secret  # noqa: B018  (fail early, before workers start, when there is no key)
        from knowledge_base import dense

        try:  # fail early too on an embedding model that will not load (each worker loads its own)
            dense.from_settings(settings)
        except dense.EmbedModelError as exc:
            print(exc, file=sys.stderr)
            return 2
        uvicorn.run(
            "mobile_api.main:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            log_level="info",
        )
    elif args.command in ("scheduler", "dispatch"):
        _migrate(settings)
        notify_cli.run(args, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
