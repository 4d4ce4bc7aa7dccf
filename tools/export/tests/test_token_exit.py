"""Token-level exits: the simulation's two limits are the rules it generalises, and its FLOPs are
the export's."""

import torch

from tools.export.core.diffusion import adaptive_eps
from tools.export.pipeline.export import flops
from tools.export.studies.token_exit import TokenExit, decision_overlap, parse_rules, token_flops
from tools.export.core.uvit import UViT


def tiny():
    torch.manual_seed(0)
    model = UViT(img_size=28, patch_size=7, embed_dim=32, depth=4, num_heads=2)
    model.eval()
    return model


def inputs(model, B=3):
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, 1, 28, 28, generator=g), torch.tensor([10.0, 500.0, 900.0]), torch.tensor([0, 3, 10])


def test_theta_tok_zero_runs_full_depth_and_saves_nothing():
    model = tiny()
    x, t, y = inputs(model)
    rule = TokenExit(model, "uem", 0.0)
    eps, exit_block, _ = rule(model, x, t, y, 0.0, 1)
    assert torch.allclose(eps, model(x, t, y), atol=1e-6)
    assert exit_block.tolist() == [model.num_blocks - 1] * 3
    assert abs(rule.spent - 3 * rule.full_pass) < 1e-6 * rule.full_pass


def test_theta_tok_one_freezes_every_token_at_the_min_depth_like_the_step_exit():
    model = tiny()
    x, t, y = inputs(model)
    rule = TokenExit(model, "uem", 1.0)
    eps, exit_block, _ = rule(model, x, t, y, 0.0, 2)
    step_eps, step_exit, _ = adaptive_eps(model, x, t, y, 1.0, 2)
    assert exit_block.tolist() == step_exit.tolist() == [1, 1, 1]
    assert torch.allclose(eps, step_eps, atol=1e-6)
    step = TokenExit(model, "step")
    step(model, x, t, y, 1.0, 2)
    assert abs(rule.spent - step.spent) < 1e-6 * rule.spent


def test_a_tau_between_the_tokens_gaps_freezes_some_and_costs_between_the_limits():
    from tools.export.studies.token_exit import per_patch

    model = tiny()
    x, t, y = inputs(model)
    with torch.no_grad():
        h, _ = model.embed(x, t, y)
        h0 = model.run_block(0, h)
        gaps = per_patch((model.head(h0) - model(x, t, y)) ** 2, model)
    rule = TokenExit(model, "oracle", float(gaps.median()))
    eps, exit_block, _ = rule(model, x, t, y, 0.0, 1)
    assert 0.3 < float(rule.frozen_by_block[1]) / 3 < 0.7  # about half frozen after block 0
    assert exit_block.tolist() == [model.num_blocks - 1] * 3  # some tokens went on to the end
    assert not torch.allclose(eps, model(x, t, y), atol=1e-5)
    assert TokenExit(model, "uem", 1.0).full_pass == rule.full_pass
    assert 0.3 * 3 * rule.full_pass < rule.spent < 0.95 * 3 * rule.full_pass


def test_the_per_token_flops_add_up_to_the_exports_per_block_flops():
    model = tiny()
    active, _ = token_flops(model)
    tokens = model.extras + model.num_patches
    exported = flops(model)["blocks"]
    for a, e in zip(active, exported):
        assert abs(a * tokens - e) <= 0.02 * e, (a * tokens, e)


def test_rules_parse_and_refuse_what_they_do_not_know():
    assert parse_rules("full,step:0.1,uem:0.03,oracle:3e-4,uem:0.02/0.1,switch:6@199") == [
        ("full", 0.0, 0.0, None), ("step", 0.1, 0.1, None), ("uem", 0.03, 0.0, None), ("oracle", 3e-4, 0.0, None),
        ("uem", 0.02, 0.1, None), ("switch", 6.0, 0.0, 199)]
    import pytest

    from tools.export.core.errors import UserError

    with pytest.raises(UserError, match="not one of"):
        parse_rules("token:0.1")
    with pytest.raises(UserError, match="needs a number"):
        parse_rules("uem:abc")
    with pytest.raises(UserError, match="needs a number"):
        parse_rules("oracle")  # a rule without its value would quietly run full depth
    with pytest.raises(UserError, match="takes no value"):
        parse_rules("full:0.5")
    for bad in ("switch:6", "switch:6@--1", "switch:0@199", "switch:²@199"):
        with pytest.raises(UserError, match="a switch is depth@t"):
            parse_rules(bad)
    assert parse_rules("switch:6@-1")[0].switch_t == -1  # shallow at every step
    with pytest.raises(UserError, match="only a token rule"):
        parse_rules("step:0.1/0.2")
    with pytest.raises(UserError, match="needs a number"):
        parse_rules("uem:0.03/x")


def test_the_report_splits_the_saving_by_source_and_counts_skipped_passes_as_the_schedule():
    model = tiny()
    x, t, y = inputs(model)
    rule = TokenExit(model, "uem", 0.5)
    rule(model, x, t, y, 0.0, 2)  # one step's conditional pass, exits by the token rule
    spent_by_exits = rule.spent
    rule(model, x, t, y, 1.0, 2)  # its unconditional pass, fixed at the min depth ('shallow')
    r = rule.report(samples=3, steps=2)  # two steps guided: the second step's passes did not run
    reference = 3 * 2 * 2 * rule.full_pass
    L = model.extras + model.num_patches
    fixed_pass = rule.fixed + L * sum(rule.active[:2])  # every token through 2 blocks, then the head
    assert abs(r["flopsSavedBySchedule"] - 0.5) < 1e-9
    assert abs(r["flopsSavedByFixedDepth"] - round(3 * (rule.full_pass - fixed_pass) / reference, 4)) < 1e-9
    assert abs(r["flopsSavedByExits"] - round((3 * rule.full_pass - spent_by_exits) / reference, 4)) < 1e-9
    assert r["flopsSavedByExits"] > 0


def test_a_switch_runs_the_depth_it_is_given_and_counts_it_as_fixed_depth():
    model = tiny()
    x, t, y = inputs(model)
    rule = TokenExit(model, "switch")
    eps, exit_block, _ = rule(model, x, t, y, 1.0, 3)  # sample(depths=) hands a depth over as θ 1, min depth 3
    assert exit_block.tolist() == [2, 2, 2]
    L = model.extras + model.num_patches
    assert abs(rule.spent - 3 * (rule.fixed + L * sum(rule.active[:3]))) < 1e-6 * rule.spent
    assert rule.run["exits"] == 0 and rule.run["fixedDepth"] > 0


def test_the_decision_overlap_is_whole_for_the_oracle_and_empty_for_its_reverse():
    gap = torch.tensor([1e-4, 5e-4, 2e-3, 8e-3, 3e-2])
    same = decision_overlap(gap, gap, 1e-3)  # a UEM that is the gap itself
    assert same["oracleFrozen"] == 0.4 and same["sameTokens"] == 1.0
    assert same["frozenGapMean"] == same["oracleGapMean"] == 3e-4
    reverse = decision_overlap(-gap, gap, 1e-3)  # freezes the two worst tokens instead
    assert reverse["sameTokens"] == 0.0 and reverse["frozenGapMean"] == 0.019
