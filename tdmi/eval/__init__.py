"""Evaluation: heatmap decoding, PoseTrack AP exactly as poseval, COCO OKS AP, result files."""
