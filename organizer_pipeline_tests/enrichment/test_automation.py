"""The enrichment assets follow `hotmart_contacts` on their own: a Hotmart run is enough."""

from __future__ import annotations

import dagster as dg

from organizer_pipeline.definitions import defs
from organizer_pipeline.enrichment.defs import enrichment_automation_sensor


def test_a_contacts_update_requests_profiles_then_brevo():
    assert enrichment_automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0  # nothing upstream yet: no run
        instance.report_runless_asset_event(dg.AssetMaterialization("hotmart_contacts"))
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = (
            {key.to_user_string() for key in second.get_requested_partitions.__self__._requested_keys()}
            if False
            else None
        )
        del requested
        assert second.get_num_requested(dg.AssetKey("contact_profiles")) == 1
        assert second.get_num_requested(dg.AssetKey("brevo_contacts")) == 1
