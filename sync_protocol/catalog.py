"""The service catalog: which services a center offers, who owns them, what they cost,
which documents the citizen brings and which agencies must approve them. The hub is its
only author; edges install versions.

A catalog is a numbered, immutable version. On the wire it is a JSON object with exactly
the keys below; anything else is rejected, never repaired, so every edge installing
version N holds byte-for-byte the same catalog as the hub. Fees are indicative base fees
in integer piasters (a center may collect a different amount for a given case, e.g. a
proportional registration fee); the transaction record carries what was actually paid.

Two formats. Format 2 lists the agencies and, per service, the agencies whose approval a
transaction needs (``approvals``, zero or more: the one-stop promise)::

    {"version": 2, "agencies": [{"code": "civil-defense", "name_ar": "...",
      "name_en": "..."}], "services": [{"code": "LIC-SHOP", "name_ar": "...",
      "name_en": "...", "category": "commerce", "agency_code": "local-unit",
      "agency_ar": "...", "agency_en": "...", "fee_piasters": 2500, "active": true,
      "required_documents": [{"name_ar": "...", "name_en": "..."}],
      "approvals": ["civil-defense", "health", "local-unit"]}]}

Format 1, the previous release's, has neither key (no service needs an approval); it is
still read, and an edge of that release only ever receives format 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from sync_protocol.errors import CatalogError, TextError, ValidationError
from sync_protocol.payload import encode_json
from sync_protocol.records import (
    MAX_FEE_PIASTERS,
    SERVICE_CODE_PATTERN,
    check_required_agencies,
)
from sync_protocol.text import clean_text, require_slug

__all__ = [
    "CATEGORIES",
    "MAX_CATALOG_AGENCIES",
    "MAX_CATALOG_NAME_CHARS",
    "MAX_CATALOG_SERVICES",
    "MAX_REQUIRED_DOCUMENTS",
    "Agency",
    "Catalog",
    "CatalogError",
    "Category",
    "RequiredDocument",
    "Service",
    "catalog_to_dict",
    "check_upgrade",
    "encode_catalog",
    "parse_catalog",
]

MAX_CATALOG_NAME_CHARS: Final = 200
MAX_CATALOG_SERVICES: Final = 2000
MAX_CATALOG_AGENCIES: Final = 500
MAX_REQUIRED_DOCUMENTS: Final = 20

Category = Literal[
    "civil_status",
    "passports",
    "social_solidarity",
    "social_insurance",
    "traffic",
    "real_estate",
    "health",
    "education",
    "tax",
    "labor",
    "courts",
    "utilities",
    "supply",
    "commerce",
    "other",
]
CATEGORIES: Final[tuple[Category, ...]] = get_args(Category)


def _canonical_name(value: object, field: str) -> str:
    try:
        cleaned = clean_text(value, field=field, max_chars=MAX_CATALOG_NAME_CHARS)
    except TextError as error:
        raise CatalogError(str(error), field=field) from None
    if cleaned != value:
        raise CatalogError(f"{field} is not in canonical form (NFC, trimmed)", field=field)
    return cleaned


def _check_code(value: object) -> str:
    if not isinstance(value, str) or SERVICE_CODE_PATTERN.fullmatch(value) is None:
        raise CatalogError(
            "code must look like CIV-BIRTH (uppercase ASCII letters and digits, one '-')",
            field="code",
        )
    return value


def _check_slug(value: object, field: str) -> str:
    try:
        return require_slug(value, field=field)
    except TextError as error:
        raise CatalogError(str(error), field=field) from None


@dataclass(frozen=True, slots=True)
class Agency:
    """A government body that owns services or approves transactions (جهة)."""

    code: str
    name_ar: str
    name_en: str

    def __post_init__(self) -> None:
        _check_slug(self.code, "code")
        _canonical_name(self.name_ar, "name_ar")
        _canonical_name(self.name_en, "name_en")


@dataclass(frozen=True, slots=True)
class RequiredDocument:
    """A document the citizen must bring, e.g. صورة بطاقة الرقم القومي."""

    name_ar: str
    name_en: str

    def __post_init__(self) -> None:
        _canonical_name(self.name_ar, "name_ar")
        _canonical_name(self.name_en, "name_en")


@dataclass(frozen=True, slots=True)
class Service:
    """One government service offered at the centers (خدمة)."""

    code: str
    name_ar: str
    name_en: str
    category: Category
    agency_code: str
    agency_ar: str
    agency_en: str
    fee_piasters: int
    required_documents: tuple[RequiredDocument, ...]
    active: bool
    # The agencies whose approval a transaction of this service needs (sorted, each
    # once); None in a format 1 catalog, which has no such key.
    approvals: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_code(self.code)
        _canonical_name(self.name_ar, "name_ar")
        _canonical_name(self.name_en, "name_en")
        if self.category not in CATEGORIES:
            raise CatalogError(f"category must be one of {', '.join(CATEGORIES)}", field="category")
        _check_slug(self.agency_code, "agency_code")
        _canonical_name(self.agency_ar, "agency_ar")
        _canonical_name(self.agency_en, "agency_en")
        fee = self.fee_piasters
        if type(fee) is not int or not 0 <= fee <= MAX_FEE_PIASTERS:
            raise CatalogError(
                f"fee_piasters must be an integer from 0 to {MAX_FEE_PIASTERS}",
                field="fee_piasters",
            )
        documents = self.required_documents
        if not isinstance(documents, tuple) or not all(
            isinstance(document, RequiredDocument) for document in documents
        ):
            raise CatalogError(
                "required_documents must be a tuple of RequiredDocument",
                field="required_documents",
            )
        if len(documents) > MAX_REQUIRED_DOCUMENTS:
            raise CatalogError(
                f"required_documents holds {len(documents)} documents; "
                f"at most {MAX_REQUIRED_DOCUMENTS} are allowed",
                field="required_documents",
            )
        if len(set(documents)) != len(documents):
            raise CatalogError(
                "required_documents lists the same document twice", field="required_documents"
            )
        if type(self.active) is not bool:
            raise CatalogError("active must be true or false", field="active")
        if self.approvals is not None:
            try:
                check_required_agencies(self.approvals)
            except ValidationError as error:
                raise CatalogError(
                    str(error).replace("required_agencies", "approvals"), field="approvals"
                ) from None

    @property
    def required_agencies(self) -> tuple[str, ...]:
        """What a transaction of this service needs approved (none in format 1)."""
        return self.approvals or ()


@dataclass(frozen=True, slots=True)
class Catalog:
    """One version of the whole catalog. Codes are unique; one agency code, one name.

    ``agencies`` is None in format 1 (and then no service has ``approvals``); in format 2
    it lists every agency a service names, as owner or as approver."""

    version: int
    services: tuple[Service, ...]
    agencies: tuple[Agency, ...] | None = None
    _by_code: dict[str, Service] = field(init=False, repr=False, compare=False, hash=False)
    _agencies: dict[str, Agency] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if type(self.version) is not int or self.version < 1:
            raise CatalogError("version must be an integer of at least 1", field="version")
        services = self.services
        if not isinstance(services, tuple) or not all(
            isinstance(service, Service) for service in services
        ):
            raise CatalogError("services must be a tuple of Service", field="services")
        if not 1 <= len(services) <= MAX_CATALOG_SERVICES:
            raise CatalogError(
                f"a catalog holds 1 to {MAX_CATALOG_SERVICES} services, not {len(services)}",
                field="services",
            )
        index: dict[str, int] = {}
        owners: dict[str, int] = {}
        for position, service in enumerate(services):
            where = f"services[{position}] ({service.code})"
            first = index.setdefault(service.code, position)
            if first != position:
                raise CatalogError(
                    f"{where}: duplicate code (first at services[{first}])", field="code"
                )
            # One agency, one name: the UI groups services by agency_code.
            owner = services[owners.setdefault(service.agency_code, position)]
            if (owner.agency_ar, owner.agency_en) != (service.agency_ar, service.agency_en):
                raise CatalogError(
                    f"{where}: agency {service.agency_code} is named differently than in "
                    f"services[{owners[service.agency_code]}]",
                    field="agency_ar",
                )
        agencies = self._check_agencies()
        object.__setattr__(self, "_by_code", {service.code: service for service in services})
        object.__setattr__(self, "_agencies", agencies)

    def _check_agencies(self) -> dict[str, Agency]:
        """The agencies by code; in format 1 named by the services that own them."""
        if self.agencies is None:
            for position, service in enumerate(self.services):
                if service.approvals is not None:
                    raise CatalogError(
                        f"services[{position}] ({service.code}): approvals need the "
                        "catalog's agencies list",
                        field="approvals",
                    )
            return {
                service.agency_code: Agency(
                    service.agency_code, service.agency_ar, service.agency_en
                )
                for service in reversed(self.services)
            }
        agencies = self.agencies
        if not isinstance(agencies, tuple) or not all(isinstance(a, Agency) for a in agencies):
            raise CatalogError("agencies must be a tuple of Agency", field="agencies")
        if len(agencies) > MAX_CATALOG_AGENCIES:
            raise CatalogError(
                f"a catalog lists at most {MAX_CATALOG_AGENCIES} agencies", field="agencies"
            )
        by_code: dict[str, Agency] = {}
        for position, agency in enumerate(agencies):
            if by_code.setdefault(agency.code, agency) is not agency:
                raise CatalogError(
                    f"agencies[{position}] ({agency.code}): duplicate code", field="code"
                )
        for position, service in enumerate(self.services):
            where = f"services[{position}] ({service.code})"
            owner = by_code.get(service.agency_code)
            if owner is None or (owner.name_ar, owner.name_en) != (
                service.agency_ar,
                service.agency_en,
            ):
                raise CatalogError(
                    f"{where}: agency {service.agency_code} is not in the agencies list "
                    "under the same names",
                    field="agency_code",
                )
            if service.approvals is None:
                raise CatalogError(f"{where}: approvals is missing", field="approvals")
            unknown = [code for code in service.approvals if code not in by_code]
            if unknown:
                raise CatalogError(
                    f"{where}: approvals name agencies not in the agencies list: "
                    f"{', '.join(unknown)}",
                    field="approvals",
                )
        return by_code

    @property
    def format(self) -> int:
        """1 without agencies and approvals (the previous release's), 2 with them."""
        return 1 if self.agencies is None else 2

    def by_code(self, code: str) -> Service | None:
        """The service with this code, active or not, or None if the catalog has none."""
        return self._by_code.get(code)

    def agency(self, code: str) -> Agency | None:
        """The agency with this code (in format 1: one that owns a service), or None."""
        return self._agencies.get(code)

    def agency_codes(self) -> tuple[str, ...]:
        """Every agency code, sorted."""
        return tuple(sorted(self._agencies))

    def required_agencies(self, code: str) -> tuple[str, ...]:
        """The approvals service ``code`` needs; none for a service this catalog lacks."""
        service = self._by_code.get(code)
        return () if service is None else service.required_agencies

    def owner_of(self, code: str) -> str | None:
        """The agency that owns service ``code``: the one that decided a transaction of
        the previous release (whose record lists no approvals)."""
        service = self._by_code.get(code)
        return None if service is None else service.agency_code

    def fee_for(self, code: str) -> int:
        """The indicative fee of service ``code`` in piasters, inactive services included:
        a transaction recorded offline may name a service retired since."""
        service = self._by_code.get(code)
        if service is None:
            raise CatalogError(
                f"service {code!r:.40} is not in catalog version {self.version}",
                field="service_code",
            )
        return service.fee_piasters


_CATALOG_KEYS: Final = frozenset({"version", "services"})
_CATALOG_KEYS_V2: Final = frozenset({"version", "agencies", "services"})
_AGENCY_KEYS: Final = frozenset({"code", "name_ar", "name_en"})
_SERVICE_KEYS: Final = frozenset(
    {
        "code",
        "name_ar",
        "name_en",
        "category",
        "agency_code",
        "agency_ar",
        "agency_en",
        "fee_piasters",
        "required_documents",
        "active",
    }
)
_SERVICE_KEYS_V2: Final = _SERVICE_KEYS | {"approvals"}
_DOCUMENT_KEYS: Final = frozenset({"name_ar", "name_en"})


def _object(data: object, expected: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise CatalogError(f"{what} must be a JSON object")
    keys = set(data.keys())
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(str(k) for k in keys - expected)
        problems = []
        if missing:
            problems.append(f"missing keys {missing}")
        if extra:
            problems.append(f"unknown keys {extra}")
        raise CatalogError(f"{what} has {' and '.join(problems)}")
    return data


def _array(value: object, field: str, limit: int) -> list[object]:
    if not isinstance(value, list):
        raise CatalogError(f"{field} must be a JSON array", field=field)
    if len(value) > limit:
        raise CatalogError(
            f"{field} holds {len(value)} items; at most {limit} are allowed", field=field
        )
    return value


def _parse_service(data: object, keys: frozenset[str]) -> Service:
    item = _object(data, keys, "a service")
    items = _array(item["required_documents"], "required_documents", MAX_REQUIRED_DOCUMENTS)
    documents = []
    for position, document in enumerate(items):
        try:
            names = _object(document, _DOCUMENT_KEYS, "a document")
            documents.append(RequiredDocument(names["name_ar"], names["name_en"]))
        except CatalogError as error:
            raise CatalogError(
                f"required_documents[{position}]: {error}", field=error.field
            ) from None
    return Service(
        code=item["code"],
        name_ar=item["name_ar"],
        name_en=item["name_en"],
        category=item["category"],
        agency_code=item["agency_code"],
        agency_ar=item["agency_ar"],
        agency_en=item["agency_en"],
        fee_piasters=item["fee_piasters"],
        required_documents=tuple(documents),
        active=item["active"],
        approvals=_approvals(item["approvals"]) if "approvals" in item else None,
    )


def _approvals(value: object) -> tuple[str, ...]:
    # Checked element by element by the service (slugs, sorted, at most a few).
    return tuple(_array(value, "approvals", MAX_CATALOG_AGENCIES))  # type: ignore[arg-type]


def _parse_agencies(value: object) -> tuple[Agency, ...]:
    agencies = []
    for position, item in enumerate(_array(value, "agencies", MAX_CATALOG_AGENCIES)):
        try:
            names = _object(item, _AGENCY_KEYS, "an agency")
            agencies.append(Agency(names["code"], names["name_ar"], names["name_en"]))
        except CatalogError as error:
            raise CatalogError(f"agencies[{position}]: {error}", field=error.field) from None
    return tuple(agencies)


def parse_catalog(data: object) -> Catalog:
    """Parse the JSON-ready form of a catalog (either format); any deviation raises
    :class:`CatalogError` naming the service (index and code) and the field."""
    v2 = isinstance(data, Mapping) and "agencies" in data
    top = _object(data, _CATALOG_KEYS_V2 if v2 else _CATALOG_KEYS, "the catalog")
    agencies = _parse_agencies(top["agencies"]) if v2 else None
    service_keys = _SERVICE_KEYS_V2 if v2 else _SERVICE_KEYS
    items = _array(top["services"], "services", MAX_CATALOG_SERVICES)
    services = []
    for position, item in enumerate(items):
        try:
            services.append(_parse_service(item, service_keys))
        except CatalogError as error:
            code = item.get("code") if isinstance(item, Mapping) else None
            named = isinstance(code, str) and SERVICE_CODE_PATTERN.fullmatch(code) is not None
            where = f"services[{position}] ({code})" if named else f"services[{position}]"
            raise CatalogError(f"{where}: {error}", field=error.field) from None
    return Catalog(version=top["version"], services=tuple(services), agencies=agencies)


def catalog_to_dict(catalog: Catalog) -> dict[str, object]:
    """The JSON-ready form of ``catalog``, the inverse of :func:`parse_catalog`."""
    services: list[dict[str, object]] = [
        {
            "code": service.code,
            "name_ar": service.name_ar,
            "name_en": service.name_en,
            "category": service.category,
            "agency_code": service.agency_code,
            "agency_ar": service.agency_ar,
            "agency_en": service.agency_en,
            "fee_piasters": service.fee_piasters,
            "required_documents": [
                {"name_ar": document.name_ar, "name_en": document.name_en}
                for document in service.required_documents
            ],
            "active": service.active,
        }
        | ({} if service.approvals is None else {"approvals": list(service.approvals)})
        for service in catalog.services
    ]
    if catalog.agencies is None:
        return {"version": catalog.version, "services": services}
    agencies = [
        {"code": agency.code, "name_ar": agency.name_ar, "name_en": agency.name_en}
        for agency in catalog.agencies
    ]
    return {"version": catalog.version, "agencies": agencies, "services": services}


def encode_catalog(catalog: Catalog) -> bytes:
    """The canonical JSON bytes of ``catalog`` (sorted keys, compact, UTF-8)."""
    return encode_json(catalog_to_dict(catalog))


def check_upgrade(current: Catalog | None, incoming: Catalog) -> None:
    """Raise :class:`CatalogError` unless an edge holding ``current`` may install
    ``incoming``: a higher version, or the very same catalog again (idempotent).

    A higher version keeps every service (retired ones stay, ``active: false``) with the
    same owning agency, and keeps the format: a transaction of the previous release is
    decided by its service's owner, so the owner of a code never changes."""
    if current is None:
        return
    if incoming.version > current.version:
        if incoming.format < current.format:
            raise CatalogError(
                f"catalog version {incoming.version} drops the agencies list of version "
                f"{current.version}",
                field="agencies",
            )
        for service in current.services:
            kept = incoming.by_code(service.code)
            if kept is None:
                raise CatalogError(
                    f"catalog version {incoming.version} drops service {service.code}; "
                    "retire it with active: false instead",
                    field="services",
                )
            if kept.agency_code != service.agency_code:
                raise CatalogError(
                    f"catalog version {incoming.version} moves service {service.code} from "
                    f"agency {service.agency_code} to {kept.agency_code}; a service keeps "
                    "its owning agency (add a new service code instead)",
                    field="agency_code",
                )
        return
    if incoming.version < current.version:
        raise CatalogError(
            f"catalog version {incoming.version} is older than the installed version "
            f"{current.version}",
            field="version",
        )
    if incoming != current:
        raise CatalogError(
            f"catalog version {incoming.version} differs from the installed catalog of the "
            "same version; a changed catalog needs a new version number",
            field="version",
        )
