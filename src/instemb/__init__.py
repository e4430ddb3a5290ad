"""instemb: instruction embeddings that capture the task an instruction asks for."""

from instemb.errors import InstembError
from instemb.models import ALIASES, DEFAULT_MODEL, Embedder, from_model, load
from instemb.prompts import PIE, get_prompt

__version__ = "0.1.0"
__all__ = ["ALIASES", "DEFAULT_MODEL", "Embedder", "InstembError", "PIE", "from_model",
           "get_prompt", "load", "__version__"]
