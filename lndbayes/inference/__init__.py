"""Inference: sampling (compiled-model reuse, retries), the posterior cache, diagnostics.

``sampling`` (sample, sample_with_retry), ``cache`` (hash_payload, model_code_hash,
cache_load, cache_save), ``diagnostics`` (diagnose, THRESHOLDS), ``convergence`` (R-hat, ESS).
"""

from lndbayes.inference.cache import cache_load, cache_save, hash_payload, model_code_hash
from lndbayes.inference.diagnostics import RETRIES, THRESHOLDS, diagnose
from lndbayes.inference.sampling import (DEFAULT_TARGET_ACCEPT, clear_compiled_cache,
                                         compiled_cache_size, sample, sample_with_retry)

__all__ = ["DEFAULT_TARGET_ACCEPT", "RETRIES", "THRESHOLDS", "cache_load", "cache_save",
           "clear_compiled_cache", "compiled_cache_size", "diagnose", "hash_payload",
           "model_code_hash", "sample", "sample_with_retry"]
