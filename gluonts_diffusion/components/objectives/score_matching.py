"""``score_matching``: denoising score matching (Vincent, 2011; Song et al., 2021) with a choice of weighting."""

from typing import Literal, Optional

import torch

from gluonts_diffusion.core.base import BaseObjective
from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t

from ._common import diffuse, observed_count, whitened_sq_norm

LossWeight = Literal["uniform", "likelihood", "sigma2"]


@Registry.register("objective", "score_matching")
class ScoreMatchingObjective(BaseObjective):
    """Denoising score matching: the network outputs the preconditioned score ``Sigma grad log p_t``.

    Per row, ``w(t) * || s_theta(x_t, t) + n / sigma(t) ||^2`` averaged over the observed entries, with
    the norm taken in the ``Sigma^{-1}`` metric (whitened; the plain norm for iid noise) and ``t``
    uniform on ``[eps, 1]``. The minimiser is the true score whatever the weighting.

    Args:
        loss_weight: ``sigma2`` (``w = sigma^2``, the usual weighting of Song et al. 2021, equal to
            noise-prediction MSE), ``likelihood`` (``w = g^2 / 2``, the likelihood weighting of Song et
            al. 2021 "Maximum likelihood training of score-based diffusion models": the expected loss
            times ``1 - eps`` is the diffusion term of the NLL bound in nats per point) or ``uniform``
            (``w = 1``; the loss scale grows like ``1 / sigma^2`` near the data).
    """

    parameterization = "score"
    compatibility = "works with every other component (the network must output the score)"

    def __init__(self, loss_weight: LossWeight = "sigma2") -> None:
        check_choice("loss_weight", loss_weight, LossWeight)
        self.loss_weight = loss_weight

    def weight(self, t: torch.Tensor, sde) -> torch.Tensor:
        """``w(t)`` (batch,)."""
        if self.loss_weight == "sigma2":
            return sde.sigma(t) ** 2
        if self.loss_weight == "likelihood":
            return 0.5 * sde.diffusion(t) ** 2
        return torch.ones_like(t)

    def loss(self, network, x0, mask, sde, noise, generator: Optional[torch.Generator] = None):
        t = self.sample_time(x0.shape[0], sde, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        residual = network(x_t, t) + n / expand_t(sde.sigma(t), x0)
        return self.weight(t, sde) * whitened_sq_norm(residual, mask, noise) / observed_count(mask, x0.dtype)
