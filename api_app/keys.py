"""`python -m api_app.keys create --name N --scopes compute,admin | list | revoke ID`: manage API keys in
DATABASE_URL (brought to the current schema first). `create` prints the new key once, alone on its last line."""

import argparse
import sys
from datetime import UTC, datetime

from api_app.audit.writer import AuditWriter
from api_app.database import make_engine, upgrade_to_head
from api_app.security.keys import InvalidKeyRequest, KeyStore
from common.settings import get_settings

CLI_CALLER = "cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api_app.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated: read, compute, admin")
    create.add_argument("--expires", type=datetime.fromisoformat, help="ISO 8601 expiry (UTC if no zone)")
    create.add_argument("--rate-limit", help="this key's own limit, e.g. 600/minute")
    create.add_argument("--heavy-concurrency", type=int, help="this key's own cap on concurrent heavy work")
    commands.add_parser("list", help="list keys (never the keys themselves)")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    url = settings.effective_database_url
    upgrade_to_head(url)
    engine = make_engine(url)
    store = KeyStore(engine, settings.api_key_cache_seconds)
    audit = AuditWriter(
        engine,
        settings.state_dir / "audit-spool.jsonl",
        settings.audit_flush_seconds,
        settings.audit_retention_days,
    )
    try:
        if args.command == "create":
            expires = args.expires.replace(tzinfo=args.expires.tzinfo or UTC) if args.expires else None
            try:
                info, key = store.create(
                    args.name, args.scopes, expires, args.rate_limit, args.heavy_concurrency
                )
            except InvalidKeyRequest as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            audit.record(
                event="key_created",
                caller=CLI_CALLER,
                caller_kind=CLI_CALLER,
                scope="admin",
                detail=f"key {info.id} ({info.name}) scopes {','.join(info.scopes)}",
            )
            print(
                f"created key {info.id} ({info.name}) with scopes {','.join(info.scopes)}"
                + (f", expires {info.expires_at.isoformat()}" if info.expires_at else "")
            )
            print("store it now: it is shown only once")
            print(key)
        elif args.command == "list":
            for info in store.list():
                state = (
                    "revoked"
                    if info.revoked_at
                    else ("expired" if info.expires_at and info.expires_at <= datetime.now(UTC) else "active")
                )
                print(f"{info.id}  {state:8}  {','.join(info.scopes):20}  {info.name}")
        else:
            revoked = store.revoke(args.key_id)
            if revoked is None:
                print(f"error: no key {args.key_id!r}", file=sys.stderr)
                return 1
            audit.record(
                event="key_revoked",
                caller=CLI_CALLER,
                caller_kind=CLI_CALLER,
                scope="admin",
                detail=f"key {revoked.id} ({revoked.name})",
            )
            print(f"revoked key {revoked.id} ({revoked.name})")
    finally:
        audit.flush()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
