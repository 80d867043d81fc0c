"""nlpkit: a Keras 3 / TensorFlow application template for NLP.

Importing nlpkit has no side effects: no downloads, no global seeds, no environment variables.
"""

__version__ = "0.1.0"
