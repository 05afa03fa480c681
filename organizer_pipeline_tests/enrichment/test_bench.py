"""`organizer bench enrichment` runs end to end at a tiny size (the figures themselves come from the CLI)."""

from __future__ import annotations

import argparse
import json

from organizer_pipeline.bench import enrichment


def test_bench_runs_both_modes_and_reports_the_ratio(db_url, capsys):
    parser = argparse.ArgumentParser()
    enrichment.add_arguments(parser)
    args = parser.parse_args(
        ["--contacts", "4", "--concurrency", "2", "--llm-latency", "0", "--brevo-latency", "0", "--json"]
    )
    assert enrichment.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["figures"]) == {"sequential", "concurrency_2"}
    for figures in report["figures"].values():
        assert figures["contacts_per_minute"] > 0 and figures["brevo_rps"] <= 10.5
    assert report["brevo_bound_contacts_per_minute"] > 0
