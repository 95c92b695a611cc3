import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from handwriter.model import (
    WEIGHT_BIAS_MAX,
    HandwritingNet,
    Mixture,
    ModelConfig,
    StyleEncoder,
    Window,
    fold_style,
    mixture_log_density,
    mixture_nll,
    sample_point,
    split_mixture,
    widen,
)
from handwriter.sample import Sampler

torch.set_num_threads(1)

UNCONDITIONAL = ModelConfig(num_layers=2, hidden_size=5, num_mixtures=3)
SYNTHESIS = ModelConfig(num_layers=2, hidden_size=5, num_mixtures=3, window_mixtures=2,
                        alphabet="abc", chars_per_step=0.3)


def random_mixture(rng, shape, M) -> Mixture:
    """A float64 Mixture with sensible random parameters, built without `split_mixture`."""
    w = rng.random((*shape, M)) + 0.1
    return Mixture(torch.from_numpy(np.log(w / w.sum(-1, keepdims=True))),
                   torch.from_numpy(rng.normal(0, 1, (*shape, M, 2))),
                   torch.from_numpy(np.log(rng.uniform(0.3, 2.0, (*shape, M, 2)))),
                   torch.from_numpy(rng.uniform(-0.9, 0.9, (*shape, M))),
                   torch.from_numpy(rng.normal(0, 2, shape)))


def test_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    mix = random_mixture(rng, (4, 5), 3)
    target = np.concatenate([rng.normal(0, 1.5, (4, 5, 2)),
                             rng.integers(0, 2, (4, 5, 1))], -1)
    got = mixture_log_density(mix, torch.from_numpy(target)).numpy()

    m = [t.numpy() for t in mix]
    want = np.zeros((4, 5))
    for b in range(4):
        for t in range(5):
            terms = []
            for k in range(3):
                s1, s2 = np.exp(m[2][b, t, k])
                r = m[3][b, t, k]
                cov = [[s1 * s1, r * s1 * s2], [r * s1 * s2, s2 * s2]]
                terms.append(m[0][b, t, k]
                             + multivariate_normal(m[1][b, t, k], cov).logpdf(target[b, t, :2]))
            p_lift = 1 / (1 + np.exp(-m[4][b, t]))
            pen = target[b, t, 2]
            want[b, t] = logsumexp(terms) + np.log(p_lift if pen else 1 - p_lift)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_split_mixture_follows_graves_eqs_18_to_22():
    M = 4
    raw = torch.randn(2, 3, 1 + 6 * M, dtype=torch.float64)
    mix = split_mixture(raw)
    pen, w, mu, log_sigma, rho = raw.split([1, M, 2 * M, 2 * M, M], -1)
    torch.testing.assert_close(mix.log_weight.exp(), torch.softmax(w, -1))
    torch.testing.assert_close(mix.mu, mu.unflatten(-1, (M, 2)))
    torch.testing.assert_close(mix.log_sigma, log_sigma.unflatten(-1, (M, 2)))
    torch.testing.assert_close(mix.rho, torch.tanh(rho), rtol=0, atol=1e-4)
    assert (mix.rho.abs() < 1).all()
    torch.testing.assert_close(mix.pen_lift_logit, pen[..., 0])


