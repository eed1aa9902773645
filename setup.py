"""Installable package; also the --setup_file for Beam runners' remote workers."""
from setuptools import find_packages, setup

setup(
    name="wire-story-dedup",
    version="0.1.0",
    description="Apache Beam pipeline grouping news-wire stories into variants and stories",
    python_requires=">=3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*",
                                    "schemas", "schemas.*", "dedup", "dedup.*"]),
    package_data={"schemas": ["*.json"]},
    install_requires=[
        "apache-beam>=2.60.0",
        "datasketch>=2.0.0",
        "orjson>=3.9.0",
        "numpy>=1.24",
        "scipy>=1.11",  # sparse products for batch story cosines (datasketch depends on it too)
        "xxhash>=3.4.0",
        "pyyaml>=5.4",  # --config YAML files (Beam depends on it too)
    ],
    extras_require={
        "test": ["pytest>=7.4", "hypothesis>=6.90", "scikit-learn>=1.3"],
    },
)
