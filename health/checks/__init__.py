"""Data Health's computations: plain functions on numpy arrays (no Django), tested on small arrays.

``duplicates`` (near-duplicate pairs and clusters from embeddings + perceptual hashes), ``mislabels``
(out-of-fold probabilities and confident learning), ``boxes`` (detection box checks) and ``balance``.
"""