def test_bias_sharpens_weights_and_narrows_gaussians():
    """Graves eqs. 61-62: pi ~ softmax(pi_hat (1 + b)), sigma = exp(sigma_hat - b); the
    weights sharpen only up to a bias of WEIGHT_BIAS_MAX."""
    M = 5
    raw = torch.randn(3, 1 + 6 * M, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, w, mu, log_sigma, rho = raw.split([1, M, 2 * M, 2 * M, M], -1)
    entropies, max_weights, sigmas = [], [], []
    assert WEIGHT_BIAS_MAX == 1.0
    for bias in (0.0, 0.5, 1.0, 2.0, 4.0):
        mix = split_mixture(raw, bias=bias)
        torch.testing.assert_close(mix.log_sigma, (log_sigma - bias).unflatten(-1, (M, 2)))
        torch.testing.assert_close(mix.mu, mu.unflatten(-1, (M, 2)))  # means stay put
        sigmas.append(mix.log_sigma.exp())
        if bias > WEIGHT_BIAS_MAX:  # no sharper than at the cap
            torch.testing.assert_close(mix.log_weight, split_mixture(raw, 1.0).log_weight)
            continue
        torch.testing.assert_close(mix.log_weight, F.log_softmax(w * (1 + bias), -1))
        p = mix.log_weight.exp()
        entropies.append(-(p * mix.log_weight).sum(-1))
        max_weights.append(p.max(-1).values)
    for a, b in zip(entropies, entropies[1:], strict=False):
        assert (b < a).all()
    for a, b in zip(max_weights, max_weights[1:], strict=False):
        assert (b > a).all()
    for a, b in zip(sigmas, sigmas[1:], strict=False):
        assert (b < a).all()
    # Temperature narrows too: variance times T, weights softmax(w / T).
    mix = split_mixture(raw, temperature=0.25)
    torch.testing.assert_close(mix.log_sigma, (log_sigma + 0.5 * math.log(0.25)
                                               ).unflatten(-1, (M, 2)))
    torch.testing.assert_close(mix.log_weight, F.log_softmax(w / 0.25, -1))


def test_nll_ignores_padding():
    g = torch.Generator().manual_seed(2)
    B, T, M = 3, 6, 2
    raw = torch.randn(B, T, 1 + 6 * M, generator=g, dtype=torch.float64)
    target = torch.cat([torch.randn(B, T, 2, generator=g, dtype=torch.float64),
                        torch.randint(0, 2, (B, T, 1), generator=g).double()], -1)
    lengths = torch.tensor([6, 4, 1])
    mask = (torch.arange(T) < lengths[:, None]).double()
    nll = mixture_nll(split_mixture(raw), target, mask)
    # Garbage (finite) in the padding changes nothing.
    pad = mask[..., None] == 0
    raw2 = torch.where(pad, 50 * torch.randn(raw.shape, generator=g, dtype=torch.float64), raw)
    target2 = torch.where(pad, 30 * torch.randn(target.shape, generator=g, dtype=torch.float64),
                          target)
    torch.testing.assert_close(mixture_nll(split_mixture(raw2), target2, mask), nll)
    # Each line's NLL is the sum over its own points only.
    for b, n in enumerate(lengths.tolist()):
        alone = -mixture_log_density(split_mixture(raw[b, :n]), target[b, :n]).sum()
        torch.testing.assert_close(nll[b], alone)


def test_nll_gradient_wrt_head_output_matches_finite_differences():
    g = torch.Generator().manual_seed(3)
    M = 2
    raw = torch.randn(2, 3, 1 + 6 * M, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.cat([torch.randn(2, 3, 2, generator=g, dtype=torch.float64),
                        torch.tensor([[[0.0], [1.0], [0.0]], [[1.0], [0.0], [1.0]]],
                                     dtype=torch.float64)], -1)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda r: mixture_nll(split_mixture(r), target, mask).sum(), (raw,))


def net_inputs(net: HandwritingNet, B: int, T: int, seed: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    strokes = torch.cat([torch.randn(B, T, 2, generator=g),
                         (torch.rand(B, T, 1, generator=g) < 0.3).float()], -1).to(dtype)
    if not net.text_size:
        return strokes, None, None
    U = 4
    text = torch.randint(1, net.text_size, (B, U), generator=g)
    lengths = torch.arange(U, U - B, -1).clamp(min=1)  # first line full, the rest padded
    text_mask = (torch.arange(U) < lengths[:, None]).to(dtype)
    return strokes, text * text_mask.long(), text_mask


@pytest.mark.parametrize("cfg", [UNCONDITIONAL, SYNTHESIS], ids=["unconditional", "synthesis"])
def test_nll_gradient_wrt_weights_matches_finite_differences(cfg):
    torch.manual_seed(0)
    net = HandwritingNet(ModelConfig(**{**cfg.__dict__, "hidden_size": 4, "num_mixtures": 2}))
    net = net.double()
    strokes, text, text_mask = net_inputs(net, 2, 3, seed=4, dtype=torch.float64)
    target = torch.roll(strokes, -1, 1)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    names = [n for n, _ in net.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in net.parameters())

    def nll(*values):
        raw, _ = torch.func.functional_call(net, dict(zip(names, values, strict=True)),
                                            (strokes, text, text_mask))
        return mixture_nll(split_mixture(raw), target, mask).sum()

    assert torch.autograd.gradcheck(nll, params)
    # Every parameter gets a gradient: nothing in the graph is cut off.
    grads = torch.autograd.grad(nll(*params), params)
    assert all(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("cfg", [UNCONDITIONAL, SYNTHESIS], ids=["unconditional", "synthesis"])
def test_sampler_step_matches_forward(cfg):
    torch.manual_seed(0)
    net = HandwritingNet(cfg).eval()
    B, T = 3, 7
    strokes, text, text_mask = net_inputs(net, B, T, seed=5)
    with torch.no_grad():
        raw, final, phis = net(strokes, text, text_mask, return_phi=True)
    sampler = Sampler(net)
    chars = F.one_hot(text, net.text_size).float() if net.text_size else None
    state = net.initial_state(B)
    for t in range(T):
        step_raw, state, phi = sampler.step(strokes[:, t], state, chars, text_mask)
        torch.testing.assert_close(step_raw, raw[:, t], rtol=1e-5, atol=1e-5)
        if net.text_size:
            torch.testing.assert_close(phi, phis[:, t], rtol=1e-5, atol=1e-5)
    for a, b in zip(state, final, strict=True):
        if a is None:
            assert b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # Running forward in two halves, carrying the state, is the same as one call.
    with torch.no_grad():
        first, mid = net(strokes[:, :3], text, text_mask)
        second, _ = net(strokes[:, 3:], text, text_mask, mid)
    torch.testing.assert_close(torch.cat([first, second], 1), raw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cfg", [UNCONDITIONAL, SYNTHESIS], ids=["prediction", "synthesis"])
def test_dropout_acts_in_training_only(cfg):
    torch.manual_seed(0)
    plain = HandwritingNet(cfg)
    dropped = HandwritingNet(ModelConfig(**{**cfg.__dict__, "dropout": 0.5}))
    dropped.load_state_dict(plain.state_dict())  # dropout adds no weights
    inputs = net_inputs(plain, 2, 6, seed=1)
    with torch.no_grad():
        a, b = dropped(*inputs)[0], dropped(*inputs)[0]
        assert not torch.allclose(a, b)
        torch.testing.assert_close(dropped.eval()(*inputs)[0], plain(*inputs)[0])


def test_window_is_a_forward_moving_weighted_sum_of_characters():
    torch.manual_seed(0)
    B, U, V, K = 2, 5, 4, 3
    window = Window(hidden_size=6, num_mixtures=K, chars_per_step=0.4)
    text = torch.tensor([[1, 2, 3, 1, 2], [3, 3, 1, 0, 0]])
    text_mask = torch.tensor([[1.0] * 5, [1.0, 1.0, 1.0, 0.0, 0.0]])
    chars = F.one_hot(text, V).float()
    other = chars.clone()
    other[1, 3:] = F.one_hot(torch.tensor([2, 1]), V).float()  # different padding characters
    kappa = torch.zeros(B, K)
    for _ in range(8):
        h = 3 * torch.randn(B, 6)
        w, new_kappa, phi = window(h, kappa, chars, text_mask)
        assert phi.shape == (B, U + 1)
        assert (phi >= 0).all()
        assert (new_kappa >= kappa).all()  # eq. 51: the window only moves forward
        # Eq. 46 by hand from the layer's alpha, beta, kappa step (eqs. 48-50).
        alpha, beta, step = window.linear(h).exp().chunk(3, -1)
        torch.testing.assert_close(new_kappa, kappa + step)
        u = torch.arange(U + 1).float()
        want_phi = (alpha[:, :, None] * torch.exp(-beta[:, :, None]
                                                  * (new_kappa[:, :, None] - u) ** 2)).sum(1)
        torch.testing.assert_close(phi, want_phi)
        # Eq. 47: the window is the phi-weighted sum of real characters' one-hot vectors.
        want = torch.zeros(B, V)
        for b in range(B):
            for j in range(U):
                if text_mask[b, j]:
                    want[b, text[b, j]] += phi[b, j]
        torch.testing.assert_close(w, want)
        torch.testing.assert_close(window(h, kappa, other, text_mask)[0], w)
        kappa = new_kappa


def one_component(mu, sigma, rho, pen_logit, B=1) -> Mixture:
    t = torch.tensor
    return Mixture(torch.zeros(B, 1), t(mu).expand(B, 1, 2).clone(),
                   t(sigma).log().expand(B, 1, 2).clone(),
                   t([rho]).expand(B, 1).clone(), t(pen_logit).expand(B).clone())


def test_sample_point_is_seeded_and_tight_mixtures_give_their_mean():
    mix = split_mixture(torch.randn(4, 1 + 6 * 3, generator=torch.Generator().manual_seed(0)))
    a = sample_point(mix, torch.Generator().manual_seed(7))
    b = sample_point(mix, torch.Generator().manual_seed(7))
    c = sample_point(mix, torch.Generator().manual_seed(8))
    assert a.shape == (4, 3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)

    tight = one_component([1.5, -2.0], [1e-6, 1e-6], 0.5, 30.0, B=3)
    point = sample_point(tight, torch.Generator().manual_seed(0))
    torch.testing.assert_close(point, torch.tensor([[1.5, -2.0, 1.0]] * 3), rtol=0, atol=1e-5)
    never = one_component([0.0, 0.0], [1e-6, 1e-6], 0.0, -30.0)
    assert sample_point(never, torch.Generator().manual_seed(0))[0, 2] == 0


def test_sample_point_draws_from_the_mixture():
    """Many draws from one step: component frequencies, correlation and pen rate."""
    n = 20000
    mix = Mixture(torch.tensor([[math.log(0.3), math.log(0.7)]]).expand(n, 2),
                  torch.tensor([[[-10.0, 0.0], [10.0, 5.0]]]).expand(n, 2, 2),
                  torch.tensor([[[0.0, 0.0], [math.log(2.0), math.log(0.5)]]]).expand(n, 2, 2),
                  torch.tensor([[0.0, 0.8]]).expand(n, 2),
                  torch.full((n,), math.log(0.2 / 0.8)))
    x = sample_point(mix, torch.Generator().manual_seed(0)).double().numpy()
    right = x[:, 0] > 0
    assert abs(right.mean() - 0.7) < 0.02
    pts = x[right, :2]
    np.testing.assert_allclose(pts.mean(0), [10, 5], atol=0.05)
    np.testing.assert_allclose(np.cov(pts.T), [[4, 0.8], [0.8, 0.25]], rtol=0.06, atol=0.02)
    assert abs(x[:, 2].mean() - 0.2) < 0.02


@pytest.mark.parametrize("cfg", [UNCONDITIONAL, SYNTHESIS], ids=["prediction", "synthesis"])
def test_a_widened_network_writes_as_before_and_a_folded_style_is_exact(cfg):
    torch.manual_seed(0)
    trained = HandwritingNet(cfg).eval()
    styled = HandwritingNet(replace(cfg, style_size=4, style_hidden=6)).eval()
    widen(styled, trained.state_dict())
    strokes, text, text_mask = net_inputs(trained, 3, 7, seed=1)
    with torch.no_grad():
        before, _ = trained(strokes, text, text_mask)
        # zero style columns: the same sums, up to their order
        torch.testing.assert_close(styled(strokes, text, text_mask)[0], before, rtol=0, atol=1e-6)
        style = torch.tensor([0.5, -0.3, 0.9, 0.1])
        torch.testing.assert_close(styled(strokes, text, text_mask, style=style.expand(3, 4))[0],
                                   before, rtol=0, atol=1e-6)
        for p in styled.parameters():  # as if trained to use the style
            p.add_(0.3 * torch.randn_like(p))
        with_style, _ = styled(strokes, text, text_mask, style=style.expand(3, 4))
        folded = fold_style(styled, style)
        assert folded.cfg.style_size == 0 and not hasattr(folded, "style_encoder")
        torch.testing.assert_close(folded(strokes, text, text_mask)[0], with_style,
                                   rtol=1e-5, atol=1e-5)
        assert not torch.allclose(styled(strokes, text, text_mask)[0], with_style, atol=1e-3)
    with pytest.raises(ValueError, match=r"weight.*: \(.*\) does not fit"):
        widen(trained, styled.state_dict())


def test_more_numbers_of_style_change_nothing_until_trained_and_new_ones_can_learn():
    torch.manual_seed(0)
    cfg = replace(SYNTHESIS, style_size=4, style_hidden=6, style_statistics=True,
                  style_table=3)
    trained = HandwritingNet(cfg).eval()
    wider = HandwritingNet(replace(cfg, style_size=6)).eval()
    widen(wider, trained.state_dict())
    strokes, text, text_mask = net_inputs(trained, 3, 7, seed=1)
    style = torch.tensor([[0.5, -0.3, 0.9, 0.1]]).expand(3, 4)
    extra = torch.tensor([[0.7, -0.8]]).expand(3, 2)
    table = wider.style_encoder.table.weight
    with torch.no_grad():
        torch.testing.assert_close(wider(strokes, text, text_mask,
                                         style=torch.cat([style, extra], 1))[0],
                                   trained(strokes, text, text_mask, style=style)[0],
                                   rtol=0, atol=1e-6)
    torch.testing.assert_close(table[:, :4], trained.style_encoder.table.weight)
    assert table[:, 4:].abs().min() > 0  # random, so the columns reading them get a gradient
    raw, _ = wider(strokes, text, text_mask,
                   style=torch.tanh(wider.style_encoder.table(torch.tensor([0, 1, 2]))))
    raw.square().mean().backward()
    assert wider.head.weight.grad[:, -2:].abs().max() > 0
    with pytest.raises(ValueError, match=r"weight_ih: \(20, 13\) does not fit \(20, 11\)"):
        widen(trained, wider.state_dict())


def test_the_style_encoder_reads_only_real_points_and_no_primer_is_no_style():
    torch.manual_seed(0)
    encoder = StyleEncoder(6, 4).eval()  # batch norm by its running statistics
    primer = torch.randn(3, 9, 3)
    mask = torch.ones(3, 9)
    mask[1, 5:] = 0
    mask[2] = 0
    with torch.no_grad():
        style = encoder(primer, mask)
        alone = encoder(primer[1:2, :5], torch.ones(1, 5))
    torch.testing.assert_close(style[1], alone[0], rtol=1e-5, atol=1e-6)
    assert style[2].abs().max() == 0 and style[0].abs().max() > 0


def random_lines() -> tuple[torch.Tensor, torch.Tensor]:
    """Three random lines of 80 offsets, the second masked after 60."""
    rng = np.random.default_rng(0)
    lines = torch.from_numpy(np.c_[rng.normal(0.15, 0.1, (3, 80, 2)).reshape(-1, 2),
                                   (rng.random(240) < 0.1)].reshape(3, 80, 3)).float()
    mask = torch.ones(3, 80)
    mask[1, 60:] = 0
    return lines, mask


@pytest.mark.parametrize("shape", [False, True], ids=["measurements", "with letter shapes"])
def test_the_statistics_style_is_blind_to_scale_and_reads_only_real_points(shape):
    torch.manual_seed(0)
    encoder = StyleEncoder(6, 4, statistics=True, shape=shape)
    lines, mask = random_lines()
    with torch.no_grad():
        encoder.train()(lines, mask)  # batch norm's running statistics from these lines
        encoder.eval()
        style = encoder(lines, mask)
        larger = lines.clone()
        larger[..., :2] *= 3
        torch.testing.assert_close(encoder(larger, mask), style, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(encoder(lines[1:2, :60], torch.ones(1, 60))[0], style[1])
        assert encoder(lines[:1], torch.zeros(1, 80)).abs().max() == 0
    assert style.std(0).max() > 0.01  # different lines, different hands


def test_letter_shapes_added_to_a_measured_style_change_nothing_until_trained():
    torch.manual_seed(0)
    cfg = replace(SYNTHESIS, style_size=4, style_statistics=True)
    measured, shaped = HandwritingNet(cfg), HandwritingNet(replace(cfg, style_shape=True))
    lines, mask = random_lines()
    with torch.no_grad():
        measured.encode_style(lines, mask)  # batch norm's running statistics
        widen(shaped, measured.state_dict())
        measured.eval(), shaped.eval()
        style = measured.encode_style(lines, mask)
        torch.testing.assert_close(shaped.encode_style(lines, mask), style)
        shaped.style_encoder.out.weight[:, 12:] = 0.5  # as if trained to read the shapes
        assert not torch.allclose(shaped.encode_style(lines, mask), style, atol=1e-2)
