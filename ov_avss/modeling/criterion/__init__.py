"""Hungarian matcher, point-sampled mask losses and the set criterion."""
from .matcher import VideoHungarianMatcher
from .point_sampling import point_sample, uncertain_point_coords_with_randomness
from .set_criterion import VideoSetCriterion

__all__ = ["VideoHungarianMatcher", "VideoSetCriterion", "point_sample", "uncertain_point_coords_with_randomness"]
