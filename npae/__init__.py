"""npae: autoencoders in pure NumPy, with every gradient derived by hand and checked."""
__version__ = "0.1.0"
