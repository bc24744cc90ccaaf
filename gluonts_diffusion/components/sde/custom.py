"""``custom``: a user-defined linear SDE given by importable callables (Song et al., 2021, eq. 5 with linear drift).

The coefficients are named as ``"package.module:function"`` strings (JSON-able, so they fit in a config)
and resolved with :mod:`importlib` -- never ``eval`` -- only for packages the user allows
(``GLUONTS_DIFFUSION_ALLOW_IMPORTS=my_pkg`` or :func:`allowed_imports`), and only to Python functions.
Python callers may also pass the callables themselves. To write an SDE with closed forms instead, subclass
:class:`~gluonts_diffusion.core.base.BaseSDE` directly (implement ``alpha`` and ``sigma``, override
``drift_coef``, ``diffusion``, ``d_alpha``, ``d_sigma``, ``log_snr``, ``t_from_log_snr``, ``prior_std``
where closed forms exist) and register it with ``@Registry.register("sde", "my_name")``.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Callable, Dict, Optional, Union

import torch

from gluonts_diffusion.core.base import BaseSDE
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import time_derivative
from gluonts_diffusion.trust import allowed_packages, opt_in

Spec = Union[str, Callable, None]


def resolve_callable(spec: Spec, param: str) -> Optional[Callable]:
    """Turn ``"package.module:function"`` (or ``"package.module:Class.attr"``) into the function it names.

    ``None`` stays ``None`` and a callable (given in code) is returned as is. A name is resolved only if
    its top-level package is allowed (:func:`allowed_packages`), checked before anything is imported, and
    only if it names a Python function (``def``): never a builtin such as ``sys.exit``, a class or another
    object, so resolving or validating a config never runs anything but a chosen function. Anything else
    raises a one-line ``ValueError`` that names ``param``.
    """
    if spec is None or (callable(spec) and not isinstance(spec, str)):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"{param} must be a 'package.module:function' string, got {type(spec).__name__} {spec!r}")
    module_name, sep, attr = spec.partition(":")
    if (
        not sep
        or not all(part.isidentifier() for part in module_name.split("."))
        or not all(part.isidentifier() for part in attr.split("."))
    ):
        raise ValueError(f"{param} must have the form 'package.module:function', got {spec!r}")
    package = module_name.split(".")[0]
    if package not in allowed_packages():
        raise ValueError(
            f"{param}={spec!r}: importing {package!r} from a config or a saved predictor is not allowed; "
            f"{opt_in(package)}, or pass the function itself"
        )
    try:
        obj = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the module raises while importing
        raise ValueError(f"{param}: cannot import module {module_name!r} ({type(err).__name__}: {err})") from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{param}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not inspect.isfunction(obj):
        raise ValueError(f"{param}={spec!r} is a {type(obj).__name__}, not a Python function (def): name a function")
    return obj


def _spec_name(spec: Spec) -> Optional[str]:
    if spec is None or isinstance(spec, str):
        return spec
    return f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', repr(spec))}"


def _call(fn: Callable, t: torch.Tensor) -> torch.Tensor:
    """``fn`` on float64 CPU times (differentiably), returned with ``t``'s shape, dtype and device."""
    t64 = t.to(device="cpu", dtype=torch.float64)
    out = fn(t64)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(out, dtype=torch.float64)
    out = out.to(torch.float64)
    if out.shape != t64.shape:
        out = torch.broadcast_to(out, t64.shape)
    return out.to(device=t.device, dtype=t.dtype)


def _checked(fn: Callable, t: torch.Tensor, param: str) -> torch.Tensor:
    """:func:`_call` at construction time: any failure or non-finite value is a ``ValueError`` naming ``param``."""
    try:
        out = _call(fn, t)
    except Exception as err:
        raise ValueError(
            f"{param} failed on a float64 tensor of times ({type(err).__name__}: {err}); it must take a "
            f"tensor of times and return a tensor of the same shape"
        ) from err
    if not torch.isfinite(out).all():
        bad = float(t[~torch.isfinite(out)][0])
        raise ValueError(f"{param} returned a non-finite value at t={bad:.6g}")
    return out.detach()


