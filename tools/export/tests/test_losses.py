"""AdaDiff's pseudo-label and loss terms against values computed by hand."""

import math

import pytest
import torch

from tools.export.core.diffusion import adadiff_losses, min_snr_weight, pseudo_uncertainty


def test_pseudo_label_is_tanh_of_abs_error_and_detached():
    eps_hat = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    eps = torch.tensor([0.0, 0.0, 1.0])
    u = pseudo_uncertainty(eps_hat, eps)
    assert not u.requires_grad
    torch.testing.assert_close(u, torch.tensor([math.tanh(0.5), math.tanh(1.0), math.tanh(1.0)]))


def test_three_loss_terms_by_hand():
    # one sample, one pixel, two exits
    eps = torch.tensor([[[[0.0]]]])
    e1 = torch.tensor([[[[1.0]]]])  # error 1
    e2 = torch.tensor([[[[0.5]]]])  # error 0.5 (last exit)
    u1 = torch.tensor([[[[0.2]]]])
    u2 = torch.tensor([[[[0.6]]]])
    out = adadiff_losses([e1, e2], [u1, u2], eps)
    # L_simple: last exit's MSE
    assert math.isclose(out["simple"].item(), 0.25, rel_tol=1e-6)
    # L_u = (0.2 − tanh 1)² + (0.6 − tanh 0.5)²
    want_u = (0.2 - math.tanh(1.0)) ** 2 + (0.6 - math.tanh(0.5)) ** 2
    assert math.isclose(out["u"].item(), want_u, rel_tol=1e-6)
    # L_UAL: weights ∝ 1 − u = 0.8, 0.4 → 2/3, 1/3
    want_ual = (2 / 3) * 1.0 + (1 / 3) * 0.25
    assert math.isclose(out["ual"].item(), want_ual, rel_tol=1e-6)
    assert math.isclose(out["loss"].item(), 0.25 + want_u + want_ual, rel_tol=1e-6)
    lam = adadiff_losses([e1, e2], [u1, u2], eps, lam=0.5, beta=2.0)
    assert math.isclose(lam["loss"].item(), 0.25 + 0.5 * want_u + 2.0 * want_ual, rel_tol=1e-6)


def test_distillation_pulls_exits_towards_the_detached_final_exit():
    eps = torch.tensor([[[[0.0]]]])
    e1 = torch.tensor([[[[1.0]]]], requires_grad=True)
    e2 = torch.tensor([[[[0.5]]]], requires_grad=True)  # the final exit
    u = [torch.tensor([[[[0.2]]]]), torch.tensor([[[[0.6]]]])]
    out = adadiff_losses([e1, e2], u, eps, lam=0.0, beta=0.0, distill=3.0)
    # layer weights 2/3, 1/3 as above; only the non-final exit has a gap: (1 − 0.5)²
    assert math.isclose(out["distill"].item(), (2 / 3) * 0.25, rel_tol=1e-6)
    assert math.isclose(out["loss"].item(), 0.25 + 3.0 * (2 / 3) * 0.25, rel_tol=1e-6)
    out["loss"].backward()
    # the final exit learns only from L_simple (2·0.5); the early one from the gap: 3·(2/3)·2·0.5
    assert math.isclose(e2.grad.item(), 1.0, rel_tol=1e-6)
    assert math.isclose(e1.grad.item(), 2.0, rel_tol=1e-6)
    assert adadiff_losses([e1, e2], u, eps)["distill"].item() == 0.0


def test_final_target_measures_each_exit_against_the_last_one():
    eps = torch.tensor([[[[0.0]]]])
    e1, e2 = torch.tensor([[[[1.0]]]]), torch.tensor([[[[0.5]]]])
    u1, u2 = torch.tensor([[[[0.2]]]]), torch.tensor([[[[0.6]]]])
    out = adadiff_losses([e1, e2], [u1, u2], eps, uem_target="final")
    # exit 1 is 0.5 from the final estimate; the final one is 0 from itself
    want_u = (0.2 - math.tanh(0.5)) ** 2 + 0.6**2
    assert math.isclose(out["u"].item(), want_u, rel_tol=1e-6)
    # only the UEM's target moves: the noise terms are the paper's
    paper = adadiff_losses([e1, e2], [u1, u2], eps)
    assert math.isclose(out["simple"].item(), paper["simple"].item(), rel_tol=1e-6)
    assert math.isclose(out["ual"].item(), paper["ual"].item(), rel_tol=1e-6)
    with pytest.raises(ValueError, match="uem_target"):
        adadiff_losses([e1, e2], [u1, u2], eps, uem_target="truth")


def test_layer_weights_carry_no_gradient_to_the_uem():
    eps = torch.zeros(1, 1, 1, 1)
    e = [torch.ones(1, 1, 1, 1, requires_grad=True) for _ in range(2)]
    u = [torch.full((1, 1, 1, 1), 0.3, requires_grad=True) for _ in range(2)]
    out = adadiff_losses(e, u, eps, lam=0.0)
    out["loss"].backward()
    assert u[0].grad is None or torch.all(u[0].grad == 0)
    assert e[0].grad is not None


def test_min_snr_weight():
    ab = torch.tensor([0.5, 0.99])  # SNR 1 and 99
    torch.testing.assert_close(min_snr_weight(ab, 5.0), torch.tensor([1.0, 5.0 / 99.0]))
