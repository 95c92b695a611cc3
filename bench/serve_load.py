"""Studio load: concurrent clients writing pages live on loopback.

    python bench/serve_load.py [--clients 16] [--seconds 60] [--port 8899]

Starts `handwriter serve` (default limits), then each client asks for a line again and
again (a different seed each time) and reads its stream to the end. Reports time to the
first point (queueing included), points per second while a client's ink streams, requests
that did not end with `done`, and the server's memory every 10 s. Prints markdown.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TEXT = "The quick brown fox jumps over the lazy dog"


def client(port: int, index: int, deadline: float, results: list) -> None:
    seed = index * 1000
    while time.monotonic() < deadline:
        seed += 1
        body = json.dumps({"mode": "write", "text": TEXT, "seed": seed})
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        sent = time.monotonic()
        first = last = None
        points, ended, error = 0, False, ""
        try:
            connection.request("POST", "/api/write", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            while line := response.readline():
                if not line.startswith(b"data: "):
                    continue
                event = json.loads(line[6:])
                if event["type"] == "points":
                    first = first or time.monotonic()
                    last = time.monotonic()
                    points += len(event["points"])
                ended = event["type"] == "done"
                error = event.get("error", error)
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
        finally:
            connection.close()
        results.append({"client": index, "ended": ended, "points": points, "error": error,
                        "first": first - sent if first else None,
                        "streaming": last - first if first and last > first else None})


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=8899)
    args = parser.parse_args()
    env = {**os.environ, "HANDWRITER_DATA_DIR": tempfile.mkdtemp()}
    server = subprocess.Popen([sys.executable, "-m", "handwriter.cli", "serve", "--port",
                               str(args.port)], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(600):  # wait for it to listen
            try:
                http.client.HTTPConnection("127.0.0.1", args.port).request("GET", "/")
                break
            except OSError:
                time.sleep(0.5)
        warm: list = []
        client(args.port, 99, time.monotonic(), warm)  # loads the models once
        memory = [rss_mib(server.pid)]
        results: list = []
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(args.port, i, deadline, results))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(10)
            memory.append(rss_mib(server.pid))
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait()

    done = [r for r in results if r["ended"]]
    if not done:
        errors = {r["error"] for r in results}
        sys.exit(f"no stream ended in {args.seconds:g} s ({len(results)} requests; {errors})")
    firsts = sorted(r["first"] for r in done)
    per_client = []
    for i in range(args.clients):
        mine = [r for r in done if r["client"] == i and r["streaming"]]
        if mine:
            per_client.append(sum(r["points"] for r in mine) / sum(r["streaming"] for r in mine))
    print(f"{args.clients} clients, {args.seconds:g} s, text {TEXT!r}, server defaults\n")
    print("| requests done | not ended with done | points | time to first point, median / "
          "p95 / max | points/s per client while streaming, min / median | server RSS MiB, "
          "start -> max -> end |")
    print("|---:|---:|---:|---|---|---|")
    p95 = firsts[int(0.95 * (len(firsts) - 1))] if firsts else float("nan")
    print(f"| {len(done)} | {len(results) - len(done)} | {sum(r['points'] for r in done):,} | "
          f"{statistics.median(firsts):.2f} / {p95:.2f} / {firsts[-1]:.2f} s | "
          f"{min(per_client):,.0f} / {statistics.median(per_client):,.0f} | "
          f"{memory[0]:.0f} -> {max(memory):.0f} -> {memory[-1]:.0f} |")


if __name__ == "__main__":
    main()
