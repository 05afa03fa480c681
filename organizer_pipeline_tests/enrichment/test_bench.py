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


def test_idle_bench_reports_our_sql_time_against_the_target_and_the_old_queries(db_url, capsys):
    from organizer_pipeline.bench import enrichment_idle

    parser = argparse.ArgumentParser()
    enrichment_idle.add_arguments(parser)
    args = parser.parse_args(["--events", "2000", "--contacts", "500", "--repeat", "2", "--json"])
    assert enrichment_idle.run(args) == 0  # it refuses to report when a run was not idle or called out
    report = json.loads(capsys.readouterr().out)
    assert report["target_ms"] == 200 and report["ours_sql_ms"] > 0
    assert abs(report["ratio_to_target"] - report["ours_sql_ms"] / 200) < 0.001
    assert set(report["old_queries_ms"]) == {"profiles", "brevo_contacts", "brevo_events"}
    assert report["old_total_ms"] > 0 and report["statements_per_idle_run"] > 0
