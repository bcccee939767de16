"""Demo and benchmark helpers: a TCP fault proxy (``demo.fault_proxy``) that plays a remote
center's bad link, and realistic demo citizens (``demo.people``).

Nothing is re-exported here so that ``python -m demo.fault_proxy`` runs its module fresh
(a package that imports the module it is asked to run makes runpy warn).
"""

from __future__ import annotations

__all__: list[str] = []
