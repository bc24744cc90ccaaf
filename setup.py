import re

from setuptools import find_packages, setup

setup(
    name="gluonts-diffusion",
    version=re.search(r'__version__ = "(.+)"', open("gluonts_diffusion/version.py").read()).group(1),
    description="Diffusion models as fully pluggable GluonTS forecasters",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["gluonts_diffusion", "gluonts_diffusion.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.10",
        "lightning>=2.2",
        "gluonts[torch]>=0.16,<0.18",
        "pandas<3",
        "numpy",
        "scipy",
        "PyWavelets",
        "properscoring",
        "numba",
        "pyyaml",
        "matplotlib",
        "tensorboard",
        "optuna>=3.4",
        "tqdm",
    ],
    extras_require={
        "onnx": ["onnx", "onnxscript", "onnxruntime"],
        "wandb": ["wandb"],
        "serve": ["flask>=2", "gunicorn>=21"],
        "ray": ["ray[data]>=2.9"],
        "dev": ["pytest", "pytest-timeout", "httpx", "ruff==0.17.6", "mypy==2.4.1"],
    },
    entry_points={
        "console_scripts": [
            "gluonts-diffusion=gluonts_diffusion.run:main",
            "gluonts-diffusion-compare=gluonts_diffusion.compare:main",
            "gluonts-diffusion-search=gluonts_diffusion.search:main",
            "gluonts-diffusion-catalog=gluonts_diffusion.catalog:main",
            "gluonts-diffusion-predict=gluonts_diffusion.predict:main",
        ]
    },
)
