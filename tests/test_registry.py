"""The registry contract: registration rules, lookups and the error messages users see."""

import pytest

from gluonts_diffusion.core import COMPONENT_KINDS, BaseSampler, BaseSDE, Registry, RegistryError


def test_every_kind_has_builtin_components():
    for kind in COMPONENT_KINDS:
        assert Registry.list(kind), kind
    assert "vpsde" in Registry.list("sde") and "ddim" in Registry.list("sampler")


def test_unknown_name_lists_known_ones():
    with pytest.raises(RegistryError) as err:
        Registry.get("sde", "nosuchsde")
    message = str(err.value)
    assert "nosuchsde" in message
    for name in Registry.list("sde"):
        assert name in message


def test_unknown_kind_lists_kinds():
    with pytest.raises(RegistryError, match="known kinds: .*sampler"):
        Registry.list("samplers_typo")


def test_wrong_parameter_names_itself_and_accepted_ones():
    with pytest.raises(RegistryError) as err:
        Registry.get("sde", "vpsde", beta_mx=3.0)
    assert "beta_mx" in str(err.value) and "beta_max" in str(err.value)


def test_bad_parameter_value_names_component():
    with pytest.raises(ValueError, match="vpsde"):
        Registry.get("sde", "vpsde", beta_min=5.0, beta_max=1.0)


def test_get_builds_with_params():
    sde = Registry.get("sde", "vpsde", beta_min=0.2, beta_max=10.0)
    assert isinstance(sde, BaseSDE) and sde.beta_max == 10.0


def test_duplicate_name_refused():
    with pytest.raises(RegistryError, match="already registered"):

        @Registry.register("sde", "vpsde")
        class Another(Registry.get_class("sde", "vpsde")):
            pass


def test_non_subclass_refused():
    with pytest.raises(RegistryError, match="does not derive from BaseSampler"):

        @Registry.register("sampler", "not_a_sampler")
        class NotASampler:
            pass

    assert "not_a_sampler" not in Registry.list("sampler")


def test_register_new_component_is_one_decorator():
    @Registry.register("sampler", "_test_identity")
    class Identity(BaseSampler):
        """Returns the prior draw unchanged."""

        def sample(self, prediction, x, sde, noise, generator=None):
            return x

    try:
        assert "_test_identity" in Registry.list("sampler")
        assert isinstance(Registry.get("sampler", "_test_identity", num_steps=3), Identity)
    finally:
        Registry._components["sampler"].pop("_test_identity")


@pytest.mark.parametrize("kind", COMPONENT_KINDS)
def test_inspect_every_component(kind):
    for name in Registry.list(kind):
        info = Registry.inspect(kind, name)
        assert info["name"] == name and info["kind"] == kind
        assert info["doc"], f"{kind} {name} has no docstring"
        assert info["signature"].startswith(name + "(")
        assert isinstance(info["parameters"], dict) and info["compatibility"]


def test_inspect_shows_defaults():
    info = Registry.inspect("sde", "vpsde")
    assert info["parameters"]["beta_min"] == 0.1 and info["parameters"]["beta_max"] == 20.0


def test_architectures_take_only_hyper_parameters():
    info = Registry.inspect("architecture", "transformer")
    assert "length" not in info["parameters"] and info["parameters"]["model_dim"] == 64
    with pytest.raises(RegistryError, match="no parameter 'length'; accepted: model_dim"):
        Registry.check_params("architecture", "transformer", {"length": 3})
    arch = Registry.get("architecture", "cnn", residual_channels=8)  # like any other component: no shapes
    assert arch.residual_channels == 8 and not list(arch.parameters())


# --------------------------------------------------------------------------- discovery
SAMPLER_FILE = '''
from gluonts_diffusion.core import BaseSampler, Registry


@Registry.register("sampler", "_test_discovered")
class Discovered(BaseSampler):
    """Returns the prior draw unchanged."""

    def sample(self, denoiser, x, sde, noise, generator=None):
        return x
'''

PACKAGE_INIT = (
    "from gluonts_diffusion.core.discovery import import_submodules\n\nimport_submodules(__name__, __path__)\n"
)


def write_package(root, name, files):
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE_INIT)
    for filename, text in files.items():
        (package / filename).write_text(text)


def test_a_new_component_file_is_discovered(tmp_path, monkeypatch):
    """A package importing its files as the built-in subpackages do: one new file registers a sampler."""
    import importlib

    write_package(tmp_path, "_test_plugins", {"discovered.py": SAMPLER_FILE, "_private.py": "raise RuntimeError"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "_test_discovered" not in Registry.list("sampler")
    try:
        importlib.import_module("_test_plugins")
        assert "_test_discovered" in Registry.list("sampler")
        sampler = Registry.get("sampler", "_test_discovered", num_steps=4)
        assert isinstance(sampler, BaseSampler) and sampler.num_steps == 4
        assert Registry.inspect("sampler", "_test_discovered")["class"] == "_test_plugins.discovered.Discovered"
    finally:
        Registry._components["sampler"].pop("_test_discovered", None)


def test_a_failing_component_import_is_raised(tmp_path, monkeypatch):
    import importlib

    write_package(tmp_path, "_test_broken_plugins", {"broken.py": "import no_such_module_anywhere\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_module_anywhere"):
        importlib.import_module("_test_broken_plugins")


def test_kinds_do_not_depend_on_what_is_imported():
    """A fresh interpreter importing only ``gluonts_diffusion.core`` sees every kind and built-in."""
    import json
    import subprocess
    import sys

    code = (
        "import json; from gluonts_diffusion.core import Registry; "
        "print(json.dumps({k: Registry.list(k) for k in Registry.kinds()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    fresh = json.loads(out.strip().splitlines()[-1])
    assert sorted(fresh) == Registry.kinds() and "experiment" in fresh and "forecast" in fresh["experiment"]
    for kind in COMPONENT_KINDS:
        assert fresh[kind] == [name for name in Registry.list(kind) if not name.startswith("_test")], kind
