"""Nemeses: faults on processes and on the links between them."""

from labkit.faults.proxy import ANY, Direction, FaultProxy, LinkFault, ProxyHub

__all__ = ["ANY", "Direction", "FaultProxy", "LinkFault", "ProxyHub"]
