import os
import warnings
from pathlib import Path

import pytest
import torch
from tiny import quiet_trainer

# tiny test models run fastest on one thread (two threads spin-wait when the machine is busy)
torch.set_num_threads(1)

#: the benchmark datasets beside the checkout (CI has ../shared), or $GLUONTS_DIFFUSION_DATA
DATA_DIR = Path(os.environ.get("GLUONTS_DIFFUSION_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "m4_hourly" / "metadata.json").exists():
        pytest.skip(f"benchmark datasets not found in {DATA_DIR}")
    return DATA_DIR


@pytest.fixture
def trainer_kwargs(tmp_path):
    """Tiny, quiet Lightning settings writing under the test's own folder."""
    return quiet_trainer(tmp_path)


@pytest.fixture
def rectified_path_sde():
    """A registered SDE with ``alpha = 1 - t``, ``sigma = t`` (a rectified-flow path): ``alpha(1) = 0``, which
    DDIM and DPM-Solver divide by, so they refuse it while Euler works. Yields its registry name."""
    from gluonts_diffusion.core import BaseSDE, Registry

    @Registry.register("sde", "_test_rectified_path")
    class RectifiedPath(BaseSDE):
        def alpha(self, t):
            return 1 - t

        def sigma(self, t):
            return t

    yield "_test_rectified_path"
    Registry._components["sde"].pop("_test_rectified_path")
