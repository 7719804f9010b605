"""ualign.integrations.trl.SelfPlayReward: TRL's reward_funcs calling convention, and
GRPOTrainer's advantages with it equal SelfPlayTrainer's on the same completions (1e-6)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from ualign.integrations.service import PopulationService
from ualign.integrations.trl import SelfPlayReward
from ualign.llm.group_payoffs import group_payoffs, score_groups, text_classes

sys.path.insert(0, str(Path(__file__).parent))
from _serve_helpers import char_population


def test_calling_convention_and_groups():
    pop = char_population()
    r = SelfPlayReward(pop, k=2, num_generations=3)
    assert r.__name__ == "ualign_k2_multiset"
    prompts = ["p"] * 3 + ["q"] * 3
    comps = ["a", "ab", "b", "bb", "a", "x"]
    out = r(prompts=prompts, completions=comps, completion_ids=None, trainer_state=None,
            log_extra=None, log_metric=None)
    assert isinstance(out, list) and all(isinstance(x, float) for x in out) and len(out) == 6
    want = score_groups(pop, [("p", comps[:3]), ("q", comps[3:])], 2)
    np.testing.assert_allclose(out, np.concatenate([w["advantages"] for w in want]),
                               atol=1e-12)
    np.testing.assert_allclose(np.mean(out[:3]), 0, atol=1e-12)     # multiset: mean 1/(k+1)
    # conversational prompts and completions (TRL's chat format)
    chat_p = [[{"role": "system", "content": "s"}, {"role": "user", "content": "p"}]] * 3
    chat_c = [[{"role": "assistant", "content": c}] for c in comps[:3]]
    np.testing.assert_allclose(r(chat_p, chat_c), out[:3], atol=1e-12)
    assert r.last_groups == [("p", comps[:3])]
    # without num_generations: consecutive runs of one prompt
    r2 = SelfPlayReward(pop, k=2, baseline="none", display="distinct", name="u")
    assert r2.__name__ == "u"
    out2 = r2(prompts, comps)
    np.testing.assert_allclose(out2[:3], r2.last_payoffs[0])
    # metrics through TRL's log_metric
    logged = {}
    r(prompts, comps, log_metric=lambda k, v: logged.setdefault(k, v))
    assert set(logged) == {"ualign_k2_multiset/payoff_max", "ualign_k2_multiset/unique_frac"}


@pytest.mark.parametrize("kw,call,match", [
    (dict(num_generations=3), (["p"] * 4, ["a"] * 4), "not a multiple of num_generations=3"),
    (dict(num_generations=3), (["p", "p", "q"], ["a"] * 3), "prompts\\[2\\] differs"),
    (dict(), (["p", "p", "q", "q", "q"], ["a"] * 5), "group of completions 0..1 has 2"),
    (dict(), (["p"] * 3, ["a"] * 2), "same length"),
    (dict(), (["p"] * 3, ["a", 3, "b"]), "completions\\[1\\] must be a string"),
])
def test_bad_calls(kw, call, match):
    with pytest.raises(ValueError, match=match):
        SelfPlayReward(char_population(), k=2, **kw)(*call)


def test_bad_config():
    with pytest.raises(ValueError, match="display must be one of"):
        SelfPlayReward(char_population(), display="set")
    with pytest.raises(ValueError, match="num_generations must be None or an integer >= k\\+1"):
        SelfPlayReward(char_population(), k=3, num_generations=3)
    with pytest.raises(ValueError, match="population must have rank"):
        SelfPlayReward(object())
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        SelfPlayReward(char_population(), k=0)


def test_remote_reward_equals_local():
    prompts = ["p"] * 4 + ["q"] * 4
    comps = ["a", "ab", "b", "a", "bb", "a", "x", "x"]
    with PopulationService(char_population()) as s:
        for display in ("multiset", "distinct"):
            local = SelfPlayReward(char_population(), k=2, display=display, num_generations=4)
            remote = SelfPlayReward(s.url, k=2, display=display, num_generations=4)
            np.testing.assert_allclose(remote(prompts, comps), local(prompts, comps),
                                       atol=1e-12)
        with pytest.raises(ValueError, match="callable cannot be sent"):
            SelfPlayReward(s.url, same=lambda t: list(range(len(t))))


# ------------------------------------------------------------------ GRPOTrainer
@pytest.mark.parametrize("display,remote", [("multiset", False), ("distinct", False),
                                            ("multiset", True)])
def test_grpo_advantages_equal_selfplay(tmp_path, display, remote):
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")
    pytest.importorskip("datasets")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from ualign.train import SelfPlayConfig, SelfPlayTrainer
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm
    from ualign.train.trainer import StepBatch

    torch.set_num_threads(1)
    tok = char_tokenizer("abcxyz ")
    k, G, steps = 2, 4, 3
    service = PopulationService(char_population()).__enter__() if remote else None
    try:
        pop = service.url if remote else char_population()
        reward = SelfPlayReward(pop, k=k, display=display, num_generations=G)
        model = tiny_causal_lm(tok, seed=1)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        cfg = GRPOConfig(output_dir=str(tmp_path / "grpo"), per_device_train_batch_size=2 * G,
                         num_generations=G, max_completion_length=6, max_steps=steps,
                         learning_rate=1e-2, logging_steps=1, report_to="none", use_cpu=True,
                         bf16=False, beta=0.0, scale_rewards="none", loss_type="dr_grpo",
                         save_strategy="no", disable_tqdm=True, seed=0, temperature=1.0,
                         top_p=1.0)
        grpo = GRPOTrainer(model=model, reward_funcs=reward, args=cfg,
                           train_dataset=Dataset.from_dict({"prompt": ["a", "b"] * 8}),
                           processing_class=tok)
        captured = []
        generate_and_score = grpo._generate_and_score_completions

        def capture(inputs):
            out = generate_and_score(inputs)
            captured.append((out["advantages"].detach().double().cpu().numpy(),
                             list(reward.last_groups)))
            return out

        grpo._generate_and_score_completions = capture
        grpo.train()
        assert grpo.state.global_step == steps and len(captured) == steps
        changed = max(float((p.detach() - before[n]).abs().max())
                      for n, p in grpo.model.named_parameters())
        assert changed > 0                                  # the steps trained the model

        sp = SelfPlayTrainer(
            SelfPlayConfig(prompts=["a", "b"], k=k, group_size=G, max_new_tokens=6,
                           output_dir=str(tmp_path / "sp"), progress_bar=False, device="cpu",
                           torch_threads=1, loss="pg"),
            population=char_population(), model=tiny_causal_lm(tok, seed=1), tokenizer=tok)
        nontrivial = merged = 0
        for adv, groups in captured:
            batch = StepBatch(step=0, prompt_positions=list(range(len(groups))),
                              prompts=[p for p, _ in groups], texts=[t for _, t in groups])
            sp.score(batch)
            sp.estimate_payoffs(batch)
            if display == "multiset":       # GRPO: P̂ - group mean = P̂ - 1/(k+1)
                want = batch.advantages.double().cpu().numpy()
            else:                           # distinct: P̂^dist - its group mean
                want = []
                for (lv, w), (_, texts) in zip(zip(batch.levels, batch.weights, strict=True),
                                               groups, strict=True):
                    cl = text_classes(texts)           # the reward's default, same="exact"
                    labels, first = np.unique(cl, return_index=True)
                    lv = lv[:, first[np.searchsorted(labels, cl)]]
                    merged += len(labels) < len(texts)
                    P = group_payoffs(lv, w, k, "distinct", cl)
                    want.append(P - P.mean())
                want = np.concatenate(want)
            np.testing.assert_allclose(adv, want, rtol=0, atol=1e-6)
            nontrivial += np.abs(want).max() > 1e-3
        assert nontrivial >= 2
        assert display == "multiset" or merged >= 1     # distinct display did merge texts
    finally:
        if service is not None:
            service.stop()


@pytest.mark.parametrize("loss_type,level", [("dr_grpo", "token"), ("luspo", "sequence"),
                                             ("dapo", "token"), ("grpo", "token")])
def test_grpo_gradient_is_selfplay_policy_gradient(tmp_path, loss_type, level):
    """On GRPO's own first batch (on-policy, β = 0, scale_rewards="none"), GRPO's loss gradient
    against SelfPlayTrainer's PG loss gradient ``-mean_i A_i ∇ log π(y_i)`` on the same tokens:
    ``dr_grpo`` = 1/max_completion_length times it, ``luspo`` with sequence-level ratios = it,
    ``dapo`` = (samples / completion tokens) times it, ``grpo`` (per-sequence length
    normalisation) is not proportional to it (docs/integrations.md)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")
    import copy

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from ualign.train import SelfPlayConfig, SelfPlayTrainer
    from ualign.train.losses import pg_loss
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm
    from ualign.train.trainer import StepBatch

    torch.set_num_threads(1)
    tok = char_tokenizer("abcxyz ")
    k, G, L = 2, 4, 6
    model = tiny_causal_lm(tok, seed=1)
    init = copy.deepcopy(model).state_dict()
    reward = SelfPlayReward(char_population(), k=k, num_generations=G)
    cfg = GRPOConfig(output_dir=str(tmp_path / "grpo"), per_device_train_batch_size=2 * G,
                     num_generations=G, max_completion_length=L, max_steps=1,
                     learning_rate=1e-2, report_to="none", use_cpu=True, bf16=False, beta=0.0,
                     scale_rewards="none", loss_type=loss_type, importance_sampling_level=level,
                     save_strategy="no", disable_tqdm=True, seed=0)
    grpo = GRPOTrainer(model=model, reward_funcs=reward, args=cfg,
                       train_dataset=Dataset.from_dict({"prompt": ["a", "b"] * 8}),
                       processing_class=tok)
    captured = []
    generate_and_score = grpo._generate_and_score_completions

    def capture(inputs):
        out = generate_and_score(inputs)
        captured.append((out, list(reward.last_groups)))
        return out

    grpo._generate_and_score_completions = capture
    grpo.train()
    out, groups = captured[0]
    # GRPO's gradient at the initial weights on its first batch
    grpo.model.load_state_dict(init)
    grpo.model.zero_grad(set_to_none=True)
    grpo.model.train()
    grpo._compute_loss(grpo.model, out).backward()
    g_trl = {n: p.grad.detach().clone() for n, p in grpo.model.named_parameters()}
    # SelfPlayTrainer's PG loss on the same prompt and completion tokens
    sp_model = tiny_causal_lm(tok, seed=1)
    sp_model.load_state_dict(init)
    sp = SelfPlayTrainer(
        SelfPlayConfig(prompts=["a", "b"], k=k, group_size=G, max_new_tokens=L,
                       output_dir=str(tmp_path / "sp"), progress_bar=False, device="cpu",
                       torch_threads=1, loss="pg"),
        population=char_population(), model=sp_model, tokenizer=tok)
    batch = StepBatch(step=0, prompt_positions=[0, 1], prompts=[p for p, _ in groups],
                      texts=[t for _, t in groups])
    pm, cm = out["prompt_mask"].bool(), out["completion_mask"].bool()
    batch.rows = sp.policy.rows([(out["prompt_ids"][i][pm[i]].tolist(),
                                  out["completion_ids"][i][cm[i]].tolist())
                                 for i in range(len(cm))])
    sp.score(batch)
    sp.estimate_payoffs(batch)
    np.testing.assert_allclose(batch.advantages.numpy(), out["advantages"].numpy(), atol=1e-6)
    logp, _ = sp.policy.log_probs(sp.model, batch)
    pg_loss(logp, batch.advantages).backward()
    g_sp = {n: p.grad.detach().clone() for n, p in sp.unwrapped.named_parameters()}
    scale = {"dr_grpo": 1 / L, "luspo": 1.0, "dapo": len(cm) / float(cm.sum()),
             "grpo": 1 / L}[loss_type]
    rel = max(float((g_trl[n] - scale * g_sp[n]).abs().max() / g_sp[n].abs().max().clamp(
        min=1e-12)) for n in g_sp)
    if loss_type == "grpo":
        ratios = [float(g_trl[n].flatten() @ g_sp[n].flatten() / (g_sp[n].norm() ** 2))
                  for n in g_sp if g_sp[n].norm() > 1e-8]
        assert max(ratios) - min(ratios) > 0.01     # no single scale: not the PG
    else:
        assert rel < 1e-5, rel        # float32 gradients


def test_selfplay_trainer_with_service_url(tmp_path):
    """``SelfPlayTrainer(population="http://...")`` trains exactly as with the local population."""
    pytest.importorskip("torch")
    from ualign.train import SelfPlayConfig, SelfPlayTrainer
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm

    tok = char_tokenizer("abcxyz ")
    params = []
    with PopulationService(char_population()) as s:
        for pop in (char_population(), s.url):
            cfg = SelfPlayConfig(prompts=["a", "b"], k=2, group_size=4, prompts_per_step=2,
                                 max_steps=2, max_new_tokens=6, learning_rate=3e-3,
                                 output_dir=str(tmp_path / str(len(params))), seed=7,
                                 progress_bar=False, device="cpu", torch_threads=1, loss="pg")
            tr = SelfPlayTrainer(cfg, population=pop, model=tiny_causal_lm(tok, seed=1),
                                 tokenizer=tok)
            tr.train()
            params.append({n: p.detach().clone() for n, p in tr.unwrapped.named_parameters()})
    diff = max(float((params[0][n] - params[1][n]).abs().max()) for n in params[0])
    assert diff < 1e-6
