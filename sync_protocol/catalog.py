"""The service catalog: which services a center offers, who owns them, what they cost and
which documents the citizen brings. The hub is its only author; edges install versions.

A catalog is a numbered, immutable version. On the wire it is a JSON object with exactly
the keys below; anything else is rejected, never repaired, so every edge installing
version N holds byte-for-byte the same catalog as the hub. Fees are indicative base fees
in integer piasters (a center may collect a different amount for a given case, e.g. a
proportional registration fee); the transaction record carries what was actually paid.

::

    {"version": 1, "services": [{"code": "CIV-BIRTH", "name_ar": "...", "name_en": "...",
      "category": "civil_status", "agency_code": "civil-status", "agency_ar": "...",
      "agency_en": "...", "fee_piasters": 2500, "active": true,
      "required_documents": [{"name_ar": "...", "name_en": "..."}]}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from sync_protocol.errors import CatalogError, TextError
from sync_protocol.payload import encode_json
from sync_protocol.records import MAX_FEE_PIASTERS, SERVICE_CODE_PATTERN
from sync_protocol.text import clean_text, require_slug

__all__ = [
    "CATEGORIES",
    "MAX_CATALOG_NAME_CHARS",
    "MAX_CATALOG_SERVICES",
    "MAX_REQUIRED_DOCUMENTS",
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

    def __post_init__(self) -> None:
        _check_code(self.code)
        _canonical_name(self.name_ar, "name_ar")
        _canonical_name(self.name_en, "name_en")
        if self.category not in CATEGORIES:
            raise CatalogError(f"category must be one of {', '.join(CATEGORIES)}", field="category")
        try:
            require_slug(self.agency_code, field="agency_code")
        except TextError as error:
            raise CatalogError(str(error), field="agency_code") from None
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


@dataclass(frozen=True, slots=True)
class Catalog:
    """One version of the whole catalog. Codes are unique; one agency code, one name."""

    version: int
    services: tuple[Service, ...]
    _by_code: dict[str, Service] = field(init=False, repr=False, compare=False, hash=False)

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
        agencies: dict[str, int] = {}
        for position, service in enumerate(services):
            where = f"services[{position}] ({service.code})"
            first = index.setdefault(service.code, position)
            if first != position:
                raise CatalogError(
                    f"{where}: duplicate code (first at services[{first}])", field="code"
                )
            # One agency, one name: the UI groups services by agency_code.
            owner = services[agencies.setdefault(service.agency_code, position)]
            if (owner.agency_ar, owner.agency_en) != (service.agency_ar, service.agency_en):
                raise CatalogError(
                    f"{where}: agency {service.agency_code} is named differently than in "
                    f"services[{agencies[service.agency_code]}]",
                    field="agency_ar",
                )
        object.__setattr__(self, "_by_code", {service.code: service for service in services})

    def by_code(self, code: str) -> Service | None:
        """The service with this code, active or not, or None if the catalog has none."""
        return self._by_code.get(code)

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


def _parse_service(data: object) -> Service:
    item = _object(data, _SERVICE_KEYS, "a service")
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
    )


def parse_catalog(data: object) -> Catalog:
    """Parse the JSON-ready form of a catalog; any deviation raises :class:`CatalogError`
    naming the service (index and code) and the field."""
    top = _object(data, _CATALOG_KEYS, "the catalog")
    items = _array(top["services"], "services", MAX_CATALOG_SERVICES)
    services = []
    for position, item in enumerate(items):
        try:
            services.append(_parse_service(item))
        except CatalogError as error:
            code = item.get("code") if isinstance(item, Mapping) else None
            named = isinstance(code, str) and SERVICE_CODE_PATTERN.fullmatch(code) is not None
            where = f"services[{position}] ({code})" if named else f"services[{position}]"
            raise CatalogError(f"{where}: {error}", field=error.field) from None
    return Catalog(version=top["version"], services=tuple(services))


def catalog_to_dict(catalog: Catalog) -> dict[str, object]:
    """The JSON-ready form of ``catalog``, the inverse of :func:`parse_catalog`."""
    return {
        "version": catalog.version,
        "services": [
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
            for service in catalog.services
        ],
    }


def encode_catalog(catalog: Catalog) -> bytes:
    """The canonical JSON bytes of ``catalog`` (sorted keys, compact, UTF-8)."""
    return encode_json(catalog_to_dict(catalog))


def check_upgrade(current: Catalog | None, incoming: Catalog) -> None:
    """Raise :class:`CatalogError` unless an edge holding ``current`` may install
    ``incoming``: a higher version, or the very same catalog again (idempotent)."""
    if current is None or incoming.version > current.version:
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
