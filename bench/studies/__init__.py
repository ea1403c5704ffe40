"""The background post's experiments: the blend-deblend chain, the grid estimate of the field
and the two objectives' agreement (`blending`); the figures a sweep computes for its report
(`figures`); solver orders on an exact field and a model's error split (`groundtruth`)."""

from bench.studies import blending, figures, groundtruth

__all__ = ["blending", "figures", "groundtruth"]
