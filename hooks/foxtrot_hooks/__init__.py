"""foxtrot-hooks: the adapter contract shared by the foxtrot host and adapter plugins."""

from foxtrot_hooks._version import __version__

__all__ = ["__version__"]
