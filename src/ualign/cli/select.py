"""``ualign select``: generate N candidates per prompt, select k with U-alignment and the
baselines, evaluate on held-out users, append one JSON line per prompt (resumable).
``--evidence-votes`` / ``--evidence-persona`` select for one described user: both halves of the
population are reweighted by the posterior given the evidence (``ualign.llm.evidence``)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from ualign._text import plain
from ualign.cli import CLIError

if TYPE_CHECKING:
    from pathlib import Path

    from ualign.llm.evidence import Evidence
    from ualign.llm.experiment import SelectConfig
    from ualign.llm.generate import CachedGenerator
    from ualign.llm.populations import Population

HELP = ("Generate N candidates per prompt with a language model and show k of them by "
        "U-aligned selection and baselines (JSONL out, resumable)")


def _merge_line(rec: dict, cfg) -> str:
    """One line per prompt: candidates merged, distinct responses, and k beyond them."""
    from ualign.core.displays import display_spec

    m, n = rec["merge"], len(rec["candidates"])
    g = n - m["n_merged"]
    rule = m["rule"] + (f" >= {m['threshold']}" if m["threshold"] is not None else "")
    line = (f"{rec['prompt'][:50]!r}: {m['n_merged']} of {n} candidates merged ({rule}), "
            f"{g} distinct; display {cfg.display}")
    over = [k for k in cfg.ks if k > g]
    if display_spec(cfg.display).merges and over:
        line += f"; k = {','.join(map(str, over))} > {g} distinct: all {g} shown"
    return line


def add_arguments(p) -> None:
    from ualign.llm.dedupe import DEFAULT_THRESHOLD
    from ualign.llm.select import SELECT_METHODS

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
    p.add_argument("--k", default="4",
                   help="responses shown: 4, a list 1,2,4, a range 1..8 (or 1-8) or a mix; each "
                        "k in [1, 1024] (default 4)")
    p.add_argument("--n", type=int, default=32,
                   help="candidates generated per prompt (N; default 32)")
    p.add_argument("--methods", default="ualign,best-of-n,nlhf,sampling",
                   help=f"comma-separated among {','.join(SELECT_METHODS)} (default "
                        "ualign,best-of-n,nlhf,sampling)")
    p.add_argument("--out", default="results.jsonl",
                   help="output JSONL (appended, resumable; default results.jsonl)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature of the candidates (default 1.0)")
    p.add_argument("--top-p", type=float, default=0.95,
                   help="nucleus sampling share of the candidates (default 0.95)")
    p.add_argument("--max-new-tokens", type=int, default=64,
                   help="longest candidate, in tokens (default 64)")
    p.add_argument("--batch-size", type=int, default=8,
                   help="sequences decoded together (default 8)")
    p.add_argument("--system", default=None,
                   help="system prompt for candidate generation (default: none)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of generation, the user split and the randomised methods "
                        "(default 0)")
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
    p.add_argument("--display", default="multiset", metavar="D",
                   help="the display the k responses are selected for: multiset (default: "
                        "the paper's rule, copies count) or distinct (equivalent candidates "
                        "merged first, k distinct responses shown); results report win rates "
                        "under both displays either way")
    p.add_argument("--merge", default="exact",
                   help="which candidates are the same response: exact (equal after "
                        "normalisation, default) or embedding (also cosine >= "
                        "--merge-threshold, complete linkage)")
    p.add_argument("--merge-threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"cosine threshold of --merge embedding (default {DEFAULT_THRESHOLD})")
    p.add_argument("--evidence-votes", default=None, metavar="FILE",
                   help="select for one described user: a JSON object {statement id or text: "
                        "+1|0|-1} of their votes (agree / pass / disagree; ids are Polis "
                        "comment ids of a polis: population). The population is reweighted "
                        "by the posterior given the votes; empty evidence is universal "
                        "selection")
    p.add_argument("--evidence-persona", default=None, metavar="TEXT",
                   help="select for one described user: a persona text; users are weighted "
                        "by embedding similarity of their persona (or vote description) to it")
    p.add_argument("--evidence-noise", type=float, default=0.1,
                   help="δ of --evidence-votes: the chance a revealed comparison disagrees "
                        "with a user's order, in (0, 0.5) (default 0.1)")
    p.add_argument("--evidence-tau", type=float, default=None,
                   help="temperature of --evidence-persona (> 0; default: fitted on held-out "
                        "users over each prompt's candidates)")
    p.add_argument("--strict", action="store_true",
                   help="with --display distinct: fail when a prompt has fewer distinct "
                        "candidates than k (default: show all of them and say so)")


def _check_numbers(args) -> None:
    """The numeric options, before anything is read, loaded or generated."""
    checks = (("--n", args.n, args.n >= 1, "an integer >= 1"),
              ("--split", args.split, 0.0 < args.split < 1.0, "a share in (0, 1)"),
              ("--temperature", args.temperature, args.temperature >= 0.0, "a number >= 0"),
              ("--top-p", args.top_p, 0.0 < args.top_p <= 1.0, "a number in (0, 1]"),
              ("--max-new-tokens", args.max_new_tokens, args.max_new_tokens >= 1,
               "an integer >= 1"),
              ("--batch-size", args.batch_size, args.batch_size >= 1, "an integer >= 1"))
    for flag, value, ok, form in checks:
        if not ok:  # NaN fails every comparison, so it lands here too
            raise ValueError(f"{flag} must be {form}, got {value}")


def _evidence(args) -> Evidence | None:
    """The evidence options as an :class:`Evidence` (None without any), checked before
    anything is loaded."""
    from ualign.llm.evidence import Evidence, read_vote_evidence

    if args.evidence_votes is None and args.evidence_persona is None:
        for flag, value in (("--evidence-noise", args.evidence_noise != 0.1),
                            ("--evidence-tau", args.evidence_tau is not None)):
            if value:
                raise ValueError(f"{flag} needs --evidence-votes or --evidence-persona")
        return None
    votes = {} if args.evidence_votes is None else read_vote_evidence(args.evidence_votes)
    persona = args.evidence_persona
    if persona is not None and not persona.strip():
        raise ValueError("--evidence-persona must be a non-empty text")
    noise = args.evidence_noise
    if not 0.0 < noise < 0.5:  # NaN lands here too
        raise ValueError(f"--evidence-noise must be a number in (0, 0.5), got {noise}")
    tau = args.evidence_tau
    if tau is not None and not (0.0 < tau < float("inf")):
        raise ValueError(f"--evidence-tau must be a positive finite number, got {tau}")
    return Evidence(votes=tuple(votes.items()), persona=persona, noise=noise, tau=tau)


def run(args) -> int:
    from ualign.cli._options import parse_display, parse_ks
    from ualign.cli._progress import stages

    _check_numbers(args)
    (display,) = parse_display(args.display, both=False)
    ks = parse_ks(args.k)
    with stages("select") as stage:
        run_ = _start(args, display, ks, stage)
    if run_ is None:
        return 0
    return _generate(args, run_)


@dataclasses.dataclass
class _Run:
    """What :func:`_start` prepares for the prompts loop."""

    todo: list[dict]
    cfg: SelectConfig
    out: Path
    run_key: dict
    population: Population
    generator: CachedGenerator
    embed: object
    evidence: Evidence | None
    humans: list[str]


def _start(args, display: str, ks, stage) -> _Run | None:
    """Everything before the first prompt (libraries, prompts, population, model), each step
    named by ``stage``; None when every prompt is already in ``--out``."""
    stage("loading the libraries (NumPy, the solvers, the text models)")
    from ualign.cli._paths import out_file
    from ualign.llm.embed import as_embedder
    from ualign.llm.evidence import resolve_votes
    from ualign.llm.experiment import SelectConfig
    from ualign.llm.generate import CachedGenerator, load_generator
    from ualign.llm.populations import Population, VotePopulation, load_population
    from ualign.llm.store import done_prompts, read_prompts, read_results

    evidence = _evidence(args)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    cfg = SelectConfig(n=args.n, ks=ks, methods=methods, temperature=args.temperature,
                       top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed,
                       split=args.split, personalised=args.personalised, system=args.system,
                       display=display, merge=args.merge,
                       merge_threshold=args.merge_threshold, strict=args.strict)
    out = out_file(args.out, "--out")
    cache = out_file(args.cache or str(out.with_suffix("")) + ".gen-cache.jsonl", "--cache")
    prompts = read_prompts(args.prompts)
    run_key = dict(dataclasses.asdict(cfg), model=args.model, endpoint=args.endpoint,
                   population=args.population, embed=args.embed, humans=not args.no_humans,
                   evidence=None if evidence is None else evidence.to_json())
    done = done_prompts(read_results(out, repair=True), run_key, out)
    todo = [p for p in prompts if p["prompt"] not in done]
    print(f"{len(prompts)} prompts, {len(prompts) - len(todo)} already in {plain(out)}, "
          f"{len(todo)} to run", flush=True)
    if not todo:
        return None
    stage(f"loading the population {args.population}"
          + (f" and the embedding {args.embed}" if args.embed else ""))
    embed = as_embedder(args.embed)
    population = load_population(args.population, embed=embed)
    if not isinstance(population, Population):
        raise CLIError(f"population {args.population!r} is a {type(population).__name__}, "
                       f"which ranks texts but cannot be split into selection and evaluation "
                       f"users; use a spec such as polis:FOLDER or personas:FILE")
    if population.n_users < 2:
        raise CLIError(f"population {args.population!r} has {population.n_users} user(s); "
                       f"selection and held-out evaluation need at least 2")
    if evidence is not None and evidence.votes:
        resolve_votes(population, dict(evidence.votes), "--evidence-votes")  # ids checked now
    humans = list(population.votes.texts) if (
        isinstance(population, VotePopulation) and population.votes is not None
        and not args.no_humans) else []
    opts = {}
    if args.endpoint:
        opts["chat"] = not args.completions
    else:
        opts["batch_size"] = args.batch_size
    stage(f"loading the model {args.model}" + (f" at {args.endpoint}" if args.endpoint else ""))
    generator = CachedGenerator(load_generator(args.model, args.endpoint, **opts), str(cache))
    return _Run(todo, cfg, out, run_key, population, generator, embed, evidence, humans)


def _generate(args, r: _Run) -> int:
    """Generate, select and evaluate each prompt still to run, one JSON line each."""
    from tqdm import tqdm

    from ualign.llm.experiment import run_prompt
    from ualign.llm.generate import EndpointError
    from ualign.llm.store import append_record

    r.out.parent.mkdir(parents=True, exist_ok=True)
    for item in tqdm(r.todo, desc="prompts", unit="prompt"):
        t0 = time.perf_counter()
        try:
            rec = run_prompt(item["prompt"], r.generator, r.population, r.cfg,
                             human_texts=item.get("humans", r.humans), embed=r.embed,
                             evidence=r.evidence)
        except EndpointError as e:
            raise CLIError(str(e)) from None
        rec["population"] = args.population
        rec["run"] = r.run_key
        rec["wall_s"] = time.perf_counter() - t0
        append_record(r.out, rec)
        tqdm.write(_merge_line(rec, r.cfg))
    print(f"wrote {len(r.todo)} prompt(s) to {plain(r.out)}; summarise with: ualign eval-select "
          f"{plain(r.out)}")
    return 0
