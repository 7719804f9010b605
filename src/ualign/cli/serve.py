"""``ualign serve``: a population scoring service (JSON over HTTP; docs/integrations.md)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "serve a population over HTTP: rank groups of texts and their (k+1)-player payoffs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--population", required=True,
                   help="population spec: polis:FOLDER / personas:FILE / reward:FILE,model=M, "
                        "py:MODULE:FACTORY (a callable returning a population), ... "
                        "(ualign.llm.load_population)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; there is no authentication)")
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    p.add_argument("--max-queue", type=int, default=64,
                   help="requests waiting for the worker before 503 (default 64)")
    p.add_argument("--max-batch", type=int, default=16,
                   help="requests scored together in one population call (default 16)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a request may wait for its answer before 504 (default 60)")
    p.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024,
                   help="largest request body accepted (default 4 MiB; larger: 413)")
    p.add_argument("--max-texts", type=int, default=512, help="largest group size G")
    p.add_argument("--max-groups", type=int, default=256, help="most groups in one request")


def run(args) -> int:
    from ualign.integrations.service import Limits, PopulationService
    from ualign.llm import StancePopulation, VotePopulation, load_population

    population = load_population(args.population)
    limits = Limits(max_body_bytes=args.max_body_bytes, max_groups=args.max_groups,
                    max_texts=args.max_texts)
    service = PopulationService(population, name=args.population, max_queue=args.max_queue,
                                max_batch=args.max_batch, timeout=args.timeout, limits=limits)
    url = service.start(args.host, args.port)
    print(json.dumps({"url": url, "population": args.population,
                      "users": service.health()["users"]}), flush=True)
    if isinstance(population, (StancePopulation, VotePopulation)):  # users: which participants
        from ualign.cli._console import polis_population_rule, read_polis_rule

        print(f"ualign serve: users: {polis_population_rule(args.population)}; "
              f"{read_polis_rule()}, so they can count other people", file=sys.stderr,
              flush=True)
    try:
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        print("ualign serve: stopped", file=sys.stderr)
    return 0
