"""Seal/open benchmark of batches (envelope version 2), against the limit measured in the
same run.

Builds realistic batches (``--records`` records each, ~80% ``transaction.created`` with
Arabic names and valid national IDs, ~20% ``transaction.status``), then measures:

* seal: ``seal_batch`` records/s, and ``encode_records`` alone (the JSON share of it);
* open: ``parse_envelope`` + ``open_batch`` (with record validation), and the same without
  validation: ``parse_envelope`` + ``open_envelope``, then plus ``decode_json``;
* bytes: canonical JSON bytes per record, sealed envelope bytes per record, their ratio and
  the fixed per-envelope overhead (header, HPKE encapsulation, AEAD tag, signature);
* the limit: the same canonical JSON + the envelope's compression (Zstandard level 1) + one
  AES-256-GCM encrypt done by hand, and the reverse (decrypt + decompress + plain
  ``json.loads``), on the same records;
* zlib (version 1's compression) and Zstandard at a few levels on the raw JSON: bytes per
  record and speed, the figures behind the choice of version 2's compression.

Each figure is the median of ``--repeat`` timed repetitions (``time.perf_counter``) after
one untimed warm-up; the garbage collector stays on, as it is in production, but runs
before each repetition. Figures only: nothing is asserted against a target.

Run: ``.venv/bin/python -m bench.seal_open`` (or ``make bench``); ``--help`` for options,
``--json PATH`` to also write the figures as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import random
import statistics
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rich.console import Console
from rich.table import Table

from bench._support import machine
from sync_protocol import (
    GENESIS_HASH,
    GOVERNORATES,
    HybridClock,
    Limits,
    OpeningKey,
    Record,
    SigningKey,
    decode_json,
    encode_records,
    new_transaction_created,
    new_transaction_status,
    new_uuid7,
    open_batch,
    open_envelope,
    parse_envelope,
    record_to_dict,
    seal_batch,
)
from sync_protocol.compression import zstd
from sync_protocol.envelope import HEADER_BYTES, SIGNATURE_BYTES

__all__ = ["build_batches", "main", "print_report", "run"]

# --- the workload ----------------------------------------------------------------------

START_MS: Final = 1_767_247_200_000  # 2026-01-01T06:00:00Z, 08:00 in Arish
NODE_ID: Final = uuid.UUID("019b76da-a800-7000-8000-0000000000a1")
CENTER_ID: Final = "arish"
STATUS_SHARE: Final = 0.2
ZSTD_LEVEL: Final = 1  # the protocol's level, repeated here for the hand-made limit
# (format, level) pairs compared on the raw JSON.
COMPRESSORS: Final = (("zlib", 1), ("zlib", 6), ("zlib", 9), ("zstd", 1), ("zstd", 3), ("zstd", 9))
AES_NONCE_BYTES: Final = 12
AES_TAG_BYTES: Final = 16

# Envelope framing, from the layout in sync_protocol/envelope.py's docstring. The report
# prints it next to the measured overhead, so a change on either side shows.
ENVELOPE_OVERHEAD: Final = {
    "header": HEADER_BYTES,
    "ciphertext length": 4,
    "HPKE enc: ML-KEM-768 ct + X25519 key": 1088 + 32,
    "AES-256-GCM tag": AES_TAG_BYTES,
    "Ed25519 signature": SIGNATURE_BYTES,
}

MALE_NAMES: Final = (
    "محمد",
    "أحمد",
    "محمود",
    "مصطفى",
    "عبد الرحمن",
    "عمر",
    "يوسف",
    "إبراهيم",
    "حسن",
    "خالد",
    "طارق",
    "سليمان",
    "عيد",
    "سالم",
)
FEMALE_NAMES: Final = (
    "فاطمة",
    "مريم",
    "آية",
    "نور",
    "سارة",
    "هدى",
    "منى",
    "ياسمين",
    "شيماء",
    "رحمة",
)
FAMILY_NAMES: Final = (
    "السيد",
    "عبد الله",
    "الشريف",
    "المصري",
    "السواركة",
    "الترابين",
    "أبو زيد",
    "النجار",
    "حسين",
    "عطية",
)
# (service code, base fee in piasters, the agencies whose approval it needs), from the
# shipped catalog: counter services (issued at once) outnumber those agencies approve.
SERVICES: Final = (
    ("CIV-BIRTH", 2_500, ()),
    ("CIV-IDCARD", 12_500, ()),
    ("CIV-IDEXPRESS", 30_000, ()),
    ("CIV-MARRIAGE", 3_500, ()),
    ("CIV-DEATH", 2_500, ()),
    ("PAS-NEW", 50_000, ("national-security", "passports")),
    ("PAS-RENEW", 50_000, ()),
    ("TRF-DLRENEW", 30_000, ()),
    ("SOC-TAKAFUL", 0, ("social-solidarity",)),
    ("REA-PROPREG", 200_000, ("real-estate", "survey")),
    ("LIC-SHOP", 100_000, ("civil-defense", "health", "local-unit")),
)
STATUS_NOTES: Final = (
    "",
    "",
    "",
    "تم التسليم للمواطن",
    "سلمت لوكيل المواطن",
    "ألغيت بطلب المواطن",
)
# Offline, a center closes what it holds: it hands over what needs no approval (or
# cancels it); what waits on an agency it can only cancel.
DELIVERED_SHARE: Final = 0.8
STAFF_IDS: Final = tuple(f"s-{n:04d}" for n in (7, 12, 19, 23, 31, 42, 57, 64, 88, 101))


def _national_id(rng: random.Random, born: dt.date, male: bool) -> str:
    """A structurally valid ID: century, YYMMDD, governorate, sequence (gender), check."""
    century = "2" if born.year < 2000 else "3"
    governorate = rng.choice(sorted(GOVERNORATES))
    sequence = rng.randrange(100, 1000) * 10 + rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4))
    return f"{century}{born:%y%m%d}{governorate}{sequence:04d}{rng.randrange(10)}"


def _citizen(rng: random.Random, today: dt.date) -> tuple[str, str]:
    """An Arabic name (own, father, grandfather, family) and a matching national ID."""
    male = rng.random() < 0.55
    own = rng.choice(MALE_NAMES if male else FEMALE_NAMES)
    father, grandfather = rng.sample(MALE_NAMES, 2)
    name = " ".join((own, father, grandfather, rng.choice(FAMILY_NAMES)))
    born = dt.date(1940, 1, 1) + dt.timedelta(
        days=rng.randrange((today - dt.date(1940, 1, 1)).days)
    )
    return name, _national_id(rng, born, male)


def build_batches(
    batch_count: int,
    records_per_batch: int,
    seed: int,
    *,
    node_id: uuid.UUID = NODE_ID,
    center_id: str = CENTER_ID,
    start_ms: int = START_MS,
) -> list[list[Record]]:
    """``batch_count`` batches of realistic records from one center, deterministic in ``seed``.

    A status record always follows (in HLC order) the transaction it closes: it picks one
    of the transactions this center has opened and not closed yet, and keeps to what the
    workflow allows offline (delivery only of what needs no approval).
    """
    rng = random.Random(seed)
    now_ms = start_ms

    def clock() -> int:
        return now_ms

    hlc = HybridClock(node_id, clock)
    opened: list[tuple[uuid.UUID, bool]] = []  # open transactions: (id, needs approval)
    batches: list[list[Record]] = []
    for _ in range(batch_count):
        batch: list[Record] = []
        for _ in range(records_per_batch):
            now_ms += rng.randrange(0, 60_000)  # a busy center: a record every ~30 s
            event_id = new_uuid7(now_ms, random_bytes=rng.randbytes)
            if opened and rng.random() < STATUS_SHARE:
                # Status changes close recent transactions, each once.
                index = rng.randrange(max(0, len(opened) - 2_000), len(opened))
                changed, needs_approval = opened.pop(index)
                delivered = not needs_approval and rng.random() < DELIVERED_SHARE
                batch.append(
                    new_transaction_status(
                        event_id=event_id,
                        hlc=hlc.tick(),
                        center_id=center_id,
                        transaction_id=changed,
                        status="delivered" if delivered else "cancelled",
                        actor_id=rng.choice(STAFF_IDS),
                        note=rng.choice(STATUS_NOTES),
                        recorded_at_ms=now_ms,
                    )
                )
                continue
            today = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date()
            name, national_id = _citizen(rng, today)
            service_code, base_fee, agencies = rng.choice(SERVICES)
            # Stamp duties and delivery vary the fee around the base, to the piaster.
            fee = base_fee + rng.choice((0, 0, 0, 500, 1_000, 2_000)) + rng.randrange(0, 100)
            batch.append(
                new_transaction_created(
                    event_id=event_id,
                    hlc=hlc.tick(),
                    center_id=center_id,
                    service_code=service_code,
                    national_id=national_id,
                    citizen_name=name,
                    fee_piasters=fee if base_fee else 0,
                    staff_id=rng.choice(STAFF_IDS),
                    recorded_at_ms=now_ms,
                    required_agencies=agencies,
                )
            )
            opened.append((event_id, bool(agencies)))
        batches.append(batch)
    return batches


# --- measuring -------------------------------------------------------------------------


def _median_rate(
    inputs: Sequence[Any], operation: Callable[[Any], object], records: int, repeat: int
) -> dict[str, Any]:
    """Records/s of ``operation`` over all ``inputs``: the median of ``repeat`` repetitions
    after one untimed warm-up call. Only the calls are timed, not the loop around them."""
    operation(inputs[0])
    samples: list[float] = []
    for _ in range(repeat):
        gc.collect()
        elapsed = 0.0
        for item in inputs:
            start = time.perf_counter()
            operation(item)
            elapsed += time.perf_counter() - start
        samples.append(elapsed)
    return {"records_per_second": records / statistics.median(samples), "seconds": samples}


def _hand_encode(batch: Sequence[Record]) -> bytes:
    """The canonical JSON of ``encode_records``, written out by hand for the limit."""
    return json.dumps(
        [record_to_dict(record) for record in batch],
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
    ).encode("utf-8")


# (key, label) in print order; indented labels are parts of the row above them.
SEAL_ROWS: Final = (
    ("seal", "seal_batch"),
    ("seal_encode", "  of which encode_records"),
    ("limit_seal", "limit: JSON + zstd-1 + AES-GCM"),
)
OPEN_ROWS: Final = (
    ("open", "parse_envelope + open_batch"),
    ("open_json", "  without validation, with decode_json"),
    ("open_envelope", "  parse_envelope + open_envelope only"),
    ("limit_open", "limit: AES-GCM + unzstd + json.loads"),
)


def run(batch_count: int, records_per_batch: int, repeat: int, seed: int) -> dict[str, Any]:
    """Build the workload, measure everything, and return the figures."""
    total_records = batch_count * records_per_batch
    start = time.perf_counter()
    batches = build_batches(batch_count, records_per_batch, seed)
    build_seconds = time.perf_counter() - start
    status_count = sum(1 for b in batches for record in b if record.type == "transaction.status")

    node_key = SigningKey.generate()
    hub_key = OpeningKey.generate()
    prev_hashes = [GENESIS_HASH]  # one chain: batch i+1 names the hash of batch i

    def seal(indexed: tuple[int, Sequence[Record]]) -> bytes:
        index, batch = indexed
        return seal_batch(
            batch,
            node_id=NODE_ID,
            seq=index + 1,
            prev_hash=prev_hashes[index],
            created_at_ms=batch[-1].recorded_at_ms,
            signing_key=node_key,
            hub_key=hub_key.public,
        )

    chained = list(enumerate(batches))
    envelopes: list[bytes] = []
    for indexed in chained:
        envelopes.append(seal(indexed))
        prev_hashes.append(hashlib.sha256(envelopes[-1][:-SIGNATURE_BYTES]).digest())
    payloads = [encode_records(batch) for batch in batches]

    def open_validated(data: bytes) -> list[Record]:
        return open_batch(parse_envelope(data), node_key=node_key.public, hub_key=hub_key)

    def open_unvalidated(data: bytes) -> bytes:
        return open_envelope(parse_envelope(data), sender=node_key.public, recipient=hub_key)

    def open_json(data: bytes) -> object:
        return decode_json(open_unvalidated(data))

    aes = AESGCM(AESGCM.generate_key(bit_length=256))

    def limit_seal(batch: Sequence[Record]) -> bytes:
        nonce = os.urandom(AES_NONCE_BYTES)
        return nonce + aes.encrypt(nonce, zstd.compress(_hand_encode(batch), ZSTD_LEVEL), None)

    def limit_open(box: bytes) -> object:
        compressed = aes.decrypt(box[:AES_NONCE_BYTES], box[AES_NONCE_BYTES:], None)
        return json.loads(zstd.decompress(compressed))

    limit_boxes = [limit_seal(batch) for batch in batches]
    jobs: dict[str, tuple[Sequence[Any], Callable[[Any], object]]] = {
        "seal": (chained, seal),
        "seal_encode": (batches, encode_records),
        "limit_seal": (batches, limit_seal),
        "open": (envelopes, open_validated),
        "open_json": (envelopes, open_json),
        "open_envelope": (envelopes, open_unvalidated),
        "limit_open": (limit_boxes, limit_open),
    }
    rates = {
        key: _median_rate(inputs, operation, total_records, repeat)
        for key, (inputs, operation) in jobs.items()
    }

    raw_bytes = sum(len(payload) for payload in payloads)
    sealed_bytes = sum(len(envelope) for envelope in envelopes)
    compressed_bytes = sum(len(zstd.compress(payload, ZSTD_LEVEL)) for payload in payloads)
    limit_bytes = sum(len(box) for box in limit_boxes)
    compression: dict[str, dict[str, float]] = {}
    for name, level in COMPRESSORS:
        squeeze = zlib.compress if name == "zlib" else zstd.compress
        start = time.perf_counter()
        size = sum(len(squeeze(payload, level)) for payload in payloads)
        seconds = time.perf_counter() - start
        compression[f"{name} {level}"] = {
            "bytes_per_record": size / total_records,
            "of_raw": size / raw_bytes,
            "compress_mb_per_second": raw_bytes / seconds / 1e6,
        }

    def per_second(key: str) -> float:
        return float(rates[key]["records_per_second"])

    return {
        "machine": machine(),
        "workload": {
            "batches": batch_count,
            "records_per_batch": records_per_batch,
            "status_share": status_count / total_records,
            "seed": seed,
            "repeat": repeat,
            "build_records_per_second": total_records / build_seconds,
        },
        "rates": rates,
        "protocol_over_limit": {
            "seal": per_second("seal") / per_second("limit_seal"),
            "open": per_second("open") / per_second("limit_open"),
            "open_without_validation": per_second("open_json") / per_second("limit_open"),
        },
        "bytes": {
            "raw_per_record": raw_bytes / total_records,
            "sealed_per_record": sealed_bytes / total_records,
            "sealed_over_raw": sealed_bytes / raw_bytes,
            "limit_per_record": limit_bytes / total_records,
            "limit_over_raw": limit_bytes / raw_bytes,
            # The envelope minus its compressed body: everything that is not payload.
            "envelope_overhead": (sealed_bytes - compressed_bytes) / batch_count,
            "envelope_overhead_layout": ENVELOPE_OVERHEAD,
            "compression": compression,
        },
        "limit_json_matches_encode_records": all(
            _hand_encode(batch) == payload for batch, payload in zip(batches, payloads, strict=True)
        ),
    }


# --- printing --------------------------------------------------------------------------


def _against_limit(ratio: float) -> str:
    return f"{ratio:.2f}  (takes {1 / ratio:.2f}x the limit's time)"


def print_report(out: Console, figures: dict[str, Any]) -> None:
    workload = figures["workload"]
    records_per_batch = workload["records_per_batch"]
    out.print("[bold]egsync envelope v2: seal/open benchmark[/bold]")
    info = Table.grid(padding=(0, 2))
    for key, value in figures["machine"].items():
        info.add_row(key, str(value))
    info.add_row(
        "workload",
        f"{workload['batches']} batches x {records_per_batch:,} records "
        f"({workload['status_share']:.0%} transaction.status), seed {workload['seed']}",
    )
    info.add_row("timing", f"median of {workload['repeat']} repetitions after a warm-up")
    info.add_row("build", f"{workload['build_records_per_second']:,.0f} records/s")
    out.print(info)
    out.print()

    speed = Table(title="Throughput (median)", title_justify="left")
    speed.add_column("operation")
    speed.add_column("records/s", justify="right")
    speed.add_column("µs/record", justify="right")
    speed.add_column("ms/batch", justify="right")
    rows = (*SEAL_ROWS, *OPEN_ROWS)
    for key, label in rows:
        rate = figures["rates"][key]["records_per_second"]
        speed.add_row(
            label,
            f"{rate:,.0f}",
            f"{1e6 / rate:.2f}",
            f"{records_per_batch / rate * 1e3:.2f}",
            end_section=key == SEAL_ROWS[-1][0],
        )
    out.print(speed)
    ratios = figures["protocol_over_limit"]
    out.print("protocol/limit, records/s:")
    out.print(f"  seal                        {_against_limit(ratios['seal'])}")
    out.print(f"  open                        {_against_limit(ratios['open'])}")
    out.print(f"  open without validation     {_against_limit(ratios['open_without_validation'])}")
    out.print()

    sizes = figures["bytes"]
    size = Table(title="Bytes per record", title_justify="left")
    size.add_column("form")
    size.add_column("bytes/record", justify="right")
    size.add_column("of raw", justify="right")
    size.add_row("raw canonical JSON (encode_records)", f"{sizes['raw_per_record']:.1f}", "100%")
    size.add_row(
        "sealed envelope", f"{sizes['sealed_per_record']:.1f}", f"{sizes['sealed_over_raw']:.1%}"
    )
    size.add_row(
        "limit: zstd-1 + nonce + tag",
        f"{sizes['limit_per_record']:.1f}",
        f"{sizes['limit_over_raw']:.1%}",
        end_section=True,
    )
    for method, by_level in sizes["compression"].items():
        size.add_row(
            f"raw JSON at {method} ({by_level['compress_mb_per_second']:.0f} MB/s)",
            f"{by_level['bytes_per_record']:.1f}",
            f"{by_level['of_raw']:.1%}",
        )
    out.print(size)
    out.print(f"sealed/raw: {sizes['sealed_over_raw']:.1%} (project target for later: <= 30%)")
    layout = sizes["envelope_overhead_layout"]
    out.print(
        f"fixed overhead per envelope: {sizes['envelope_overhead']:.0f} B "
        "(measured: envelope - its compressed body)"
    )
    for part, part_bytes in layout.items():
        out.print(f"  {part:<38}{part_bytes:>5}")
    out.print(f"  {'total by layout':<38}{sum(layout.values()):>5}")
    if not figures["limit_json_matches_encode_records"]:
        out.print("[bold red]warning: the limit's JSON differs from encode_records[/bold red]")


# --- command line ----------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.seal_open",
        description="Seal/open throughput and bytes of envelope v2 batches, against the "
        "limit (canonical JSON + Zstandard + one AES-256-GCM) measured in the same run.",
    )
    parser.add_argument(
        "--batches", type=int, default=10, help="batches per repetition (default 10)"
    )
    parser.add_argument(
        "--records", type=int, default=1_000, help="records per batch (default 1000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=7, help="timed repetitions, median shown (default 7)"
    )
    parser.add_argument(
        "--seed", type=int, default=2026, help="seed of the generated records (default 2026)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    args = parser.parse_args(argv)
    max_records = Limits().max_records
    if args.batches < 1 or args.repeat < 1:
        parser.error("--batches and --repeat must be at least 1")
    if not 1 <= args.records <= max_records:
        parser.error(f"--records must be from 1 to {max_records} (an envelope's limit)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    progress = Console(stderr=True)
    progress.print(
        f"measuring {args.batches} x {args.records:,} records, {args.repeat} repetitions ..."
    )
    figures = run(args.batches, args.records, args.repeat, args.seed)
    print_report(Console(), figures)
    if args.json is not None:
        text = json.dumps(figures, indent=2, ensure_ascii=False)
        args.json.write_text(text + "\n", encoding="utf-8")
        progress.print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
