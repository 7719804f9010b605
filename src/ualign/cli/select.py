"""``ualign select``: generate N candidates per prompt, select k with U-alignment and the
baselines, evaluate on held-out users, append one JSON line per prompt (resumable)."""

from __future__ import annotations

import time
from pathlib import Path

from ualign.cli import CLIError
from ualign.llm.embed import as_embedder
from ualign.llm.experiment import SelectConfig, run_prompt
from ualign.llm.generate import CachedGenerator, EndpointError, load_generator
from ualign.llm.populations import VotePopulation, load_population
from ualign.llm.select import METHODS
from ualign.llm.store import append_record, read_prompts, read_results

HELP = ("Generate N candidates per prompt with a language model and show k of them by "
        "U-aligned selection and baselines (JSONL out, resumable)")


def _ks(text: str) -> tuple[int, ...]:
    """``4``, ``1,2,4`` or ``1-8``."""
    out = []
    for part in text.split(","):
        a, dash, b = part.partition("-")
        try:
            out.extend(range(int(a), int(b) + 1) if dash else [int(a)])
        except ValueError:
            raise ValueError(f"--k must be an integer, a list 1,2,4 or a range 1-8, got "
                             f"{text!r}") from None
    if not out or min(out) < 1:
        raise ValueError(f"--k values must be >= 1, got {text!r}")
    return tuple(sorted(set(out)))


def add_arguments(p) -> None:
    p.add_argument("--model", default="smollm2",
                   help="causal LM: hub id, local folder, .gguf file or 'smollm2' (default); "
                        "with --endpoint, the served model name")
    p.add_argument("--endpoint", default=None,
                   help="OpenAI-compatible server URL (vLLM, llama.cpp), e.g. "
                        "http://127.0.0.1:8000; generation goes there instead of transformers")
    p.add_argument("--completions", action="store_true",
                   help="with --endpoint: use /v1/completions instead of /v1/chat/completions")
    p.add_argument("--prompts", required=True,
                   help="prompts file: one prompt per line (.txt) or JSONL with a 'prompt' "
                        "field (and optional 'humans': human-written answers to compare with)")
    p.add_argument("--population", required=True,
                   help="polis:FOLDER[,mode=participant|group|lowrank], "
                        "personas:FILE[,noise=gumbel,noise_scale=0.1] or reward:FILE,model=M")
    p.add_argument("--k", default="4", type=_ks,
                   help="responses shown: 4, a list 1,2,4 or a range 1-8 (default 4)")
    p.add_argument("--n", type=int, default=32, help="candidates generated per prompt (N)")
    p.add_argument("--methods", default="ualign,best-of-n,nlhf,sampling",
                   help=f"comma-separated among {','.join(METHODS)}")
    p.add_argument("--out", default="results.jsonl", help="output JSONL (appended, resumable)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8, help="sequences decoded together")
    p.add_argument("--system", default=None, help="system prompt for candidate generation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", type=float, default=0.5,
                   help="share of users who select; the rest evaluate (default 0.5)")
    p.add_argument("--personalised", action="store_true",
                   help="also generate one response per evaluation persona / opinion group "
                        "(the in-context personalised reference)")
    p.add_argument("--no-humans", action="store_true",
                   help="Polis: do not compare with the human-written statements")
    p.add_argument("--embed", default=None,
                   help="sentence-embedding model (default all-MiniLM-L6-v2; 'hashing' for a "
                        "model-free lexical embedding)")
    p.add_argument("--cache", default=None,
                   help="generation cache JSONL (default: OUT with suffix .gen-cache.jsonl)")


def run(args) -> int:
    from tqdm import tqdm

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    cfg = SelectConfig(n=args.n, ks=args.k, methods=methods, temperature=args.temperature,
                       top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed,
                       split=args.split, personalised=args.personalised, system=args.system)
    prompts = read_prompts(args.prompts)
    out = Path(args.out)
    done = {r.get("prompt") for r in read_results(out)}
    todo = [p for p in prompts if p["prompt"] not in done]
    print(f"{len(prompts)} prompts, {len(prompts) - len(todo)} already in {out}, "
          f"{len(todo)} to run")
    if not todo:
        return 0
    embed = as_embedder(args.embed)
    population = load_population(args.population, embed=embed)
    if population.n_users < 2:
        raise CLIError(f"population {args.population!r} has {population.n_users} user(s); "
                       f"selection and held-out evaluation need at least 2")
    humans_default = list(population.votes.texts) if (
        isinstance(population, VotePopulation) and population.votes is not None
        and not args.no_humans) else []
    opts = {}
    if args.endpoint:
        opts["chat"] = not args.completions
    else:
        opts["batch_size"] = args.batch_size
    generator = load_generator(args.model, args.endpoint, **opts)
    cache = args.cache or str(out.with_suffix("")) + ".gen-cache.jsonl"
    generator = CachedGenerator(generator, cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    for item in tqdm(todo, desc="prompts", unit="prompt"):
        t0 = time.perf_counter()
        try:
            rec = run_prompt(item["prompt"], generator, population, cfg,
                             human_texts=item.get("humans", humans_default), embed=embed)
        except EndpointError as e:
            raise CLIError(str(e)) from None
        rec["population"] = args.population
        rec["wall_s"] = time.perf_counter() - t0
        append_record(out, rec)
    print(f"wrote {len(todo)} prompt(s) to {out}; summarise with: ualign eval-select {out}")
    return 0
