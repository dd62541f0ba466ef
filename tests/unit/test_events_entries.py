"""PutEvents entry sizes as EventBridge counts them, and request batches within the limits."""

from __future__ import annotations

from asset_sync.events.entries import (
    MAX_ENTRIES_PER_REQUEST,
    MAX_REQUEST_BYTES,
    entry_size,
    make_entry,
    request_batches,
)


def test_entry_size_counts_utf8_bytes_of_the_counted_fields_only() -> None:
    entry = {
        "Source": "src",  # 3
        "DetailType": "Ä",  # 2 bytes in UTF-8
        "Detail": '{"n":"€"}',  # 11 bytes
        "Resources": ["arn:1", "é"],  # 5 + 2
        "EventBusName": "not counted",
    }
    assert entry_size(entry) == 3 + 2 + 11 + 5 + 2
    assert entry_size({**entry, "Time": 1796011200}) == 23 + 14


def test_details_keep_non_ascii_as_utf8_and_are_compact() -> None:
    entry = make_entry("Asset Updated", {"symbol": "Ü", "b": [1, 2]})

    assert entry["Detail"] == '{"b":[1,2],"symbol":"Ü"}'


def test_batches_hold_at_most_ten_entries_and_stay_under_the_request_limit() -> None:
    small = [(i, make_entry("Asset Listed", {"i": i})) for i in range(23)]
    big = [(100 + i, make_entry("Asset Listed", {"x": "y" * 100_000})) for i in range(5)]

    batches = list(request_batches(small + big))

    assert [index for batch in batches for index, _ in batch] == [i for i, _ in small + big]
    assert all(len(batch) <= MAX_ENTRIES_PER_REQUEST for batch in batches)
    assert all(sum(entry_size(e) for _, e in batch) < MAX_REQUEST_BYTES for batch in batches)
    assert [len(batch) for batch in batches] == [10, 10, 5, 2, 1]
