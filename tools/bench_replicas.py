"""Capacity of the inference replicas of a running system (it starts nothing itself).

    TAGLOOP_PREDICT_RATE=1000r/s TAGLOOP_PREDICT_BURST=1000 TAGLOOP_INFERENCE_REPLICAS=N make run
    .venv/bin/python -m tools.bench_replicas --url http://127.0.0.1:8080

Reads the replicas from the gateway's /health, then sends /predict back to back from
`--clients` threads for `--seconds` through the gateway and prints images/s for the whole
system and per replica, the resident memory of each replica after the run and the CPU
cores of this machine (replicas on one machine share them: images/s per core is what a
replica on a core of its own gives).
"""

import argparse
import os

import httpx

from tools.bench_inference import gateway_concurrent, inference_rss_mib, test_images


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    replicas = httpx.get(f"{args.url}/health", timeout=10).json()["parts"]["inference"]["replicas"]
    throughput = gateway_concurrent(args.url, test_images(), args.clients, args.seconds)
    cores = os.cpu_count() or 1
    print(f"replicas: {len(replicas)}, clients: {args.clients}, CPU cores here: {cores}")
    print(f"whole system: {throughput:.1f} images/s; per replica {throughput / len(replicas):.1f}")
    print(f"per core of this machine: {throughput / cores:.1f} images/s")
    for replica in replicas:
        rss = inference_rss_mib(replica["url"])
        print(f"  {replica['url']}: version {replica['model_version']}, RSS {rss or 0:.0f} MiB")


if __name__ == "__main__":
    main()
