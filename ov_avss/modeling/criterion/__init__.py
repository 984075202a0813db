"""Hungarian matcher, point-sampled mask losses, the set-criterion core and OV-AVSS's criterion."""
from .matcher import VideoHungarianMatcher
from .point_sampling import point_sample, uncertain_point_coords_with_randomness
from .set_criterion import SetCriterion
from .video_set_criterion import VideoSetCriterion

__all__ = [
    "SetCriterion",
    "VideoHungarianMatcher",
    "VideoSetCriterion",
    "point_sample",
    "uncertain_point_coords_with_randomness",
]
