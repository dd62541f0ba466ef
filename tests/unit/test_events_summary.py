"""The demo's summary of what `to_events` made of new stream records."""

from __future__ import annotations

from tests.support.stream_records import record, sync_write, synced, values

from asset_sync.local.stream import describe_events


def test_the_summary_counts_each_detail_type_and_shows_one_example_of_each() -> None:
    ibm, ge = synced("IBM"), synced("GE")
    records = [
        record(None, synced("AAPL", run=3)),
        record(None, synced("MSFT", run=3)),
        record(ibm, sync_write(ibm, run=4, name="IBM Corp.")),
        record(ge, sync_write(ge, run=4, status="inactive")),
        record(ge, {**ge, **values(sector="Industrials")}),  # another service: no event
    ]

    lines = describe_events(records, examples=3, label="day 2").splitlines()

    assert lines[0] == (
        "day 2: 5 new stream records -> 4 events (1 of them change no owned state: no event)"
    )
    assert [line.split()[:3] for line in lines[1:4]] == [
        ["Asset", "Listed", "2"],
        ["Asset", "Updated", "1"],
        ["Asset", "Delisted", "1"],
    ]
    assert lines[4:] == [
        '  e.g. Asset Listed AAPL (run 3): "AAPL Inc." on NASDAQ',
        '  e.g. Asset Updated IBM (run 4): name "IBM Inc." -> "IBM Corp."',
        '  e.g. Asset Delisted GE (run 4): status "active" -> "inactive"',
    ]


def test_no_records_is_one_line() -> None:
    assert describe_events([]) == "stream: 0 new stream records -> 0 events"


def test_a_removal_is_summarised_by_its_reason_and_asset() -> None:
    lines = describe_events([record(synced("GONE"), None)]).splitlines()

    assert lines[-1] == "  e.g. Asset Removed GONE (run -): manual, asset id-GONE"
