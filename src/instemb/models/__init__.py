from instemb.models.embedder import Embedder, from_model, load
from instemb.models.registry import ALIASES, DEFAULT_MODEL

__all__ = ["ALIASES", "DEFAULT_MODEL", "Embedder", "from_model", "load"]
