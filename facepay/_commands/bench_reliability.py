"""``facepay bench faults|crash|load|fuzz``: the proofs of issue 6 at full size.

Each prints one JSON document (``--json``) or a short summary, and exits 1 when the
guarantee it checks did not hold (a double, lost or silent charge, an unresolved
checkout, a 5xx, a crash). docs/reliability.md records the last measured figures.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from facepay._commands._numbers import at_least, bench_database, positive, share

__all__ = ["register"]

_DB_HELP = "sqlite (a temporary file), postgres (a throwaway local cluster) or a postgresql:// DSN"


def register(subparsers: Any, group_parser: argparse.ArgumentParser | None) -> None:
    from facepay.cli import add_json_flag

    faults = subparsers.add_parser(
        "faults",
        help="checkouts through a wire that drops, delays, resets, duplicates and 5xxs; "
        "then audit the ledger for double and lost charges",
    )
    faults.add_argument("--checkouts", type=at_least(1), default=1000)
    faults.add_argument("--fault-rate", type=share, default=0.3, help="share of requests faulted")
    faults.add_argument("--db", type=bench_database, default="sqlite", help=_DB_HELP)
    faults.add_argument("--tills", type=at_least(1), default=4, help="concurrent tills (devices)")
    faults.add_argument("--shoppers", type=at_least(1), default=50)
    faults.add_argument(
        "--client-attempts",
        type=at_least(1),
        default=2,
        help="attempts per call inside the client before the till must reconcile",
    )
    faults.add_argument(
        "--tcp-cut-rate",
        type=share,
        default=0.0,
        help="also relay through a loopback TCP proxy that cuts this share of chunks mid-stream",
    )
    faults.add_argument("--seed", type=int, default=0)
    add_json_flag(faults)
    faults.set_defaults(handler=_faults)

    crash = subparsers.add_parser(
        "crash",
        help="checkouts while 'facepay sandbox serve' is SIGKILLed and restarted; audit the ledger",
    )
    crash.add_argument("--checkouts", type=at_least(1), default=300)
    crash.add_argument("--kills", type=at_least(0), default=5)
    crash.add_argument("--db", type=bench_database, default="sqlite", help=_DB_HELP)
    crash.add_argument("--tills", type=at_least(1), default=4)
    crash.add_argument("--shoppers", type=at_least(1), default=30)
    crash.add_argument("--seed", type=int, default=0)
    add_json_flag(crash)
    crash.set_defaults(handler=_crash)

    load = subparsers.add_parser(
        "load", help="concurrent tills against a backend process: authorize rate, p50/p99, errors"
    )
    load.add_argument("--clients", type=at_least(1), default=32)
    load.add_argument("--duration", type=positive, default=20.0, help="seconds of measured load")
    load.add_argument("--shoppers", type=at_least(1), default=200)
    load.add_argument("--db", type=bench_database, default="sqlite", help=_DB_HELP)
    load.add_argument("--seed", type=int, default=0)
    add_json_flag(load)
    load.set_defaults(handler=_load)

    memory = subparsers.add_parser(
        "memory", help="resident memory of the backend's 1:N gallery at N enrolled templates"
    )
    memory.add_argument("--templates", type=at_least(1), default=1_000_000)
    add_json_flag(memory)
    memory.set_defaults(handler=_memory)

    fuzz = subparsers.add_parser(
        "fuzz", help="requests generated from the served OpenAPI document: no 5xx, no crash"
    )
    fuzz.add_argument("--cases", type=at_least(1), default=10_000)
    fuzz.add_argument("--db", type=bench_database, default="sqlite", help=_DB_HELP)
    fuzz.add_argument("--seed", type=int, default=0)
    add_json_flag(fuzz)
    fuzz.set_defaults(handler=_fuzz)


def _ticker(total: int, desc: str) -> Any:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=None, leave=False)
    return bar, (lambda: bar.update(1))


def _finish(args: argparse.Namespace, result: dict[str, Any], human: str) -> int:
    from facepay.cli import emit

    emit(args, result, lambda r: human)
    return 0 if result.get("ok") else 1


def _audit_summary(r: dict[str, Any]) -> str:
    """The ledger audit's verdict, as the fault and crash runs print it for a person."""
    return (
        f"double {r['double_charges']}, lost {r['lost_charges']}, silent "
        f"{r['silent_charges']}, unresolved {r['unresolved']} -> " + ("OK" if r["ok"] else "FAILED")
    )


def _faults(args: argparse.Namespace) -> int:
    from facepay.eval._proof_runs import fault_run

    bar, tick = _ticker(args.checkouts, "checkouts")
    with bar:
        r = fault_run(
            db=args.db,
            checkouts=args.checkouts,
            fault_rate=args.fault_rate,
            seed=args.seed,
            tills=args.tills,
            shoppers=args.shoppers,
            client_attempts=args.client_attempts,
            tcp_cut_rate=args.tcp_cut_rate,
            progress=tick,
        )
    human = (
        f"{r['checkouts']} checkouts on {r['db']}, {r['wire']['faulted']} of "
        f"{r['wire']['requests']} requests faulted: {r['outcomes']}; "
        f"{r['unknown_then_reconciled']} unknown then reconciled; " + _audit_summary(r)
    )
    return _finish(args, r, human)


def _crash(args: argparse.Namespace) -> int:
    from facepay.eval._proof_runs import crash_run

    bar, tick = _ticker(args.checkouts, "checkouts")
    with bar:
        r = crash_run(
            db=args.db,
            checkouts=args.checkouts,
            kills=args.kills,
            seed=args.seed,
            tills=args.tills,
            shoppers=args.shoppers,
            progress=tick,
        )
    human = (
        f"{r['checkouts']} checkouts on {r['db']} with {r['sigkills']} SIGKILLs: "
        f"{r['outcomes']}; {r['unknown_then_reconciled']} unknown then reconciled; "
        + _audit_summary(r)
    )
    return _finish(args, r, human)


def _load(args: argparse.Namespace) -> int:
    from facepay.eval._proof_runs import load_run

    r = load_run(
        db=args.db,
        clients=args.clients,
        duration_s=args.duration,
        shoppers=args.shoppers,
        seed=args.seed,
    )
    human = (
        f"{r['clients']} tills on {r['db']} for {r['duration_s']} s: "
        f"{r['authorize_per_s']} authorizations/s, p50 {r['authorize_p50_ms']} ms, "
        f"p99 {r['authorize_p99_ms']} ms, error rate {r['error_rate']}, backend RSS "
        f"{r['backend_rss_mb_after']} MB"
    )
    return _finish(args, r, human)


def _fuzz(args: argparse.Namespace) -> int:
    from facepay.eval._proof_runs import fuzz_run

    bar, tick = _ticker(args.cases, "cases")
    with bar:
        r = fuzz_run(cases=args.cases, seed=args.seed, db=args.db, progress=tick)
    human = (
        f"{r['cases']} generated requests on {r['db']}: statuses {r['statuses']}, "
        f"5xx {r['five_xx']}, transport errors {len(r['transport_errors'])}, healthy after: "
        f"{r['healthy_after']} -> " + ("OK" if r["ok"] else "FAILED")
    )
    return _finish(args, r, human)


def _memory(args: argparse.Namespace) -> int:
    from facepay.eval._proof_runs import memory_run

    r = memory_run(templates=args.templates)
    human = (
        f"{r['templates']} templates: gallery {r['gallery_rss_mb']} MB resident "
        f"({r['bytes_per_template']} bytes each), peak growth {r['peak_rss_growth_mb']} MB"
    )
    return _finish(args, r, human)
