"""Benchmark 9, the fleet on X's limits: workers sharing budgets on Redis.

X's published per-user limits divided by ``divisor`` (and the per-app 24-hour caps
likewise), time-scaled so that a 15-minute window lasts a few seconds; the emulator
runs in its own process (as in benchmark 8) with one user per account, all of one
app, and a real Redis (``bulkup.testing.redis_server``) holds the queue and the
budgets, emptied before each run. Every run is real processes: ``bulkup submit``
once, then ``bulkup worker --exit-when-idle`` x k at once.

1. *One account*: images sized to whole windows (one-shot beside chunked, as
   benchmark 8's images corpus), uploaded by 1, 2 and 4 workers. Their windows (the
   emulator's ``rate_windows``) against :func:`bulkup.core.budget.lower_bound`, 429s.
2. *Independent*: the same corpus split in 4 (``--shard I/4``), uploaded by 4
   ``bulkup upload`` processes at once without ``--budget``: their 429s.
3. *Accounts*: 4 workers, the corpus spread over 1, 2 and 4 accounts (manifest
   ``account`` field, ``[accounts.NAME]`` tables): items per simulated hour, from
   the first window opened to the end of the last.
4. *App cap*: the app's 24-hour caps set below what the items need (the day lasts
   longer than the run): every item ends succeeded, or skipped ``rate_capped`` with
   its ``retry_after``, or is still in the queue: none lost.

Every media id reported succeeded is checked SHA-256-exact against its file.

    python benchmarks/fleet.py             # full size: 960 images, 3 s windows
    python benchmarks/fleet.py --small     # 48 images, 1.5 s windows, 1-2 workers
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._fleet_runs import (
    accounts_config,
    at_once,
    bulkup,
    cli,
    submit_and_work,
    toml_lines,
    user,
    with_accounts,
)
from benchmarks._harness import (
    FIGURE_HEADER,
    byte_exact,
    emulator,
    figure_row,
    inspect,
    met,
    upload_command,
    upload_env,
    wire_profile,
    write_json,
)
from benchmarks.budget_day import Corpus, write_corpus
from bulkup.core import spec
from bulkup.core.budget import PUBLISHED, lower_bound
from bulkup.testing.redis_server import RedisServer

TARGET_OF_BOUND = 0.95
#: Throughput with n accounts against n x one account's.
TARGET_SCALING = 0.9


@dataclass(frozen=True, slots=True)
class Scale:
    #: Whole windows of one account's budget (one-shot beside chunked) in the corpus.
    windows: int = 20
    divisor: int = 50
    #: 15 minutes last 3 s; the app's day 288 s.
    time_scale: float = 300.0
    #: Each process's --concurrency and --files-in-flight: 4 processes x 2 stay within
    #: the scaled one-shot limit (10), as 4 x 16 (the defaults) do within X's 500.
    in_flight: int = 2
    workers: tuple[int, ...] = (1, 2, 4)
    accounts: tuple[int, ...] = (1, 2, 4)
    #: App cap run: accounts, and the cap as a share of what the items need.
    capped_accounts: int = 2
    cap_share: float = 0.5

    def limits(self) -> dict[str, int]:
        return {e: math.ceil(n / self.divisor) for e, n in PUBLISHED.items()}

    def app_caps(self) -> dict[str, int]:
        return {e: math.ceil(n / self.divisor) for e, n in spec.APP_RATE_LIMITS_24H.items()}

    @property
    def images(self) -> int:
        per_window = self.limits()["upload"] + self.limits()["initialize"]
        return self.windows * per_window

    @property
    def window_secs(self) -> float:
        return spec.RATE_WINDOW_SECS / self.time_scale

    def pace(self) -> list[str]:
        n = str(self.in_flight)
        return ["--concurrency", n, "--files-in-flight", n]


FULL = Scale()
SMALL = Scale(windows=1, time_scale=600.0, workers=(1, 2), accounts=(1, 2))


def profile(scale: Scale, app_caps: dict[str, int]) -> str:
    per_window = "\n".join(f"{e} = {n}" for e, n in scale.limits().items())
    per_day = "\n".join(f"{e} = {n}" for e, n in app_caps.items())
    limits = (
        f"enabled = true\ntime_scale = {scale.time_scale}\n"
        f"[limits.per_window]\n{per_window}\n[limits.app_per_day]\n{per_day}"
    )
    users = "".join(f"\n[[users]]\n{toml_lines(user(n))}" for n in range(max(scale.accounts)))
    return wire_profile(limits=limits, more=users)


# --- what a run measured ---------------------------------------------------------------
def windows_by_user(stats: Any) -> dict[str, int]:
    """Per user, the windows opened: the most any endpoint opened."""
    counts: dict[str, dict[str, int]] = {}
    for endpoint, opened in stats["rate_windows"].items():
        for w in opened:
            by_endpoint = counts.setdefault(w["user_id"], {})
            by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + 1
    return {uid: max(n.values()) for uid, n in counts.items()}


def span_windows(stats: Any, scale: Scale) -> float:
    """From the first window opened to the end of the last, in window lengths."""
    starts = [w["start"] for opened in stats["rate_windows"].values() for w in opened]
    return (max(starts) - min(starts)) / scale.window_secs + 1 if starts else 0.0


def too_many(stats: Any) -> int:
    return sum(n.get("429", 0) for n in stats["requests"].values())


def exactness(url: str, lines: list[dict[str, Any]]) -> dict[str, int]:
    pairs = [(x["media_id_string"], Path(x["path"])) for x in lines if x["status"] == "succeeded"]
    found = byte_exact(url, pairs)
    return {"checked": found["checked"], "mismatched": len(found["mismatched"])}


def by_status(lines: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        kind = (line.get("error") or {}).get("kind")
        key = line["status"] + (f" ({kind})" if kind else "")
        counts[key] = counts.get(key, 0) + 1
    return counts


# --- the four parts --------------------------------------------------------------------
def one_account(scale: Scale, corpus: Corpus, redis: RedisServer) -> list[dict[str, Any]]:
    """1, 2 and 4 workers sharing one account: windows against the bound, 429s."""
    bound = lower_bound(corpus.workload, scale.limits())
    runs = []
    for count in scale.workers:
        with emulator(profile(scale, scale.app_caps())) as url:
            run, lines, _ = submit_and_work(redis, url, corpus.manifest, count, scale.pace())
            stats, exact = inspect(url, "stats"), exactness(url, lines)
        windows = max(windows_by_user(stats).values(), default=0)
        runs.append(
            {
                "workers": count,
                "items": by_status(lines),
                "windows": windows,
                "bound_windows": bound.windows,
                "of_bound": round(bound.windows / windows, 3) if windows else 0.0,
                "wall_windows": round(run["seconds"] / scale.window_secs, 2),
                "responses_429": too_many(stats),
                "seconds": round(run["seconds"], 2),
                "byte_exact": exact,
            }
        )
    return runs


def independent(scale: Scale, corpus: Corpus, folder: Path, parts: int = 4) -> dict[str, Any]:
    """``parts`` ``bulkup upload --shard I/N`` processes at once, no shared budget."""
    reports = [folder / f"shard-{i}.jsonl" for i in range(1, parts + 1)]
    with emulator(profile(scale, scale.app_caps())) as url:
        args = [str(corpus.manifest), "--no-preflight", *scale.pace(), "--report"]
        shards = [["--shard", f"{i}/{parts}"] for i in range(1, parts + 1)]
        commands = [
            upload_command(url, [*args, str(r), *s]) for r, s in zip(reports, shards, strict=True)
        ]
        run = at_once(commands, upload_env())
        lines = [json.loads(x) for r in reports if r.exists() for x in r.read_text().splitlines()]
        stats, exact = inspect(url, "stats"), exactness(url, lines)
    windows = max(windows_by_user(stats).values(), default=0)
    bound = lower_bound(corpus.workload, scale.limits())
    return {
        "processes": parts,
        "exits": run["exits"],
        "items": by_status(lines),
        "windows": windows,
        "bound_windows": bound.windows,
        "of_bound": round(bound.windows / windows, 3) if windows else 0.0,
        "responses_429": too_many(stats),
        "seconds": round(run["seconds"], 2),
        "byte_exact": exact,
    }


def accounts(
    scale: Scale, corpus: Corpus, redis: RedisServer, folder: Path
) -> list[dict[str, Any]]:
    """4 workers, the items spread over 1, 2 and 4 accounts: items per simulated hour."""
    runs = []
    for count in scale.accounts:
        manifest = with_accounts(corpus, folder, count)
        config = ["--config", str(accounts_config(folder, count)), *scale.pace()]
        with emulator(profile(scale, scale.app_caps())) as url:
            run, lines, _ = submit_and_work(redis, url, manifest, max(scale.workers), config)
            stats, exact = inspect(url, "stats"), exactness(url, lines)
        done = sum(1 for x in lines if x["status"] == "succeeded")
        span = span_windows(stats, scale)
        runs.append(
            {
                "accounts": count,
                "items": by_status(lines),
                "windows_by_account": sorted(windows_by_user(stats).values()),
                "span_windows": round(span, 2),
                "items_per_sim_hour": round(done / (span / 4), 1) if span else 0.0,
                "responses_429": too_many(stats),
                "seconds": round(run["seconds"], 2),
                "byte_exact": exact,
            }
        )
    one = runs[0]["items_per_sim_hour"] or 1.0
    for r in runs:
        r["vs_one_account"] = round(r["items_per_sim_hour"] / one, 2)
    return runs


def capped_caps(scale: Scale, corpus: Corpus) -> dict[str, int]:
    """The app's 24-hour caps at ``cap_share`` of what the best split needs."""
    need = lower_bound(corpus.workload, scale.limits()).counts
    caps = dict(scale.app_caps())
    for endpoint in ("upload", "initialize", "append", "finalize"):
        caps[endpoint] = max(1, math.floor(need.get(endpoint, 0) * scale.cap_share))
    return caps