def _hermite(t: torch.Tensor, values: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """Cubic Hermite interpolation of a table on the uniform grid ``k / n`` of [0, 1] (differentiable in t)."""
    n = values.shape[0] - 1
    u = t.to(device="cpu", dtype=torch.float64).clamp(0.0, 1.0) * n
    k = torch.floor(u.detach()).clamp(max=n - 1).long()
    s = u - k
    s2, s3 = s * s, s * s * s
    h = 1.0 / n
    out = (
        (2 * s3 - 3 * s2 + 1) * values[k]
        + (s3 - 2 * s2 + s) * h * slopes[k]
        + (-2 * s3 + 3 * s2) * values[k + 1]
        + (s3 - s2) * h * slopes[k + 1]
    )
    return out.to(device=t.device, dtype=t.dtype)


@Registry.register("sde", "custom")
class CustomSDE(BaseSDE):
    """``dx = f(t) x dt + g(t) dW`` with user-supplied ``f`` (``drift_fn``) and ``g`` (``diffusion_fn``).

    The marginal ``x_t = alpha(t) x_0 + sigma(t) n`` follows from ``alpha(t) = exp(int_0^t f)`` and
    ``sigma(t)^2 = alpha(t)^2 int_0^t g(s)^2 / alpha(s)^2 ds``: both are integrated once at construction
    in float64 (``d log alpha = f dt``, ``d sigma^2 = (2 f sigma^2 + g^2) dt``, RK4 on ``grid_size`` steps)
    and read back by cubic Hermite interpolation with the exact slopes, so every sampler works
    (relative error ~1e-10 for smooth coefficients). ``drift_coef`` and ``diffusion`` call ``f`` and ``g``
    directly. ``sigma(0) = 0``; the prior is ``N(0, sigma(1)^2 Sigma)``.

    Alternatively give the marginal directly with ``alpha_fn`` and ``sigma_fn`` (then ``f`` and ``g``
    are derived by autograd, so those must be written with torch operations): this is the only way to
    use a convention with ``sigma(0) > 0`` as the VE SDE's. Given together with ``diffusion_fn`` they
    are checked against the integrated marginal (``sigma(t)^2 = alpha(t)^2 sigma(0)^2 + ...``).

    Every callable is called with a 1-D float64 CPU tensor of times in [0, 1] and must return a
    tensor (or a number) broadcastable to it. Name module-level functions (not lambdas) so that the
    SDE stays picklable and fits in a JSON/YAML config; a name is imported only if its top-level package
    is allowed (``GLUONTS_DIFFUSION_ALLOW_IMPORTS=my_pkg`` or :func:`allowed_imports`), so building one
    from a config or a saved predictor runs no code the user did not opt in to.

    Args:
        drift_fn: ``"package.module:function"`` for ``f(t)``; ``None`` means ``f = 0``.
        diffusion_fn: ``"package.module:function"`` for ``g(t) >= 0`` (required unless alpha_fn/sigma_fn).
        alpha_fn, sigma_fn: ``"package.module:function"`` for the marginal coefficients (optional, together).
        eps: smallest diffusion time used by training and sampling; ``sigma(eps)`` must be > 0.
        grid_size: number of integration steps on [0, 1].
    """

    compatibility = (
        "linear-Gaussian path with a numerically integrated marginal; the prior N(0, sigma(1)^2 Sigma) "
        "neglects alpha(1) x0, so choose f and g with alpha(1) << sigma(1); log-SNR solvers (DDIM, "
        "DPM-Solver) and the variational bound need g > 0 on [eps, 1] (strictly decreasing log-SNR); not "
        "variance preserving in general, so VP-only formulas (alpha^2 + sigma^2 = 1) do not apply"
    )

    def __init__(
        self,
        drift_fn: Optional[str] = None,
        diffusion_fn: Optional[str] = None,
        alpha_fn: Optional[str] = None,
        sigma_fn: Optional[str] = None,
        eps: float = 1e-3,
        grid_size: int = 4096,
    ) -> None:
        super().__init__(eps=eps)
        if isinstance(grid_size, bool) or int(grid_size) != grid_size or grid_size < 16:
            raise ValueError(f"grid_size must be an integer >= 16, got {grid_size}")
        self.grid_size = int(grid_size)
        self.drift_fn, self.diffusion_fn = _spec_name(drift_fn), _spec_name(diffusion_fn)
        self.alpha_fn, self.sigma_fn = _spec_name(alpha_fn), _spec_name(sigma_fn)
        self._f = resolve_callable(drift_fn, "drift_fn")
        self._g = resolve_callable(diffusion_fn, "diffusion_fn")
        self._alpha = resolve_callable(alpha_fn, "alpha_fn")
        self._sigma = resolve_callable(sigma_fn, "sigma_fn")
        if (self._alpha is None) != (self._sigma is None):
            missing = "sigma_fn" if self._sigma is None else "alpha_fn"
            raise ValueError(f"alpha_fn and sigma_fn must be given together; {missing} is missing")
        if self._g is None:
            if self._alpha is None:
                raise ValueError("diffusion_fn is required (or give the marginal with alpha_fn and sigma_fn)")
            if self._f is not None:
                raise ValueError("drift_fn needs diffusion_fn (or leave both out and give alpha_fn and sigma_fn)")
        self._tables: Optional[Dict[str, torch.Tensor]] = None
        if self._g is not None:
            self._integrate(self._g)
        if self._alpha is not None and self._sigma is not None:
            self._check_marginal(self._alpha, self._sigma)
        one = torch.ones(1, dtype=torch.float64)
        a1, s1 = float(self.alpha(one)), float(self.sigma(one))
        if a1 > 0.1 * s1:
            warnings.warn(
                f"custom SDE: alpha(1)={a1:.3g} is not small against sigma(1)={s1:.3g}, so the prior "
                f"N(0, sigma(1)^2) is far from the marginal at t=1",
                stacklevel=2,
            )

    # ------------------------------------------------------------------ construction
    def _integrate(self, diffusion_fn: Callable) -> None:
        n = self.grid_size
        fine = torch.linspace(0.0, 1.0, 2 * n + 1, dtype=torch.float64)
        f = _checked(self._f, fine, "drift_fn") if self._f is not None else torch.zeros_like(fine)
        g = _checked(diffusion_fn, fine, "diffusion_fn")
        if (g < 0).any():
            bad = float(fine[g < 0][0])
            raise ValueError(f"diffusion_fn must return values >= 0, got {float(g[g < 0][0]):.6g} at t={bad:.6g}")
        g2 = g * g
        h = 1.0 / n
        fl, g2l = f.tolist(), g2.tolist()
        log_alpha, var = [0.0] * (n + 1), [0.0] * (n + 1)
        la = v = 0.0
        for k in range(n):  # RK4 for var' = 2 f var + g^2, Simpson for (log alpha)' = f
            f0, fm, f1 = fl[2 * k], fl[2 * k + 1], fl[2 * k + 2]
            q0, qm, q1 = g2l[2 * k], g2l[2 * k + 1], g2l[2 * k + 2]
            k1 = 2 * f0 * v + q0
            k2 = 2 * fm * (v + 0.5 * h * k1) + qm
            k3 = 2 * fm * (v + 0.5 * h * k2) + qm
            k4 = 2 * f1 * (v + h * k3) + q1
            v += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            la += h / 6 * (f0 + 4 * fm + f1)
            log_alpha[k + 1], var[k + 1] = la, v
        log_alpha_t, var_t = torch.tensor(log_alpha, dtype=torch.float64), torch.tensor(var, dtype=torch.float64)
        if not (torch.isfinite(log_alpha_t).all() and torch.isfinite(var_t).all()) or log_alpha_t.min() < -700:
            raise ValueError("drift_fn/diffusion_fn: the marginal alpha(t), sigma(t) overflows on [0, 1]")
        f_nodes, g2_nodes = f[::2], g2[::2]
        self._tables = {
            "log_alpha": log_alpha_t,
            "d_log_alpha": f_nodes,
            "var": var_t,
            "d_var": 2 * f_nodes * var_t + g2_nodes,
        }
        t_eps = torch.tensor([self.eps], dtype=torch.float64)
        if not float(self._table_var(t_eps)) > 0:
            raise ValueError(
                f"diffusion_fn: sigma(eps={self.eps}) = 0, so the path has no noise there "
                f"(g must not vanish on [0, eps])"
            )
        if float(var_t[-1]) <= 0:
            raise ValueError("diffusion_fn is identically 0: the SDE has no noise and no prior")

    def _check_marginal(self, alpha_fn: Callable, sigma_fn: Callable) -> None:
        n = self.grid_size
        grid = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        alpha = _checked(alpha_fn, grid, "alpha_fn")
        sigma = _checked(sigma_fn, grid, "sigma_fn")
        if not (alpha > 0).all():
            raise ValueError(f"alpha_fn must be > 0 on [0, 1], got {float(alpha.min()):.6g}")
        if abs(float(alpha[0]) - 1) > 1e-4:
            raise ValueError(f"alpha_fn(0) must be 1 (x_0 is the data), got {float(alpha[0]):.6g}")
        if (sigma < 0).any():
            raise ValueError(f"sigma_fn must be >= 0, got {float(sigma.min()):.6g}")
        s_eps = _checked(sigma_fn, torch.tensor([self.eps], dtype=torch.float64), "sigma_fn")
        if not float(s_eps) > 0 or not (sigma[1:][grid[1:] >= self.eps] > 0).all():
            raise ValueError(f"sigma_fn must be > 0 on [eps={self.eps}, 1]")
        ratio = (sigma / alpha) ** 2  # g^2 / alpha^2 = d(sigma^2 / alpha^2)/dt must be >= 0
        drop = ratio[:-1] - ratio[1:]
        if (drop > 1e-9 * ratio.abs().max()).any():
            bad = float(grid[1:][drop > 1e-9 * ratio.abs().max()][0])
            raise ValueError(
                f"sigma_fn: sigma(t)^2 / alpha(t)^2 must be non-decreasing (it decreases at t={bad:.6g}), "
                f"otherwise no SDE has this marginal (g^2 < 0)"
            )
        for name, fn in (("alpha_fn", alpha_fn), ("sigma_fn", sigma_fn)):
            try:
                self._derivative(fn, grid[1:4])
            except Exception as err:
                raise ValueError(
                    f"{name} must be written with torch operations (its time derivative is taken by "
                    f"autograd): {type(err).__name__}: {err}"
                ) from err
        if self._tables is not None:  # both forms given: they must describe the same path
            log_alpha = _hermite(grid, self._tables["log_alpha"], self._tables["d_log_alpha"])
            var = self._tables["var"] + torch.exp(2 * log_alpha) * float(sigma[0]) ** 2
            if not torch.allclose(alpha, torch.exp(log_alpha), rtol=1e-3, atol=1e-6):
                raise ValueError("alpha_fn is not exp(int_0^t drift_fn): the two forms describe different paths")
            if not torch.allclose(sigma**2, var, rtol=1e-3, atol=1e-8):
                raise ValueError(
                    "sigma_fn is not the marginal std of drift_fn/diffusion_fn (the two forms describe "
                    "different paths): sigma(t)^2 must equal alpha(t)^2 (sigma(0)^2 + int_0^t g^2/alpha^2)"
                )

    @staticmethod
    def _derivative(fn: Callable, t: torch.Tensor) -> torch.Tensor:
        """``d fn/dt`` of a user function, by autograd on float64 CPU times."""
        return time_derivative(lambda tt: _call(fn, tt), t, dtype=torch.float64, device="cpu")

    def _interpolate(self, t: torch.Tensor, name: str) -> torch.Tensor:
        """The integrated table ``name`` (and its slope ``d_<name>``) at ``t``."""
        if self._tables is None:
            raise RuntimeError("this custom SDE is given by alpha_fn and sigma_fn: it has no integrated tables")
        return _hermite(t, self._tables[name], self._tables[f"d_{name}"])

    def _table_var(self, t: torch.Tensor) -> torch.Tensor:
        return self._interpolate(t, "var").clamp_min(0)

    def _table_log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return self._interpolate(t, "log_alpha")

    # ------------------------------------------------------------------ marginal
    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        if self._alpha is not None:
            return _call(self._alpha, t)
        return torch.exp(self._table_log_alpha(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        if self._sigma is not None:
            return _call(self._sigma, t)
        return self._table_var(t).sqrt()

    def drift_coef(self, t: torch.Tensor) -> torch.Tensor:
        if self._g is None:
            return super().drift_coef(t)
        return _call(self._f, t) if self._f is not None else torch.zeros_like(t)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        if self._g is None:
            return super().diffusion(t)
        return _call(self._g, t)

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        if self._alpha is not None:
            return self._derivative(self._alpha, t)
        return self.drift_coef(t) * self.alpha(t)

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        if self._sigma is not None:
            return self._derivative(self._sigma, t)
        s = self.sigma(t)
        return self.drift_coef(t) * s + self.diffusion(t) ** 2 / (2 * s)

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        if self._alpha is not None:
            return super().log_snr(t)
        return 2 * self._table_log_alpha(t) - torch.log(self._table_var(t))

    def prior_std(self) -> float:
        return float(self.sigma(torch.ones(1, dtype=torch.float64)))

    def __repr__(self) -> str:
        specs = ", ".join(
            f"{k}={v!r}"
            for k, v in (
                ("drift_fn", self.drift_fn),
                ("diffusion_fn", self.diffusion_fn),
                ("alpha_fn", self.alpha_fn),
                ("sigma_fn", self.sigma_fn),
            )
            if v is not None
        )
        return f"CustomSDE({specs}, eps={self.eps})"
