"""The ``custom`` SDE runs no code named by data unless the user opts in.

A ``"package.module:function"`` name from a config or a saved predictor is refused, before anything is
imported, unless its top-level package is allowed (``$GLUONTS_DIFFUSION_ALLOW_IMPORTS`` or
``allowed_imports``); a name of something that is not a ``def`` function is refused even when allowed.
"""

import json
import sys
import textwrap

import pytest
import yaml
from gluonts.model.predictor import Predictor
from tiny import TINY_CONFIG, tiny_estimator

from gluonts_diffusion import Registry
from gluonts_diffusion.trust import ALLOW_IMPORTS_ENV, allowed_imports

#: a module whose top-level code leaves a trace: it must not run without the opt-in
SIDE_EFFECT = """
    from pathlib import Path

    import torch

    Path(__file__).with_name("{name}.ran").write_text("imported")


    def g(t):
        return torch.ones_like(t)
"""


def refusal(param, spec, package):
    """The one line of a refused name, as ``Registry.get`` raises it."""
    return (
        f"sde 'custom': {param}={spec!r}: importing {package!r} from a config or a saved predictor is not allowed; opt in with "
        f"{ALLOW_IMPORTS_ENV}={package} (or `with allowed_imports({package!r})` in code), or pass the function itself"
    )


@pytest.fixture
def side_effect_module(tmp_path, monkeypatch):
    """(module name, the file its top-level code writes) for a module beside a config, on ``sys.path``."""
    name = "beside_config_fns"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SIDE_EFFECT.format(name=name)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(ALLOW_IMPORTS_ENV, raising=False)
    yield name, tmp_path / f"{name}.ran"
    sys.modules.pop(name, None)


@pytest.mark.parametrize("spec", ["this:x", "sys:exit", "os:system", "beside_config_fns:g", "my_pkg.sub:fn"])
def test_names_are_refused_before_import_without_opt_in(spec, side_effect_module, capsys):
    modules = set(sys.modules)
    with pytest.raises(ValueError) as err:
        Registry.get("sde", "custom", diffusion_fn=spec)
    assert str(err.value) == refusal("diffusion_fn", spec, spec.split(":")[0].split(".")[0])
    assert set(sys.modules) == modules  # nothing imported
    assert not side_effect_module[1].exists()
    assert capsys.readouterr().out == ""  # "this" would print the Zen of Python


@pytest.mark.parametrize(
    "spec, kind",
    [
        ("sys:exit", "builtin_function_or_method"),
        ("collections:OrderedDict", "type"),
        ("math:pi", "float"),
        ("math:sqrt", "builtin_function_or_method"),
    ],
)
def test_only_python_functions_even_when_allowed(spec, kind, monkeypatch):
    monkeypatch.setenv(ALLOW_IMPORTS_ENV, spec.split(":")[0])
    with pytest.raises(ValueError) as err:  # sys.exit would raise SystemExit, not ValueError
        Registry.get("sde", "custom", drift_fn=spec, diffusion_fn=spec)
    assert (
        str(err.value) == f"sde 'custom': drift_fn={spec!r} is a {kind}, not a Python function (def): name a function"
    )


@pytest.mark.parametrize("opt_in", [None, "beside_config_fns", " other_pkg, beside_config_fns "])
def test_opt_in_allows_the_module(opt_in, side_effect_module, monkeypatch):
    """From code (``allowed_imports``, only within its block) or from the environment (one package or a list)."""
    name, trace = side_effect_module
    if opt_in:
        monkeypatch.setenv(ALLOW_IMPORTS_ENV, opt_in)
    with allowed_imports() if opt_in else allowed_imports(name):
        sde = Registry.get("sde", "custom", diffusion_fn=f"{name}:g")
    assert trace.exists() and sde.diffusion_fn == f"{name}:g"
    monkeypatch.delenv(ALLOW_IMPORTS_ENV, raising=False)
    with pytest.raises(ValueError) as err:
        Registry.get("sde", "custom", diffusion_fn=f"{name}:g")
    assert str(err.value) == refusal("diffusion_fn", f"{name}:g", name)


def test_callables_from_code_need_no_opt_in():
    import custom_sde_fns

    sde = Registry.get("sde", "custom", drift_fn=custom_sde_fns.vp_drift, diffusion_fn=custom_sde_fns.vp_diffusion)
    assert sde.drift_fn == f"{custom_sde_fns.__name__}:vp_drift"


def test_validate_only_refuses_without_running(side_effect_module, tmp_path, capsys):
    from gluonts_diffusion.run import main

    config = json.loads(json.dumps(TINY_CONFIG))
    config["components"]["sde"] = {"type": "custom", "params": {"drift_fn": "this:x", "diffusion_fn": "sys:exit"}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path), "--validate-only"]) == 2
    captured = capsys.readouterr()
    assert refusal("drift_fn", "this:x", "this") in captured.err
    assert "Beautiful is better than ugly" not in captured.out + captured.err


def test_edited_saved_predictor_is_refused_and_runs_nothing(side_effect_module, trainer_kwargs, tmp_path):
    name, trace = side_effect_module
    import custom_sde_fns

    spec = f"{custom_sde_fns.__name__}:ve_diffusion"  # named as in a config, by the user who opted in
    with allowed_imports(custom_sde_fns.__name__.split(".")[0]):
        estimator = tiny_estimator(trainer_kwargs, sde="custom", sde_kwargs={"diffusion_fn": spec, "eps": 1e-5})
        predictor = estimator.create_predictor(estimator.create_transformation(), estimator.create_lightning_module())
    (tmp_path / "model").mkdir()
    predictor.serialize(tmp_path / "model")
    edited = [
        p for p in (tmp_path / "model").iterdir() if "custom_sde_fns:ve_diffusion" in p.read_text(errors="ignore")
    ]
    assert edited, "the saved predictor names its custom SDE's function"
    for path in edited:
        path.write_text(path.read_text().replace(f"{custom_sde_fns.__name__}:ve_diffusion", f"{name}:g"))
    modules = set(sys.modules)
    with pytest.raises(Exception) as err:
        Predictor.deserialize(tmp_path / "model")
    assert refusal("diffusion_fn", f"{name}:g", name) in str(err.value)
    assert not trace.exists() and name not in set(sys.modules) - modules
    with allowed_imports(name):  # the user's opt-in makes the same files load
        Predictor.deserialize(tmp_path / "model")
    assert trace.exists()
