"""``python -m benchmarks.per_job_cost WORKLOAD N``: what one Redis job costs, client and server.

Starts its own ``redis-server`` (persistence off, a free loopback port), runs one
workload of ``N`` jobs in this process, and prints the jobs per second, this process's
CPU time per job (``time.process_time``), the server's CPU time per job (``INFO cpu``:
``used_cpu_user + used_cpu_sys`` deltas) and the server's commands per job (``INFO
commandstats`` deltas: calls and microseconds per command). ``docs/explanation/
performance.md`` quotes its figures.

WORKLOAD is one of:

- ``enqueue``: one producer, one ``await enqueue`` per job;
- ``concurrent``: 100 producer tasks enqueueing at once (their calls share round trips);
- ``live``: one group of 10 consumers running while one producer enqueues;
- ``drain``: a backlog of N jobs (stored with ``enqueue_many`` once the group exists)
  drained by that group;
- ``roundtrip``: the floor of one enqueue, N calls each: the enqueue script sent on a
  plain blocking socket (no event loop), the same through the fast client under trio,
  and ``RedisQueue.enqueue``, the last two with ``busy_poll_us`` 0 (sleep in the event
  loop at once) and at its default; microseconds of wall and CPU time per call for each;
- ``wake``: the idle path, N samples: a consumer blocked on a group's wake list
  (``BLPOP``) is woken by one producer's enqueue script, then claims the job with the
  claim script, either sent once the wake's reply is read (two hops, as a waiting worker
  did before wait claims, and does on a Redis Cluster) or sent on the same connection
  right behind the ``BLPOP`` (one hop: the server runs it as soon as the ``BLPOP``
  returns, as a waiting worker does now); microseconds from the enqueue's send to
  the claim's reply, p50 and p99 of each, on plain blocking sockets (no event loop).
"""

from __future__ import annotations

import argparse
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._runner import redis_server

if TYPE_CHECKING:
    from checkqueue_actors import QueueJob

WORKLOADS = ("enqueue", "concurrent", "live", "drain", "roundtrip", "wake")


def _info(port: int, section: str) -> str:
    """``INFO section`` over a plain socket (no client library in the measurement)."""
    payload = f"*2\r\n$4\r\nINFO\r\n${len(section)}\r\n{section}\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)
        buffer = b""
        while True:
            buffer += sock.recv(65536)
            head, _, rest = buffer.partition(b"\r\n")
            size = int(head[1:])
            if len(rest) >= size + 2:
                return rest[:size].decode()


