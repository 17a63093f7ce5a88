"""GraphMem: a graph-native memory engine for LLM agents, on Neo4j."""

from graphmem.models import CubeKind, MemCube, Message, SearchHit, Status
from graphmem.settings import Settings

__version__ = "0.1.0"

__all__ = ["CubeKind", "MemCube", "Message", "SearchHit", "Settings", "Status", "__version__"]
