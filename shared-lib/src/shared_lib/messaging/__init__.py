from .broker import Broker, BrokerUnavailable, OutgoingMessage, Unroutable
from .topology import Topology, build_topology, declare_topology

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "OutgoingMessage",
    "Topology",
    "Unroutable",
    "build_topology",
    "declare_topology",
]
