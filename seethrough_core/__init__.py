"""Everything before a rig exists: the layer taxonomy, the Character model, PSD read/write."""
from .character import Character, InputError, Layer
from .loading import load_character

__all__ = ["Character", "Layer", "InputError", "load_character"]
