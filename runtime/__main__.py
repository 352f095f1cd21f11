from .process import entry

entry()
