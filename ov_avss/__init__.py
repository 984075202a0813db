"""ov_avss: open-vocabulary audio-visual semantic segmentation."""

__version__ = "0.1.0"
