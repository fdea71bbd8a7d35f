"""Drive a running reports API on loopback at a fixed rate and report latency and errors.

    bionicpro-api serve --no-access-log &                  # the API under test (same BIONICPRO_DATA_DIR)
    python bench/api_load.py                               # 100 requests/s for 30 s
    python bench/api_load.py --rate 200 --duration 10 --seed 3

The users and months come from reports_db (every user row of a successfully loaded month; reading
them takes a turn on chDB, which the running API hands over). Tokens are minted with the local key
pair (`bionicpro-api mint-token`'s), so the API must be trusting it (no JWKS/PEM configured).
Requests are an even mix of GET /reports/me (own token), /reports/user/{id} (own token) and
/reports/user/{id} (support token) over random (user, month) pairs.

Open loop: request i is due at start + i / rate whatever happened before, and its latency is
measured from when it was due, so a stall shows up in the percentiles instead of slowing the load.
Anything but 200 counts as an error. Loopback only; at most 1,000 requests/s for 300 s.
``--json PATH`` also writes every request (Unix time it was due, latency ms, outcome), so that
a caller can take the percentiles of a window, e.g. while an ETL run works.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PAIRS_SQL = """
SELECT u.user_id, u.user_uuid, formatDateTime(u.report_date, '%Y-%m') AS month
FROM reports_db.report_user_monthly_metrics AS u
WHERE u.report_date IN (
    SELECT report_date FROM reports_db.load_log WHERE status = 'success'
    GROUP BY report_date HAVING countIf(mart = 'user') > 0 AND countIf(mart = 'prosthetic') > 0)
ORDER BY u.report_date, u.user_id
"""


def pairs_from_marts() -> list[tuple[int, str, str]]:
    from bionicpro.db import clickhouse_client
    from bionicpro.settings import get_settings

    with clickhouse_client(get_settings()) as client:
        return [tuple(row) for row in client.query(PAIRS_SQL).result_rows]


def tokens_for(users: dict[int, str], minutes: float) -> tuple[dict[int, str], str]:
    from api.config import get_api_settings, local_keys_dir
    from api.keys import ensure_local_keys, mint_token
    from bionicpro.settings import get_settings

    api = get_api_settings()
    private, _ = ensure_local_keys(local_keys_dir(get_settings()))
    pem = private.read_bytes()

    def mint(subject: str, roles: list[str]) -> str:
        return mint_token(pem, subject=subject, issuer=api.jwt_issuer, audience=api.jwt_audience, roles=roles,
                          minutes=minutes)

    return {user_id: mint(uuid, []) for user_id, uuid in users.items()}, mint("bench-support", ["support"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (<= 1000)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (<= 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=32, help="concurrent requests at most")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the summary and every request (due time, latency, outcome) here")
    args = parser.parse_args(argv)
    if urlsplit(args.base_url).hostname not in LOOPBACK:
        parser.error("--base-url must be on loopback (127.0.0.1, localhost, ::1)")
    if not 0 < args.rate <= 1000 or not 0 < args.duration <= 300:
        parser.error("--rate must be in (0, 1000] and --duration in (0, 300]")

    import httpx

    pairs = pairs_from_marts()
    if not pairs:
        print("no loaded month in reports_db: run the ETL first (bionicpro history)", file=sys.stderr)
        return 2
    months = sorted({month for *_, month in pairs})
    rng = random.Random(args.seed)
    total = int(args.rate * args.duration)
    drawn = [(rng.choice(pairs), rng.randrange(3)) for _ in range(total)]
    # Tokens only for the users drawn (minting one costs ~1 ms: 100,000 users would take minutes).
    own, support = tokens_for({user_id: uuid for (user_id, uuid, _), _kind in drawn}, minutes=args.duration / 60 + 10)
    plan = [("/reports/me" if kind == 0 else f"/reports/user/{user_id}", month, support if kind == 2 else own[user_id])
            for (user_id, _uuid, month), kind in drawn]
    print(f"{len(pairs)} (user, month) pairs: {len({p[0] for p in pairs})} users, {len(months)} months "
          f"({months[0]}..{months[-1]}); {args.rate:g} req/s for {args.duration:g} s against {args.base_url}",
          flush=True)

    # Clients made and connected before the clock starts (making one costs ~20 ms of CPU).
    clients: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(args.workers):
        client = httpx.Client(base_url=args.base_url, timeout=30)
        client.get("/health").raise_for_status()
        clients.put(client)
    latencies: list[float] = []
    samples: list[tuple[float, float, str | int]] = []  # (due, seconds, outcome)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def call(due: float, path: str, month: str, token: str) -> None:
        client = clients.get()
        try:
            response = client.get(path, params={"month": month}, headers={"Authorization": f"Bearer {token}"})
            outcome: str | int = response.status_code
        except httpx.HTTPError as error:
            outcome = type(error).__name__
        finally:
            clients.put(client)
        elapsed = time.perf_counter() - due
        with lock:
            latencies.append(elapsed)
            samples.append((due, elapsed, outcome))
            outcomes[outcome] += 1

    start = time.perf_counter() + 0.1
    epoch = time.time() - time.perf_counter()  # perf_counter -> Unix time, to line requests up with other runs
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for _ in range(args.workers):  # start the threads before the clock, too
            pool.submit(time.sleep, 0)
        for index, (path, month, token) in enumerate(plan):
            due = start + index / args.rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(call, due, path, month, token)
    wall = time.perf_counter() - start
    while not clients.empty():
        clients.get().close()
    with httpx.Client(base_url=args.base_url, timeout=10) as probe:
        turns = probe.get("/health").json().get("chdb_turns")

    latencies.sort()
    errors = sum(count for outcome, count in outcomes.items() if outcome != 200)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(f"sent {len(latencies)} in {wall:.1f} s ({len(latencies) / wall:.1f} req/s); outcomes {dict(outcomes)}")
    print(f"latency ms: p50 {pct(0.50):.2f}  p90 {pct(0.90):.2f}  p99 {pct(0.99):.2f}  max {latencies[-1] * 1000:.2f}  "
          f"mean {statistics.fmean(latencies) * 1000:.2f}")
    print(f"errors: {errors}")
    if turns:
        print(f"API chDB turns so far: {turns}")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "rate": args.rate, "sent": len(latencies), "wall_s": wall, "errors": errors,
            "outcomes": {str(k): v for k, v in outcomes.items()}, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": latencies[-1] * 1000, "chdb_turns": turns,
            "requests": [[epoch + due, seconds * 1000, outcome] for due, seconds, outcome in sorted(samples)]}))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
