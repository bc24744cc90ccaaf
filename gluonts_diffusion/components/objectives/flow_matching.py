"""``flow_matching``: conditional flow matching with velocity prediction (Lipman et al., 2023; Liu et al., 2023)."""

from gluonts_diffusion.core.registry import Registry

from .denoising import DenoisingObjective


@Registry.register("objective", "flow_matching")
class FlowMatchingObjective(DenoisingObjective):
    """Regress the conditional velocity of the SDE's Gaussian path ``x_t = alpha(t) x0 + sigma(t) n``.

    Target ``v = alpha'(t) x0 + sigma'(t) n``; loss ``|| v_theta(x_t, t) - v ||^2`` averaged over the
    observed entries, ``t`` uniform on ``[eps, 1]``: exactly ``denoising`` with ``parameterization:
    velocity``. The minimiser ``E[v | x_t]`` is the velocity of the probability-flow ODE, which the
    denoiser layer converts to noise via ``alpha``, ``sigma`` and their derivatives. The path is the
    SDE's: a rectified-flow / optimal-transport path (``alpha = 1 - t``, ``sigma = t``) is obtained by
    choosing an SDE with those coefficients, so that sampler and objective always agree on the path.
    """

    compatibility = "needs an SDE whose alpha(t), sigma(t) are differentiable (d_alpha, d_sigma)"

    def __init__(self) -> None:
        super().__init__(parameterization="velocity")
