"""Every vendor Vectis connects to, listed explicitly (CONVENTIONS #5). Adding a vendor is one line here,
one connector module, one simulator module and one test module."""

from __future__ import annotations

from vectis.connectors.base import Connector
from vectis.connectors.connectwise import ConnectWiseConnector
from vectis.connectors.defender import DefenderConnector
from vectis.connectors.eset import EsetConnector
from vectis.connectors.huntress import HuntressConnector
from vectis.connectors.keepit import KeepitConnector
from vectis.connectors.m365 import M365Connector
from vectis.connectors.ninjaone import NinjaOneConnector
from vectis.connectors.pax8 import Pax8Connector
from vectis.connectors.sentinelone import SentinelOneConnector
from vectis.connectors.veeam import VeeamConnector

CONNECTORS: dict[str, type[Connector]] = {
    ConnectWiseConnector.key: ConnectWiseConnector,
    VeeamConnector.key: VeeamConnector,
    KeepitConnector.key: KeepitConnector,
    NinjaOneConnector.key: NinjaOneConnector,
    SentinelOneConnector.key: SentinelOneConnector,
    EsetConnector.key: EsetConnector,
    HuntressConnector.key: HuntressConnector,
    DefenderConnector.key: DefenderConnector,
    M365Connector.key: M365Connector,
    Pax8Connector.key: Pax8Connector,
}


def label(key: str) -> str:
    """What people call the vendor ("Veeam Service Provider Console"); a vendor since removed keeps its key."""
    try:
        return get(key).label
    except LookupError:
        return key.title()


def get(key: str) -> type[Connector]:
    try:
        return CONNECTORS[key]
    except KeyError:
        raise LookupError(f"unknown vendor {key!r}") from None
