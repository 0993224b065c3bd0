"""The vital-sign registry (`vitals.vital_signs.VITAL_SIGNS`): one row per vital, from which the
parser's fields, the staleness, the trends, the alarm wording, the FHIR export and the report
derive. These hold the rows to what the derivations need."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard import queries, reports
from vitals.profile import SOURCE_DEVICES
from vitals.readings import Reading
from vitals.storage.base import TREND_MEAN_KINDS
from vitals.vital_signs import FIELDS, SIGNS, VITAL_SIGNS, Kind


@pytest.mark.parametrize("sign", VITAL_SIGNS, ids=lambda s: s.kind.value)
def test_a_vital_signs_row_is_complete(sign):
    names = [f.name for f in sign.fields]
    assert len(names) == len(set(names))
    assert sign.main_field in names
    assert next(f for f in sign.fields if f.name == sign.main_field).required
    assert all(f.label for f in sign.fields)  # the report's table names every measure
    assert all(f.low < f.high for f in sign.fields)
    assert sign.stale_after.total_seconds() > 0 and sign.codes and sign.fhir_profile


def test_every_kind_of_reading_has_one_row_and_everything_derives_from_it():
    assert [s.kind for s in VITAL_SIGNS] == list(Kind)
    assert {s.kind: s.fields for s in VITAL_SIGNS} == FIELDS
    assert {s.kind: s.stale_after for s in VITAL_SIGNS} == queries.STALE_AFTER
    assert {s.kind: s.device for s in VITAL_SIGNS} == SOURCE_DEVICES
    assert set(TREND_MEAN_KINDS) == {s.kind for s in VITAL_SIGNS if s.stream}


@pytest.mark.parametrize("sign", VITAL_SIGNS, ids=lambda s: s.kind.value)
def test_every_coded_field_of_a_reading_reaches_its_fhir_observation(sign):
    values = {f.name: (f.low + f.high) / 2 for f in sign.fields}
    resource = reports.observation(Reading("s1", sign.kind, datetime(2026, 12, 3, tzinfo=UTC),
                                           values))
    assert resource["code"]["coding"][0]["code"] == SIGNS[sign.kind].codes[0].code
    quantities = ([c["valueQuantity"] for c in resource.get("component", [])]
                  or [resource["valueQuantity"]])
    coded = [f for f in sign.fields if f.loinc is not None]
    assert [q["code"] for q in quantities] == [f.ucum for f in coded]
    assert [q["value"] for q in quantities] == [values[f.name] for f in coded]
