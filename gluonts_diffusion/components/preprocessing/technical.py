"""``technical``: financial technical indicators of the history as extra conditioning features."""

from __future__ import annotations

from typing import List, Literal, Optional, Sequence, Tuple, get_args

import torch

from gluonts_diffusion.core.base import BasePreprocessor
from gluonts_diffusion.core.preprocessor import Scaling
from gluonts_diffusion.core.registry import Registry

from ._indicators import difference, ema, forward_fill, rolling_mean, rolling_std

Indicator = Literal["return", "log_return", "ma", "rsi", "macd", "bollinger", "volatility"]
INDICATORS: Tuple[Indicator, ...] = get_args(Indicator)


@Registry.register("preprocessing", "technical")
class TechnicalPreprocessor(BasePreprocessor):
    """Classic technical-analysis indicators (Murphy, "Technical Analysis of the Financial Markets", 1999)
    computed causally on the normalized history and fed as history-only conditioning features; the
    diffused window is the normalized target itself (identity encode).

    The history is normalized (its values may be negative), so price ratios are not defined. All
    indicators therefore use the normalized series ``x`` (unobserved steps forward-filled, 0 before the
    first observation), and its differences ``d_t = x_t - x_{t-1}`` (0 at the first step) stand for returns:

    * ``return``: ``d_t`` (the price change in units of the history's scale);
    * ``log_return``: ``sign(d_t) log(1 + |d_t|)``, a symmetric log-compressed return;
    * ``ma``: simple moving averages of ``x`` over each of ``ma_windows`` (one feature each);
    * ``rsi``: relative strength index over ``rsi_window``, as ``(gain - loss) / (gain + loss)`` in
      [-1, 1] (= ``RSI / 50 - 1``), with simple rolling means of gains/losses;
    * ``macd``: ``EMA_fast(x) - EMA_slow(x)`` and its histogram ``macd - EMA_signal(macd)`` (two features);
    * ``bollinger``: position within the bands ``(x - MA) / (k std)`` over ``bollinger_window``, clipped to
      [-clip, clip];
    * ``volatility``: rolling std of ``d`` over ``volatility_window``.

    Windows shorter than their span use the steps available. Step ``t`` uses steps ``<= t`` only.
    Features are ``(batch, context_length, F * channels)``, feature-major (all channels of one
    feature, then the next), in the order of ``indicators``.

    Args:
        indicators: any subset of ``return, log_return, ma, rsi, macd, bollinger, volatility``.
        ma_windows: moving-average windows.
        rsi_window, bollinger_window, volatility_window: rolling windows.
        macd_spans: ``[fast, slow, signal]`` EMA spans.
        bollinger_k: band width in stds.
        clip: bound on the absolute value of every feature.
        scaling, min_scale: per-series normalization, see ``raw``.
    """

    def __init__(
        self,
        indicators: Sequence[Indicator] = INDICATORS,
        ma_windows: Sequence[int] = (5, 20),
        rsi_window: int = 14,
        macd_spans: Sequence[int] = (12, 26, 9),
        bollinger_window: int = 20,
        bollinger_k: float = 2.0,
        volatility_window: int = 20,
        clip: float = 10.0,
        scaling: Scaling = "std",
        min_scale: float = 1e-5,
    ) -> None:
        super().__init__(scaling=scaling, min_scale=min_scale)
        chosen: List[str] = [indicators] if isinstance(indicators, str) else list(indicators)
        unknown = [i for i in chosen if i not in INDICATORS]
        if not chosen or unknown:
            raise ValueError(f"indicators must be a non-empty subset of {', '.join(INDICATORS)}, got {chosen!r}")

        def positive_int(name, value):
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            return int(value)

        ma_windows = [ma_windows] if isinstance(ma_windows, int) else list(ma_windows)
        if "ma" in chosen and not ma_windows:
            raise ValueError("ma_windows must not be empty when 'ma' is an indicator")
        self.ma_windows: List[int] = [positive_int("ma_windows", w) for w in ma_windows]
        self.rsi_window = positive_int("rsi_window", rsi_window)
        if len(list(macd_spans)) != 3:
            raise ValueError(f"macd_spans must be [fast, slow, signal], got {macd_spans!r}")
        self.macd_spans: List[int] = [positive_int("macd_spans", s) for s in macd_spans]
        self.bollinger_window = positive_int("bollinger_window", bollinger_window)
        self.volatility_window = positive_int("volatility_window", volatility_window)
        if not float(bollinger_k) > 0:
            raise ValueError(f"bollinger_k must be > 0, got {bollinger_k!r}")
        if not float(clip) > 0:
            raise ValueError(f"clip must be > 0, got {clip!r}")
        self.bollinger_k = float(bollinger_k)
        self.clip = float(clip)
        self.indicators = chosen

    def _count(self, name: str) -> int:
        return {"ma": len(self.ma_windows), "macd": 2}.get(name, 1)

    def num_context_features(self, channels: int) -> int:
        return sum(self._count(i) for i in self.indicators) * channels

    def context_features(self, past_normalized: torch.Tensor, past_observed: torch.Tensor) -> Optional[torch.Tensor]:
        x = forward_fill(past_normalized, past_observed).to(torch.float64)
        d = difference(x)
        feats = []
        for name in self.indicators:
            if name == "return":
                feats.append(d)
            elif name == "log_return":
                feats.append(torch.sign(d) * torch.log1p(d.abs()))
            elif name == "ma":
                feats.extend(rolling_mean(x, w) for w in self.ma_windows)
            elif name == "rsi":
                gain = rolling_mean(d.clamp_min(0), self.rsi_window)
                loss = rolling_mean((-d).clamp_min(0), self.rsi_window)
                total = gain + loss
                feats.append(
                    torch.where(total > 1e-12, (gain - loss) / total.clamp_min(1e-12), torch.zeros_like(total))
                )
            elif name == "macd":
                fast, slow, signal = self.macd_spans
                macd = ema(x, fast) - ema(x, slow)
                feats.extend([macd, macd - ema(macd, signal)])
            elif name == "bollinger":
                mean = rolling_mean(x, self.bollinger_window)
                band = self.bollinger_k * rolling_std(x, self.bollinger_window)
                feats.append(torch.where(band > 1e-8, (x - mean) / band.clamp_min(1e-8), torch.zeros_like(x)))
            elif name == "volatility":
                feats.append(rolling_std(d, self.volatility_window))
        out = torch.cat(feats, dim=-1).clamp(-self.clip, self.clip)
        return out.to(past_normalized.dtype)
