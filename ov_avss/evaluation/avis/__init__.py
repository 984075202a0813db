"""Audio-visual instance segmentation metrics: FSLA, HOTA and spatio-temporal mask AP."""
from .evaluate import check_predictions, evaluate_avis, fsla, load_predictions, score_avis, track_predictions
from .fsla import ALPHAS, fsla_video_counts, match_tracks, summarize_fsla
from .track_metrics import hota_and_track_map

__all__ = [
    "ALPHAS",
    "check_predictions",
    "evaluate_avis",
    "fsla",
    "fsla_video_counts",
    "hota_and_track_map",
    "load_predictions",
    "match_tracks",
    "score_avis",
    "summarize_fsla",
    "track_predictions",
]