def app_cap(scale: Scale, corpus: Corpus, redis: RedisServer, folder: Path) -> dict[str, Any]:
    """Several accounts' workers meet the app's 24-hour cap: none lost."""
    count, caps = scale.capped_accounts, capped_caps(scale, corpus)
    manifest = with_accounts(corpus, folder, count)
    extra = ["--config", str(accounts_config(folder, count)), "--max-wait", "30", *scale.pace()]
    with emulator(profile(scale, caps)) as url:
        run, lines, job = submit_and_work(redis, url, manifest, max(scale.workers), extra)
        stats, exact = inspect(url, "stats"), exactness(url, lines)
        status = json.loads(cli(bulkup("status", "--queue", redis.url, "--job", job, "--json")))
    capped = [x for x in lines if (x.get("error") or {}).get("kind") == "rate_capped"]
    submitted = corpus.workload.images
    return {
        "accounts": count,
        "app_caps": {e: caps[e] for e in ("upload", "initialize")},
        "day_secs": round(spec.APP_RATE_WINDOW_SECS / scale.time_scale, 1),
        "submitted": submitted,
        "items": by_status(lines),
        "succeeded": sum(1 for x in lines if x["status"] == "succeeded"),
        "rate_capped": len(capped),
        "rate_capped_with_retry_after": sum(1 for x in capped if x.get("retry_after")),
        "in_queue": submitted - len(lines),
        "status": status,
        "responses_429": too_many(stats),
        "app_windows": stats.get("app_windows"),
        "seconds": round(run["seconds"], 2),
        "byte_exact": exact,
    }


