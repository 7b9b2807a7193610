"""A discrete-event simulation of one queue's throughput over worker processes and shards.

``python -m benchmarks.scaleout --client-us C --server-us S [--batch B] [--seconds T]``

Each worker process is a single-threaded client that loops: ``C`` µs of its own CPU per
job (decode, run a no-op handler, encode the outcome), then one round trip to a Redis
shard that costs the shard ``S`` µs of its single core per job, for ``B`` jobs at a time
(claims carry ``B`` jobs and their outcomes). With ``K`` shards the queue is partitioned
over ``K`` hash tags and each worker takes its next batch from the shards in turn (a
fair merge); a shard serves the requests waiting for it in arrival order. Worker
processes are assumed to have a core each (the client side scales with machines); the
figures measured on one machine give ``C`` and ``S`` (docs/explanation/performance.md).

Prints jobs per second for 1, 2, 4, 8, 16 and 32 workers against 1, 2, 4 and 8 shards.
"""

from __future__ import annotations

import argparse
import heapq


def simulate(
    workers: int, shards: int, client_us: float, server_us: float, batch: int, seconds: float
) -> float:
    """Jobs per second of ``workers`` clients against ``shards`` single-core servers."""
    horizon = seconds * 1e6
    free_at = [0.0] * shards  # when each shard's core is next free (µs)
    events = [(0.0, w) for w in range(workers)]  # (time the worker sends its request, id)
    turn = list(range(workers))  # each worker's next shard (round-robin, staggered)
    done = 0
    while events:
        t, w = heapq.heappop(events)
        if t > horizon:
            break
        shard = turn[w] % shards
        turn[w] += 1
        start = max(t, free_at[shard])
        free_at[shard] = start + server_us * batch
        done += batch
        # the reply arrives when the shard is done; the client then works on the batch
        heapq.heappush(events, (free_at[shard] + client_us * batch, w))
    return done / seconds


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaleout", description=__doc__)
    parser.add_argument("--client-us", type=float, required=True)
    parser.add_argument("--server-us", type=float, required=True)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    shard_counts = (1, 2, 4, 8)
    print("| workers | " + " | ".join(f"{k} shard(s)" for k in shard_counts) + " |")
    print("|---:|" + "---:|" * len(shard_counts))
    for workers in (1, 2, 4, 8, 16, 32):
        cells = [
            f"{simulate(workers, k, args.client_us, args.server_us, args.batch, args.seconds):,.0f}"
            for k in shard_counts
        ]
        print(f"| {workers} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
