"""Install ov_avss. The CUDA extension for multi-scale deformable attention is optional: see
ov_avss/ops/README or docs/ops.md."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def read_requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="ov_avss",
    version="0.1.0",
    description="Open-vocabulary audio-visual semantic segmentation",
    packages=find_packages(include=["ov_avss", "ov_avss.*"]),
    package_data={"ov_avss": ["data/avsbench_ov_split.json", "**/*.json", "**/*.cu", "**/*.cpp", "**/*.h"]},
    python_requires=">=3.10",
    install_requires=read_requirements(),
)
