from .broker import Broker, OutgoingMessage, Unroutable
from .topology import Topology, build_topology, declare_topology

__all__ = ["Broker", "OutgoingMessage", "Topology", "Unroutable", "build_topology",
           "declare_topology"]