# --- figures ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="1 window of images, 1.5 s windows")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    parser.add_argument("--divisor", type=int, help="X's limits divided by (default: 50)")
    parser.add_argument(
        "--in-flight", type=int, help="each process's --concurrency and --files-in-flight (2)"
    )
    args = parser.parse_args(argv)
    scale = SMALL if args.small else FULL
    if args.divisor is not None or args.in_flight is not None:
        divisor, in_flight = args.divisor or scale.divisor, args.in_flight or scale.in_flight
        scale = dataclasses.replace(scale, divisor=divisor, in_flight=in_flight)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        folder = Path(tmp)
        corpus = write_corpus(folder / "images", "images", scale.images, 0, 0)
        result = {
            "time_scale": scale.time_scale,
            "limits_divisor": scale.divisor,
            "window_secs": round(scale.window_secs, 3),
            "workload": corpus.describe(),
            "one_account": one_account(scale, corpus, redis),
            "independent": independent(scale, corpus, folder),
            "accounts": accounts(scale, corpus, redis, folder),
            "app_cap": app_cap(scale, corpus, redis, folder),
        }
    result.update(verdict(result))
    print_table(result)
    write_json(args.json, result)
    return result


def verdict(r: dict[str, Any]) -> dict[str, Any]:
    shared = r["one_account"]
    least = min(x["of_bound"] for x in shared)
    refused = sum(x["responses_429"] for x in shared)
    scaling = min(x["vs_one_account"] / x["accounts"] for x in r["accounts"])
    cap = r["app_cap"]
    lost = cap["submitted"] - cap["succeeded"] - cap["rate_capped"] - cap["in_queue"]
    mismatched = sum(x["byte_exact"]["mismatched"] for x in [*shared, *r["accounts"], cap])
    meets = least >= TARGET_OF_BOUND and refused == 0 and scaling >= TARGET_SCALING
    meets = meets and lost == 0 and mismatched == 0
    return {
        "least_of_bound": least,
        "shared_429": refused,
        "least_scaling": round(scaling, 3),
        "app_cap_lost": lost,
        "mismatched": mismatched,
        "meets_targets": meets,
    }


