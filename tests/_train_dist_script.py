"""Run a tiny self-play training (used by test_train_distributed under `accelerate launch`)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation
from ualign.train import SelfPlayConfig, SelfPlayTrainer
from ualign.train.tiny import char_tokenizer, tiny_causal_lm


def main(out: str, mode: str) -> None:
    torch.set_num_threads(1)
    tok = char_tokenizer("abcxyz ")
    kw = dict(prompts=["a", "b", "c", "x"], k=2, group_size=4, prompts_per_step=4, max_steps=3,
              max_new_tokens=6, output_dir=out, progress_bar=False, learning_rate=3e-3,
              updates_per_step=2, seed=3, device="cpu")
    if mode == "candidates":
        from ualign import Profile

        kw.update(candidates=["ab", "ba", "xx"], group_size=6)
        pop = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2]], weights=[0.5, 0.3, 0.2])
    else:
        pop = CharPopulation("ab", [0.6, 0.4])
    tr = SelfPlayTrainer(SelfPlayConfig(**kw), population=pop, model=tiny_causal_lm(tok, seed=1),
                         tokenizer=tok)
    res = tr.train()
    if tr.accelerator.is_main_process:
        torch.save({"params": {n: p.detach().cpu() for n, p in tr.unwrapped.named_parameters()},
                    "history": res.history, "world": tr.accelerator.num_processes},
                   Path(out) / "result.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
