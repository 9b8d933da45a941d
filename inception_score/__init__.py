"""Inception score (Salimans et al., 2016, Sec. 4) and FID on the 2015 Inception graph; see ``model.py``."""
from inception_score.model import get_fid, get_inception_score, get_kl_terms  # noqa: F401
