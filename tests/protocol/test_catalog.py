"""Unit tests of the service catalog (sync_protocol.catalog): the shipped catalog file,
strict parsing, canonical encoding and the edge's version upgrade rule."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import ValidationError, decode_json
from sync_protocol.catalog import (
    CATEGORIES,
    MAX_CATALOG_SERVICES,
    MAX_REQUIRED_DOCUMENTS,
    Catalog,
    CatalogError,
    RequiredDocument,
    catalog_to_dict,
    check_upgrade,
    encode_catalog,
    parse_catalog,
)

CATALOG_PATH = Path(__file__).parents[2] / "central_hub/data/catalog.json"


def _service(code: Any = "CIV-BIRTH", **changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "code": code,
        "name_ar": "مستخرج شهادة ميلاد مميكنة",
        "name_en": "Computerized birth certificate extract",
        "category": "civil_status",
        "agency_code": "civil-status",
        "agency_ar": "مصلحة الأحوال المدنية",
        "agency_en": "Civil Status Organization",
        "fee_piasters": 2500,
        "required_documents": [
            {"name_ar": "صورة بطاقة الرقم القومي", "name_en": "Copy of the national ID card"}
        ],
        "active": True,
    }
    return wire | changes


def _wire(*services: Any, version: Any = 1) -> dict[str, Any]:
    return {"version": version, "services": list(services) or [_service()]}


def _shipped_wire() -> object:
    # decode_json, not json.loads: a duplicate key in the file must fail, not win silently.
    return decode_json(CATALOG_PATH.read_bytes())


def _shipped() -> Catalog:
    return parse_catalog(_shipped_wire())


# --- the shipped catalog ------------------------------------------------------------------


def test_shipped_catalog_parses_with_enough_services() -> None:
    catalog = _shipped()
    assert (catalog.version, catalog.format) == (2, 2)
    assert len(catalog.services) >= 40


def test_shipped_catalog_needs_one_to_three_approvals_for_a_realistic_share() -> None:
    services = _shipped().services
    counts = [len(service.required_agencies) for service in services]
    assert 0.3 <= sum(1 for n in counts if n) / len(counts) <= 0.7
    assert {0, 1, 2, 3} <= set(counts) and max(counts) == 3


def test_shipped_catalog_has_the_one_stop_examples() -> None:
    catalog = _shipped()
    assert catalog.required_agencies("LIC-SHOP") == ("civil-defense", "health", "local-unit")
    assert catalog.required_agencies("CIV-BIRTH") == ()  # issued at the counter
    for code in catalog.agency_codes():
        agency = catalog.agency(code)
        assert agency is not None and agency.name_ar and agency.name_en


def test_shipped_catalog_keeps_every_service_of_version_1_with_its_owner() -> None:
    # The catalog the previous release shipped, kept as it was published.
    previous = CATALOG_PATH.parents[2] / "tests/vectors/catalog_previous_release.json"
    check_upgrade(parse_catalog(decode_json(previous.read_bytes())), _shipped())


def test_shipped_catalog_covers_the_core_categories() -> None:
    categories = {service.category for service in _shipped().services}
    assert {
        "civil_status",
        "passports",
        "social_solidarity",
        "traffic",
        "real_estate",
    } <= categories


def test_shipped_catalog_codes_are_unique() -> None:
    codes = [service.code for service in _shipped().services]
    assert len(codes) == len(set(codes))


def test_shipped_catalog_offers_the_services_the_protocol_tests_record() -> None:
    catalog = _shipped()
    for code in ("CIV-BIRTH", "CIV-IDCARD", "PAS-RENEW", "SOC-TAKAFUL"):
        service = catalog.by_code(code)
        assert service is not None, code
        assert service.active


# --- round trip, encoding, lookups ----------------------------------------------------------


def test_catalog_round_trips_through_its_dict_form() -> None:
    catalog = _shipped()
    assert parse_catalog(catalog_to_dict(catalog)) == catalog


def test_dict_form_is_what_the_file_holds() -> None:
    assert catalog_to_dict(_shipped()) == _shipped_wire()


def test_encoding_is_deterministic_and_canonical() -> None:
    catalog = _shipped()
    encoded = encode_catalog(catalog)
    assert encode_catalog(_shipped()) == encoded
    assert encode_catalog(parse_catalog(decode_json(encoded))) == encoded
    assert b"\n" not in encoded
    assert "مستخرج".encode() in encoded  # UTF-8, not \u escapes


def test_key_order_does_not_change_the_encoding() -> None:
    forward = _wire(_service())
    backward = {
        "services": [dict(reversed(_service().items()))],
        "version": 1,
    }
    assert encode_catalog(parse_catalog(forward)) == encode_catalog(parse_catalog(backward))


def test_by_code_and_fee_for() -> None:
    catalog = parse_catalog(_wire(_service(), _service("PAS-NEW", fee_piasters=50000)))
    service = catalog.by_code("PAS-NEW")
    assert service is not None
    assert service.fee_piasters == 50000
    assert catalog.fee_for("CIV-BIRTH") == 2500
    assert catalog.by_code("XYZ-NONE") is None


def test_fee_for_an_unknown_code_is_a_catalog_error() -> None:
    catalog = parse_catalog(_wire())
    with pytest.raises(CatalogError, match=r"XYZ-NONE.*not in catalog version 1") as caught:
        catalog.fee_for("XYZ-NONE")
    assert caught.value.field == "service_code"


def test_fee_for_an_inactive_service_is_still_known() -> None:
    catalog = parse_catalog(_wire(_service(active=False)))
    assert catalog.fee_for("CIV-BIRTH") == 2500


def test_catalog_is_immutable_and_hashable() -> None:
    catalog = parse_catalog(_wire())
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.version = 2  # type: ignore[misc]
    assert hash(catalog) == hash(parse_catalog(_wire()))


def test_names_may_contain_digits() -> None:
    wire = _wire(_service(name_ar="استمارة ٦", name_en="Form 6"))
    assert parse_catalog(wire).services[0].name_en == "Form 6"


def test_direct_construction_validates_too() -> None:
    service = parse_catalog(_wire()).services[0]
    with pytest.raises(CatalogError, match="fee_piasters"):
        dataclasses.replace(service, fee_piasters=-1)
    with pytest.raises(CatalogError, match="version"):
        Catalog(version=0, services=(service,))
    with pytest.raises(CatalogError, match="name_en"):
        RequiredDocument(name_ar="صورة", name_en="")


# --- strict rejection ----------------------------------------------------------------------


def _with_documents(count: int) -> dict[str, Any]:
    documents = [{"name_ar": f"مستند {n}", "name_en": f"Document {n}"} for n in range(count)]
    return _wire(_service(required_documents=documents))


REJECTED = [
    pytest.param(_wire() | {"extra": 1}, r"unknown keys \['extra'\]", None, id="catalog-key"),
    pytest.param(
        _wire(_service(extra=1)),
        r"services\[0\] \(CIV-BIRTH\): a service has unknown keys \['extra'\]",
        None,
        id="service-key",
    ),
    pytest.param(
        _wire(
            _service(
                required_documents=[
                    {"name_ar": "صورة", "name_en": "Copy", "note": "x"},
                ]
            )
        ),
        r"required_documents\[0\]: a document has unknown keys \['note'\]",
        None,
        id="document-key",
    ),
    pytest.param({"services": [_service()]}, r"missing keys \['version'\]", None, id="no-version"),
    pytest.param(
        _wire({k: v for k, v in _service().items() if k != "fee_piasters"}),
        r"services\[0\] \(CIV-BIRTH\): a service has missing keys \['fee_piasters'\]",
        None,
        id="no-fee",
    ),
    pytest.param(_wire(_service("civ-birth")), r"services\[0\]: code must", "code", id="lower"),
    pytest.param(_wire(_service("CIVBIRTH")), r"services\[0\]: code must", "code", id="no-dash"),
    pytest.param(_wire(_service("CIV-BIRTH-2")), r"services\[0\]: code", "code", id="two-dash"),
    pytest.param(_wire(_service(code=7)), r"services\[0\]: code must", "code", id="int-code"),
    pytest.param(
        _wire(_service(), _service("PAS-NEW"), _service()),
        r"services\[2\] \(CIV-BIRTH\): duplicate code \(first at services\[0\]\)",
        "code",
        id="duplicate-code",
    ),
    pytest.param(_wire(_service(fee_piasters=-1)), "fee_piasters", "fee_piasters", id="neg-fee"),
    pytest.param(_wire(_service(fee_piasters=25.0)), "fee_piasters", "fee_piasters", id="float"),
    pytest.param(_wire(_service(fee_piasters=True)), "fee_piasters", "fee_piasters", id="bool"),
    pytest.param(_wire(_service(fee_piasters="2500")), "fee_piasters", "fee_piasters", id="str"),
    pytest.param(
        _wire(_service(fee_piasters=100_000_001)), "fee_piasters", "fee_piasters", id="huge"
    ),
    pytest.param(
        _wire(_service(name_ar="مستخرج\u202eميلاد")),
        r"services\[0\] \(CIV-BIRTH\): name_ar contains an invisible or control character "
        r"U\+202E",
        "name_ar",
        id="bidi-name",
    ),
    pytest.param(
        _wire(_service(required_documents=[{"name_ar": "صورة\u200f", "name_en": "Copy"}])),
        r"required_documents\[0\]: name_ar contains an invisible or control character U\+200F",
        "name_ar",
        id="bidi-document",
    ),
    pytest.param(
        _wire(_service(name_en=" Birth certificate")),
        "name_en is not in canonical form",
        "name_en",
        id="untrimmed",
    ),
    pytest.param(
        _wire(_service(name_en="Birth  certificate")), "repeated spaces", "name_en", id="spaces"
    ),
    pytest.param(
        _wire(_service(name_ar="")), r"\(CIV-BIRTH\): name_ar must not be empty", "name_ar", id="e"
    ),
    pytest.param(
        _wire(_service(category="sports")),
        r"services\[0\] \(CIV-BIRTH\): category must be one of civil_status",
        "category",
        id="category",
    ),
    pytest.param(
        _wire(_service(agency_code="Civil Status")), "agency_code must be", "agency_code", id="slug"
    ),
    pytest.param(
        _wire(_service(), _service("CIV-DEATH", agency_ar="مصلحة أخرى")),
        r"services\[1\] \(CIV-DEATH\): agency civil-status is named differently",
        "agency_ar",
        id="agency-names",
    ),
    pytest.param(_wire(_service(active=1)), "active must be true or false", "active", id="active"),
    pytest.param(_wire(version=0), "version must be an integer of at least 1", "version", id="v0"),
    pytest.param(_wire(version=True), "version", "version", id="v-bool"),
    pytest.param(_wire(version=1.0), "version", "version", id="v-float"),
    pytest.param(_wire(version="1"), "version", "version", id="v-str"),
    pytest.param(
        _with_documents(MAX_REQUIRED_DOCUMENTS + 1),
        r"services\[0\] \(CIV-BIRTH\): required_documents holds 21 items; at most 20",
        "required_documents",
        id="many-documents",
    ),
    pytest.param(
        _wire(_service(required_documents=[_service()["required_documents"][0]] * 2)),
        "same document twice",
        "required_documents",
        id="same-document",
    ),
    pytest.param(
        _wire(_service(required_documents={"name_ar": "صورة"})),
        "required_documents must be a JSON array",
        "required_documents",
        id="documents-object",
    ),
    pytest.param({"version": 1, "services": []}, "1 to 2000 services, not 0", "services", id="0"),
    pytest.param(
        {"version": 1, "services": {"CIV-BIRTH": _service()}},
        "services must be a JSON array",
        "services",
        id="services-object",
    ),
    pytest.param([_wire()], "the catalog must be a JSON object", None, id="array"),
    pytest.param(_wire(["CIV-BIRTH"]), r"services\[0\]: a service must be", None, id="not-obj"),
]


@pytest.mark.parametrize(("wire", "why", "field"), REJECTED)
def test_malformed_catalogs_are_rejected_naming_the_problem(
    wire: object, why: str, field: str | None
) -> None:
    with pytest.raises(CatalogError, match=why) as caught:
        parse_catalog(wire)
    assert caught.value.field == field
    assert caught.value.code == "invalid_catalog"
    assert isinstance(caught.value, ValidationError)


def test_too_many_services_are_refused_before_parsing_them() -> None:
    wire = {"version": 1, "services": [None] * (MAX_CATALOG_SERVICES + 1)}
    with pytest.raises(CatalogError, match="services holds 2001 items; at most 2000"):
        parse_catalog(wire)


def test_category_list_is_closed_and_has_no_duplicates() -> None:
    assert len(set(CATEGORIES)) == len(CATEGORIES)
    assert "other" in CATEGORIES


# --- upgrades on the edge -------------------------------------------------------------------


def _version(number: int, fee_piasters: int = 2500) -> Catalog:
    return parse_catalog(_wire(_service(fee_piasters=fee_piasters), version=number))


def test_first_install_is_accepted() -> None:
    check_upgrade(None, _version(1))


def test_higher_version_is_accepted() -> None:
    check_upgrade(_version(1), _version(2, fee_piasters=3000))


def test_identical_catalog_again_is_accepted() -> None:
    check_upgrade(_version(3), _version(3))


def test_lower_version_is_refused() -> None:
    with pytest.raises(CatalogError, match="version 2 is older than the installed version 3"):
        check_upgrade(_version(3), _version(2))


def test_same_version_with_different_content_is_refused() -> None:
    with pytest.raises(CatalogError, match="differs from the installed catalog"):
        check_upgrade(_version(3), _version(3, fee_piasters=3000))


# --- format 2: agencies and approvals --------------------------------------------------------

_AGENCIES = [
    {"code": "civil-defense", "name_ar": "الحماية المدنية", "name_en": "Civil Protection"},
    {
        "code": "civil-status",
        "name_ar": "مصلحة الأحوال المدنية",
        "name_en": "Civil Status Organization",
    },
    {"code": "health", "name_ar": "وزارة الصحة والسكان", "name_en": "Ministry of Health"},
]


def _wire2(*services: Any, version: Any = 2) -> dict[str, Any]:
    return {
        "version": version,
        "agencies": copy.deepcopy(_AGENCIES),
        "services": list(services) or [_service(approvals=[])],
    }


def test_format_2_lists_approvals_and_agencies() -> None:
    catalog = parse_catalog(
        _wire2(_service(approvals=[]), _service("LIC-SHOP", approvals=["civil-defense", "health"]))
    )
    assert catalog.format == 2
    assert catalog.required_agencies("LIC-SHOP") == ("civil-defense", "health")
    assert catalog.required_agencies("CIV-BIRTH") == catalog.required_agencies("NO-SUCH") == ()
    assert catalog.owner_of("LIC-SHOP") == "civil-status"
    assert catalog.agency("health").name_en == "Ministry of Health"  # type: ignore[union-attr]
    assert parse_catalog(catalog_to_dict(catalog)) == catalog


def test_format_1_has_no_approvals_and_names_agencies_by_their_services() -> None:
    catalog = parse_catalog(_wire())
    assert (catalog.format, catalog.required_agencies("CIV-BIRTH")) == (1, ())
    assert catalog.agency_codes() == ("civil-status",)
    assert "agencies" not in catalog_to_dict(catalog)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (_wire2(_service(approvals=["health", "civil-defense"])), "sorted"),
        (_wire2(_service(approvals=["health", "health"])), "sorted"),
        (_wire2(_service(approvals=["customs"])), "not in the agencies list: customs"),
        (_wire2(_service(approvals="health")), "must be a JSON array"),
        (_wire2(_service(approvals=[f"a{n}" for n in range(9)])), "at most 8"),
        (_wire2(_service(agency_ar="الأحوال المدنية", approvals=[])), "under the same names"),
        (_wire2(_service()), "missing keys \\['approvals'\\]"),
        (_wire(_service(approvals=[])), "unknown keys \\['approvals'\\]"),
        (_wire2(_service(approvals=[])) | {"agencies": [_AGENCIES[0], _AGENCIES[0]]}, "duplicate"),
    ],
)
def test_bad_approvals_are_refused_naming_the_problem(wire: object, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(wire)


def test_an_upgrade_keeps_every_service_and_its_owner() -> None:
    two = parse_catalog(_wire(_service(), _service("PAS-NEW"), version=2))
    with pytest.raises(CatalogError, match="drops service PAS-NEW"):
        check_upgrade(two, parse_catalog(_wire(_service(), version=3)))
    moved = _service("PAS-NEW", agency_code="health", agency_ar="وزارة الصحة والسكان")
    moved["agency_en"] = "Ministry of Health"
    with pytest.raises(CatalogError, match="moves service PAS-NEW"):
        check_upgrade(two, parse_catalog(_wire(_service(), moved, version=3)))
    check_upgrade(
        two, parse_catalog(_wire(_service(), _service("PAS-NEW", active=False), version=3))
    )


def test_the_agencies_list_once_published_is_never_dropped() -> None:
    one, two = parse_catalog(_wire(version=1)), parse_catalog(_wire2(version=2))
    check_upgrade(one, two)
    with pytest.raises(CatalogError, match="drops the agencies list"):
        check_upgrade(two, parse_catalog(_wire(version=3)))


# --- properties -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)


def _parses_or_rejects(wire: object) -> None:
    try:
        catalog = parse_catalog(wire)
    except CatalogError:
        return
    assert isinstance(catalog, Catalog)
    assert parse_catalog(catalog_to_dict(catalog)) == catalog


@given(json_values)
def test_any_json_value_is_a_catalog_or_a_catalog_error(wire: object) -> None:
    _parses_or_rejects(wire)


_SERVICE_FIELDS = sorted(_service())
_DOCUMENT_PATHS = ("name_ar", "name_en")


@given(
    field=st.sampled_from(_SERVICE_FIELDS),
    value=json_values | st.sampled_from(CATEGORIES),
    in_document=st.booleans(),
    document_field=st.sampled_from(_DOCUMENT_PATHS),
    drop=st.booleans(),
)
def test_any_single_field_change_is_a_catalog_or_a_catalog_error(
    field: str, value: object, in_document: bool, document_field: str, drop: bool
) -> None:
    wire = copy.deepcopy(_wire(_service(), _service("PAS-NEW")))
    target = wire["services"][1]
    if in_document:
        target, field = target["required_documents"][0], document_field
    if drop:
        del target[field]
    else:
        target[field] = value
    _parses_or_rejects(wire)


@given(
    field=st.sampled_from([*_SERVICE_FIELDS, "approvals", "agencies", "agency"]),
    value=json_values | st.sampled_from(["health", "civil-defense", ["health"], []]),
    drop=st.booleans(),
)
def test_any_single_change_to_a_format_2_catalog_is_a_catalog_or_a_catalog_error(
    field: str, value: object, drop: bool
) -> None:
    wire = _wire2(_service(approvals=[]), _service("LIC-SHOP", approvals=["health"]))
    target: dict[str, Any] = wire["services"][1]
    if field == "agencies":
        target = wire
    elif field == "agency":
        target, field = wire["agencies"][2], "code"
    if drop:
        target.pop(field, None)
    else:
        target[field] = value
    _parses_or_rejects(wire)
