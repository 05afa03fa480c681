"""`organizer sandbox …`: run a simulator of an outside API on loopback."""

from __future__ import annotations

import argparse
import sys
import time

from organizer_pipeline.sandbox import SIMULATORS


def cmd_serve(args: argparse.Namespace) -> int:
    from organizer_pipeline.sandbox.server import serve_forever

    serve_forever(SIMULATORS[args.name].create_app(), args.host, args.port, f"{args.name} simulator")
    return 0


def cmd_hotmart(args: argparse.Namespace) -> int:
    """Post generated Hotmart events to a running receiver (the web app)."""
    import logging

    from organizer_pipeline import settings
    from organizer_pipeline.errors import ConfigError
    from organizer_pipeline.sandbox import hotmart

    if args.events < 0:
        raise ConfigError(
            f"--events must be 0 (endless, paced like a shop) or a positive count, not {args.events}"
        )
    if args.rate < 0:
        raise ConfigError(f"--rate must be 0 (as fast as possible) or events per second, not {args.rate}")
    if not 0 <= args.duplicates <= 1:
        raise ConfigError(f"--duplicates is a probability between 0 and 1, not {args.duplicates}")
    hottok = settings.env("HOTMART_HOTTOK")
    if not hottok:
        raise ConfigError("HOTMART_HOTTOK is not set: the receiver refuses events without it")
    url = args.url or f"http://{settings.env('ORGANIZER_WEB_HOST')}:{settings.env('ORGANIZER_WEB_PORT')}"
    target = url.rstrip("/") + "/webhooks/hotmart"
    log = logging.getLogger("organizer.sandbox.hotmart")

    def progress(event: dict, stats: hotmart.Delivery) -> None:
        if stats.sent % 100 == 0 or args.events == 0:
            log.info(
                "sent %d (accepted %d, duplicates %d, failed %d): %s",
                stats.sent,
                stats.accepted,
                stats.duplicates,
                stats.failed,
                event["event"],
            )

    if args.events > 0:
        events = hotmart.generate(args.events, args.seed, args.duplicates, args.shuffle)
        stats = hotmart.deliver(target, hottok, events, rate=args.rate, on_event=progress)
    else:  # endless, like a shop (the demo of `organizer up`): ~1 min of retries outlives a restart
        traffic = hotmart.shop_traffic(
            args.seed + time.time_ns(),
            per_minute=args.rate * 60 if args.rate else 4.0,
            duplicates=args.duplicates,
            late=0.1 if args.shuffle else 0.0,
        )
        stats = hotmart.deliver_schedule(
            target, hottok, traffic, attempts=10, on_event=progress, stop_when_unreachable=False
        )
    print(
        f"hotmart sandbox: sent {stats.sent} events to {target}: accepted {stats.accepted} "
        f"(of which duplicates {stats.duplicates}), retries {stats.retries}, failed {stats.failed}"
        + (f" (last: {stats.last_error})" if stats.failed and not stats.stopped else "")
    )
    if stats.stopped:
        print(f"hotmart sandbox: stopped: {stats.stopped}", file=sys.stderr)
    return 0 if stats.failed == 0 else 1


def register(commands: argparse._SubParsersAction) -> None:
    sandbox = commands.add_parser("sandbox", help="local simulators of CVDW, OpenRouter, Brevo and Hotmart")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="SIMULATOR")
    serve = actions.add_parser("serve", help="serve one API simulator")
    serve.add_argument("name", choices=sorted(SIMULATORS))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.set_defaults(func=cmd_serve)
    feed = actions.add_parser("hotmart", help="post realistic Hotmart webhook events to the receiver")
    feed.add_argument("--url", default=None, help="web app root (default http://ORGANIZER_WEB_HOST:PORT)")
    feed.add_argument(
        "--events", type=int, default=100, help="how many unique events; 0 = endless, paced like a shop"
    )
    feed.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="events per second (0 = as fast as possible; endless: the mean, plus bursts, default 4/min)",
    )
    feed.add_argument("--duplicates", type=float, default=0.0, help="probability of re-sending an event")
    feed.add_argument("--shuffle", action="store_true", help="deliver out of order (endless: some late)")
    feed.add_argument("--seed", type=int, default=7)
    feed.set_defaults(func=cmd_hotmart)
