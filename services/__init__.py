"""The five services. None imports another's modules: they talk through events."""