def print_table(r: dict[str, Any]) -> None:
    print(
        f"the fleet on X's limits: time scale {r['time_scale']} "
        f"({r['window_secs']} s windows), limits / {r['limits_divisor']}, "
        f"{r['workload']['images']} images"
    )
    print(f"{'one account':<30}{'windows':>8}{'bound':>8}{'429s':>8}{'seconds':>9}")
    rows = [(f"{x['workers']} worker(s), shared budget", x) for x in r["one_account"]]
    ind = r["independent"]
    for label, x in [*rows, (f"{ind['processes']} uploads, no budget", ind)]:
        print(
            f"{label:<30}{x['windows']:>8}{x['bound_windows']:>8}"
            f"{x['responses_429']:>8}{x['seconds']:>9}"
        )
    print(f"{'4 workers over':<30}{'items/sim h':>12}{'x 1 acct':>9}{'429s':>6}  windows")
    for x in r["accounts"]:
        print(
            f"{str(x['accounts']) + ' account(s)':<30}{x['items_per_sim_hour']:>12}"
            f"{x['vs_one_account']:>9}{x['responses_429']:>6}  {x['windows_by_account']}"
        )
    cap = r["app_cap"]
    print(
        f"app cap (upload {cap['app_caps']['upload']}, initialize "
        f"{cap['app_caps']['initialize']} a day of {cap['day_secs']} s), "
        f"{cap['accounts']} accounts:\n  {cap['submitted']} submitted, {cap['succeeded']} "
        f"succeeded, {cap['rate_capped']} rate_capped ({cap['rate_capped_with_retry_after']} "
        f"with retry_after), {cap['in_queue']} in the queue, {r['app_cap_lost']} lost"
    )
    print_figures(r)


def print_figures(r: dict[str, Any]) -> None:
    print(FIGURE_HEADER)
    for x in r["one_account"]:
        label = f"{x['workers']} worker(s): windows / bound"
        print(figure_row(label, x["of_bound"], f">= {TARGET_OF_BOUND}", met(x["of_bound"], 0.95)))
    refused = r["shared_429"]
    print(figure_row("shared budget: 429 responses", refused, "= 0", met(refused, 0, at_most=True)))
    ind = r["independent"]["responses_429"]
    print(figure_row("4 uploads, no budget: 429 responses", ind, "> 0", met(ind, 1)))
    for x in r["accounts"][1:]:
        target = round(TARGET_SCALING * x["accounts"], 2)
        label = f"{x['accounts']} accounts: x one account"
        print(
            figure_row(label, x["vs_one_account"], f">= {target}", met(x["vs_one_account"], target))
        )
    lost = r["app_cap_lost"]
    print(figure_row("app cap: items lost", lost, "= 0", met(lost, 0, at_most=True)))
    print(
        figure_row(
            "byte-exact: mismatched", r["mismatched"], "= 0", met(r["mismatched"], 0, at_most=True)
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