def _commandstats(port: int) -> dict[str, tuple[int, int]]:
    """command -> (calls, microseconds) since the server started."""
    out: dict[str, tuple[int, int]] = {}
    for line in _info(port, "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, values = line.partition(":")
            fields = dict(item.split("=") for item in values.split(","))
            out[name.removeprefix("cmdstat_")] = (int(fields["calls"]), int(fields["usec"]))
    return out


def _server_cpu(port: int) -> float:
    fields = dict(line.split(":", 1) for line in _info(port, "cpu").splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


class _Meter:
    """Client and server counters between ``start`` and ``stop``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._stats: dict[str, tuple[int, int]] = {}
        self._cpu = self._wall = self._process = 0.0

    def start(self) -> None:
        self._stats = _commandstats(self.port)
        self._cpu = _server_cpu(self.port)
        self._wall = time.perf_counter()
        self._process = time.process_time()

    def stop(self, workload: str, n: int) -> None:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._process
        stats, server = _commandstats(self.port), _server_cpu(self.port) - self._cpu
        print(
            f"{workload} n={n}: {n / wall:,.0f} jobs/s, client CPU {cpu / n * 1e6:.1f} us/job, "
            f"server CPU {server / n * 1e6:.1f} us/job"
        )
        calls_total = usec_total = 0
        for name in sorted(stats):
            calls = stats[name][0] - self._stats.get(name, (0, 0))[0]
            usec = stats[name][1] - self._stats.get(name, (0, 0))[1]
            if calls:
                calls_total += calls
                usec_total += usec
                print(
                    f"  {name:<12} calls/job {calls / n:.3f}  usec/job {usec / n:.2f}  "
                    f"usec/call {usec / calls:.2f}"
                )
        print(f"  total calls/job {calls_total / n:.3f} usec/job {usec_total / n:.2f}")


def _per_call(label: str, n: int, wall: float, cpu: float) -> None:
    print(f"{label}: {wall / n * 1e6:.1f} us/call, CPU {cpu / n * 1e6:.1f} us/call")


async def _roundtrip(url: str, n: int) -> None:
    """The enqueue script's round trip three ways (see the module doc)."""
    import hiredis

    from checkqueue_actors._backends.redis._clients import make_script_client
    from checkqueue_actors._backends.redis._scripts import SCRIPTS
    from checkqueue_actors._backends.redis._wire import encode_command
    from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

    host, port = url.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    prefix = f"r{uuid.uuid4().hex[:6]}"
    config = RedisQueueConfig(url=url, key_prefix=prefix, max_queue_size=max(100_000, 3 * n))
    sha = SCRIPTS["enqueue"].sha
    base = f"{prefix}:{{floor}}:"

    def request(i: int, kind: str) -> bytes:
        return encode_command(["EVALSHA", sha, 1, base, f"{kind}{i}", "1", 0, 0, 10**9, ""])

    async with RedisQueue[Any]("floor", config) as queue:  # loads the scripts
        await queue.enqueue(0)
        with socket.create_connection((host, int(port))) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = hiredis.Reader()
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                sock.sendall(request(i, "raw"))
                reply: Any = False
                while reply is False:
                    reader.feed(sock.recv(65536))
                    reply = reader.gets()
            _per_call(
                "blocking socket, no event loop",
                n,
                time.perf_counter() - wall,
                time.process_time() - cpu,
            )
        for busy_poll_us in (0, config.busy_poll_us):
            polled = attrs.evolve(config, busy_poll_us=busy_poll_us)
            client = make_script_client(polled)
            assert client is not None
            try:
                wall, cpu = time.perf_counter(), time.process_time()
                for i in range(n):
                    await client.execute(
                        "EVALSHA", sha, 1, base, f"wire{busy_poll_us}:{i}", "1", 0, 0, 10**9, ""
                    )
                _per_call(
                    f"fast client under trio, busy_poll_us={busy_poll_us}",
                    n,
                    time.perf_counter() - wall,
                    time.process_time() - cpu,
                )
            finally:
                await client.aclose()
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            await queue.enqueue(i)
        _per_call(
            f"RedisQueue.enqueue, busy_poll_us={config.busy_poll_us}",
            n,
            time.perf_counter() - wall,
            time.process_time() - cpu,
        )
        async with RedisQueue[Any]("floor0", attrs.evolve(config, busy_poll_us=0)) as unpolled:
            await unpolled.enqueue(0)
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                await unpolled.enqueue(i)
            _per_call(
                "RedisQueue.enqueue, busy_poll_us=0",
                n,
                time.perf_counter() - wall,
                time.process_time() - cpu,
            )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def _wake(url: str, n: int) -> None:
    """The idle path two ways (see the module doc)."""
    from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

    host, port = url.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    prefix = f"w{uuid.uuid4().hex[:6]}"
    config = RedisQueueConfig(url=url, key_prefix=prefix, max_queue_size=max(100_000, 3 * n))
    async with RedisQueue[Any]("wake", config) as queue:
        await queue.enqueue(0)  # the queue's keys exist
    times = _wake_hops(host, int(port), f"{prefix}:{{wake}}:", n)
    for mode, values in times.items():
        print(
            f"{mode}: enqueue sent to claim answered p50 {_percentile(values, 50) * 1e6:.1f} us,"
            f" p99 {_percentile(values, 99) * 1e6:.1f} us ({len(values)} samples)"
        )


def _wake_hops(host: str, port: int, base: str, n: int) -> dict[str, list[float]]:
    """Seconds from the enqueue's send to the claim's reply, ``n`` samples each way."""
    import hiredis

    from checkqueue_actors._backends.redis._scripts import SCRIPTS
    from checkqueue_actors._backends.redis._wire import encode_command

    token = uuid.uuid4().hex

    def script(name: str, *args: str | int) -> bytes:
        return encode_command(["EVALSHA", SCRIPTS[name].sha, 1, base, *args])

    def replies(sock: socket.socket, reader: Any, count: int) -> list[Any]:
        out: list[Any] = []
        while len(out) < count:
            reply = reader.gets()
            if reply is False:
                reader.feed(sock.recv(65536))
            elif isinstance(reply, Exception):
                raise reply
            else:
                out.append(reply)
        return out

    producer = socket.create_connection((host, port))
    consumer = socket.create_connection((host, port))
    times: dict[str, list[float]] = {"two hops": [], "one hop": []}
    with producer, consumer:
        for sock in (producer, consumer):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        preader, creader = hiredis.Reader(), hiredis.Reader()
        for name in ("register_new", "enqueue", "claim"):
            producer.sendall(encode_command(["SCRIPT", "LOAD", SCRIPTS[name].body]))
            replies(producer, preader, 1)
        producer.sendall(script("register_new", "g", 0))
        replies(producer, preader, 1)
        claim = script("claim", 1, 60_000, token, 1, "g", 0, 0)
        while True:  # the group adopted the job enqueued first: claim it away
            consumer.sendall(claim)
            if not replies(consumer, creader, 1)[0]:
                break
        consumer.sendall(encode_command(["DEL", f"{base}w:g"]))
        replies(consumer, creader, 1)
        for i in range(2 * n):
            mode = "two hops" if i % 2 == 0 else "one hop"
            blpop = encode_command(["BLPOP", f"{base}w:g", 5])
            consumer.sendall(blpop if mode == "two hops" else blpop + claim)
            time.sleep(0.0005)  # the consumer is blocked, the queue idle
            start = time.perf_counter()
            producer.sendall(script("enqueue", f"j{i}", "1", 0, 0, 10**9, ""))
            if mode == "two hops":
                replies(consumer, creader, 1)
                consumer.sendall(claim)
                got = replies(consumer, creader, 1)[0]
            else:
                got = replies(consumer, creader, 2)[1]  # the BLPOP's reply, then the claim's
            times[mode].append(time.perf_counter() - start)
            assert got, "the claim found no job"
            replies(producer, preader, 1)
    return times


async def _run(url: str, workload: str, n: int) -> None:
    if workload == "roundtrip":
        await _roundtrip(url, n)
        return
    if workload == "wake":
        await _wake(url, n)
        return
    from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

    config = RedisQueueConfig(
        url=url,
        key_prefix=f"m{uuid.uuid4().hex[:6]}",
        concurrency=10,
        max_queue_size=max(100_000, n),
    )
    meter = _Meter(int(url.rsplit(":", 1)[1].split("/")[0]))
    count = 0
    done = trio.Event()

    async def handler(job: QueueJob[Any]) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    if workload == "drain":
        async with RedisQueue[Any]("bench", config) as queue:
            # the group exists first, so that the backlog is owed to it as it is stored
            # (no adoption by a first group in the measured window)
            await queue.consume(handler, consumer_group="g")
        async with RedisQueue[Any]("bench", config) as queue:
            for start in range(0, n, 1000):
                await queue.enqueue_many(range(start, min(n, start + 1000)))
    async with RedisQueue[Any]("bench", config) as queue:
        if workload == "live":
            await queue.consume(handler, consumer_group="g")
        meter.start()
        if workload == "drain":
            await queue.consume(handler, consumer_group="g")
            await done.wait()
        elif workload == "concurrent":

            async def producer(k: int) -> None:
                for i in range(k, n, 100):
                    await queue.enqueue(i)

            async with trio.open_nursery() as nursery:
                for k in range(100):
                    nursery.start_soon(producer, k)
        else:
            for i in range(n):
                await queue.enqueue(i)
            if workload == "live":
                await done.wait()
        meter.stop(workload, n)


def main(argv: list[str] | None = None) -> int:
    """Run one workload; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.per_job_cost")
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("n", type=int, help="jobs")
    args = parser.parse_args(argv)
    with redis_server() as url:
        if url is None:
            print("no redis-server binary: nothing measured")
            return 2
        trio.run(_run, url, args.workload, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
