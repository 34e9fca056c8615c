"""TDMI Workbench: temporal-difference, mutual-information pose estimation in video."""

__version__ = "0.1.0"
