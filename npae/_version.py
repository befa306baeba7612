"""The version of npae: written into every checkpoint (npae.persistence), read by setup.cfg."""
__version__ = "0.1.0"
