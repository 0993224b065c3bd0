"""Alert profile loading: the guidance table as default; overrides merge; errors name keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitals.alerts import Metric, Priority
from vitals.profile import Comparison
from vitals.profile_loader import DEFAULT_PROFILE_PATH, ProfileError, load_profile
from vitals.vital_signs import Kind


@pytest.fixture(scope="module")
def default():
    return load_profile()


# (rule id, metric, priority, comparison, threshold, baseline offset, sustained seconds)
GUIDANCE_TABLE = [
    ("systolic.crisis", Metric.SYSTOLIC, Priority.HIGH, ">=", 180, None, 0),
    ("systolic.urgency", Metric.SYSTOLIC, Priority.MEDIUM, ">=", 160, None, 0),
    ("systolic.elevated", Metric.SYSTOLIC, Priority.LOW, ">=", 150, None, 0),
    ("systolic.above_baseline", Metric.SYSTOLIC, Priority.LOW, ">=", None, 20, 0),
    ("systolic.rise", Metric.SYSTOLIC, Priority.MEDIUM, ">=", None, 40, 0),
    ("diastolic.crisis", Metric.DIASTOLIC, Priority.HIGH, ">=", 110, None, 0),
    ("diastolic.urgency", Metric.DIASTOLIC, Priority.MEDIUM, ">=", 100, None, 0),
    ("diastolic.elevated", Metric.DIASTOLIC, Priority.LOW, ">=", 95, None, 0),
    ("diastolic.above_baseline", Metric.DIASTOLIC, Priority.LOW, ">=", None, 15, 0),
    ("diastolic.rise", Metric.DIASTOLIC, Priority.MEDIUM, ">=", None, 25, 0),
    ("heart_rate.tachycardia_severe", Metric.HEART_RATE, Priority.HIGH, ">", 130, None, 0),
    ("heart_rate.bradycardia_severe", Metric.HEART_RATE, Priority.HIGH, "<", 45, None, 0),
    ("heart_rate.tachycardia", Metric.HEART_RATE, Priority.MEDIUM, ">", 120, None, 0),
    ("heart_rate.bradycardia", Metric.HEART_RATE, Priority.MEDIUM, "<", 50, None, 0),
    ("heart_rate.elevated", Metric.HEART_RATE, Priority.LOW, ">", 100, None, 0),
    ("spo2.hypoxaemia", Metric.SPO2, Priority.HIGH, "<", 90, None, 15),
    ("spo2.low", Metric.SPO2, Priority.MEDIUM, "<", 92, None, 15),
    ("spo2.borderline", Metric.SPO2, Priority.LOW, "<=", 94, None, 0),
    # NEWS2's bands (the clinic's to review), where a session has a capnograph.
    ("respiratory_rate.bradypnoea", Metric.RESPIRATORY_RATE, Priority.HIGH, "<", 8, None, 15),
    ("respiratory_rate.tachypnoea", Metric.RESPIRATORY_RATE, Priority.MEDIUM, ">", 24, None, 15),
]


@pytest.mark.parametrize(
    ("rule_id", "metric", "priority", "comparison", "threshold", "offset", "sustained"),
    GUIDANCE_TABLE,
)
def test_default_rule_matches_the_guidance_table(
    default, rule_id, metric, priority, comparison, threshold, offset, sustained
):
    rule = default.rules[rule_id]
    assert (rule.metric, rule.priority, rule.comparison) == (
        metric, priority, Comparison(comparison))
    assert (rule.threshold, rule.baseline_offset, rule.sustained_seconds) == (
        threshold, offset, sustained)
    assert rule.enabled


def test_default_has_exactly_the_guidance_rules(default):
    assert set(default.rules) == {row[0] for row in GUIDANCE_TABLE}


def test_every_rule_names_a_source_the_profile_describes(default):
    for rule in default.rules.values():
        assert default.source_text(rule.source) != rule.source, rule.id


def test_default_alarm_behaviour_matches_the_guidance(default):
    assert default.hysteresis.consecutive == 2
    assert {m: default.metrics[m].margin for m in default.metrics} == {
        Metric.SYSTOLIC: 5, Metric.DIASTOLIC: 5, Metric.HEART_RATE: 5, Metric.SPO2: 1,
        Metric.RESPIRATORY_RATE: 2}
    assert default.escalation.after_minutes == 5
    technical = default.technical
    assert (technical.bp_gap_low_factor, technical.bp_gap_medium_factor,
            technical.stream_seconds) == (1.5, 2.0, 30)


def test_default_protocol_matches_the_guidance(default):
    cadence = default.cadence
    assert (cadence.early_minutes, cadence.early_period_minutes, cadence.late_minutes,
            cadence.reassessment_minutes) == (10, 60, 15, 40)
    assert [cadence.minutes_at(m) for m in (None, 0, 59.9, 60, 200)] == [10, 10, 10, 15, 15]
    discharge = default.discharge
    assert (discharge.min_minutes_since_dose, discharge.bp_min_apart_minutes,
            discharge.systolic_below, discharge.diastolic_below, discharge.heart_rate_min,
            discharge.heart_rate_max, discharge.spo2_min) == (120, 10, 160, 100, 50, 110, 94)
    assert "full night's sleep" in discharge.reminder


@pytest.mark.parametrize(
    ("metric", "caution", "no_go"),
    [
        (Metric.SYSTOLIC, [">= 140"], [">= 160"]),
        (Metric.DIASTOLIC, [">= 90"], [">= 100"]),
        (Metric.HEART_RATE, ["> 100", "< 50"], ["> 110", "< 45"]),
        (Metric.SPO2, ["< 95"], ["< 92"]),
    ],
)
def test_default_presession_bands_match_the_guidance(default, metric, caution, no_go):
    bands = default.presession[metric]
    assert [str(c) for c in bands.caution] == caution
    assert [str(c) for c in bands.no_go] == no_go


def test_default_profile_says_where_it_came_from(default):
    assert default.name == "default"
    assert default.source_path == DEFAULT_PROFILE_PATH.name


CLINIC = """
name = "clinic-north"

[rules."systolic.crisis"]
threshold = 170

[technical]
stream_seconds = 20
"""


@pytest.fixture
def clinic_file(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.toml"
    path.write_text(CLINIC)
    return path


def test_clinic_file_overrides_only_the_keys_it_names(default, clinic_file):
    profile = load_profile(clinic_file)
    assert profile.rules["systolic.crisis"].threshold == 170
    assert profile.rules["systolic.crisis"].priority is Priority.HIGH  # kept from the default
    assert profile.technical.stream_seconds == 20
    assert profile.rules["systolic.urgency"] == default.rules["systolic.urgency"]


def test_clinic_profile_is_named_in_force(clinic_file):
    profile = load_profile(clinic_file)
    assert profile.name == "clinic-north"
    assert profile.source_path == f"default.toml + {clinic_file}"


def test_session_overrides_merge_onto_the_clinic_file(clinic_file):
    profile = load_profile(clinic_file, {"rules": {"systolic.crisis": {"threshold": 175}}})
    assert profile.rules["systolic.crisis"].threshold == 175
    assert profile.technical.stream_seconds == 20
    assert profile.source_path.endswith("session overrides")


def test_override_can_add_a_rule():
    rule = {"metric": "heart_rate", "priority": "low", "comparison": "<", "threshold": 55,
            "message": "{label} {value}: below {limit}.", "source": "heart_rate"}
    profile = load_profile(overrides={"rules": {"heart_rate.slow": rule}})
    assert profile.rules["heart_rate.slow"].id == "heart_rate.slow"
    assert len(profile.rules_for(Metric.HEART_RATE)) == 6


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"rules": {"systolic.crisis": {"thresold": 170}}}, "rules.systolic.crisis.thresold"),
        ({"rules": {"systolic.crisis": {"priority": "urgent"}}}, "rules.systolic.crisis.priority"),
        ({"rules": {"systolic.crisis": {"comparison": "=>"}}}, "rules.systolic.crisis.comparison"),
        ({"rules": {"systolic.crisis": {"baseline_offset": 10}}}, "rules.systolic.crisis"),
        ({"rules": {"systolic.crisis": {"source": "blog"}}}, "rules.systolic.crisis.source"),
        ({"rules": {"systolic.crisis": {"message": "{temp}"}}}, "rules.systolic.crisis"),
        ({"rules": {"data.x": {"metric": "data"}}}, "rules.data.x"),
        ({"technical": {"stream_seconds": 0}}, "technical.stream_seconds"),
        ({"escalation": {"after_minute": 5}}, "escalation.after_minute"),
        ({"presession": {"spo2": {"caution": ["95 or less"]}}}, "presession.spo2"),
        ({"metrics": {"spo2": {"sources": ["oximeter.spo2"]}}}, "metrics.spo2"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_key_fails_with_an_error_naming_it(overrides, names):
    with pytest.raises(ProfileError) as err:
        load_profile(overrides=overrides)
    assert names in str(err.value)


def test_missing_profile_file_is_named(tmp_path):
    with pytest.raises(ProfileError, match=r"nope\.toml does not exist"):
        load_profile(tmp_path / "nope.toml")


def test_invalid_toml_is_named_with_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[rules\n")
    with pytest.raises(ProfileError, match=r"broken\.toml is not valid TOML"):
        load_profile(path)


def test_bad_key_in_a_clinic_file_names_the_file(tmp_path):
    path = tmp_path / "clinic.toml"
    path.write_text('[hysteresis]\nconsecutive = "two"\n')
    with pytest.raises(ProfileError, match=r"clinic\.toml.*hysteresis\.consecutive"):
        load_profile(path)


def test_profile_is_immutable(default):
    with pytest.raises(Exception, match="frozen"):
        default.name = "x"


@pytest.mark.parametrize(("kind", "expected"), [
    (Kind.HR, ((Metric.HEART_RATE, "bpm", "hr.bpm", ()),)),
    (Kind.SPO2, ((Metric.HEART_RATE, "pulse", "spo2.pulse", ("hr.bpm",)),
                 (Metric.SPO2, "spo2", "spo2.spo2", ()))),
    (Kind.BP, ((Metric.SYSTOLIC, "systolic", "bp.systolic", ()),
               (Metric.DIASTOLIC, "diastolic", "bp.diastolic", ()),
               (Metric.HEART_RATE, "pulse", "bp.pulse", ("hr.bpm", "spo2.pulse")))),
])
def test_each_value_a_reading_carries_comes_with_its_source_and_the_sources_above_it(
        kind, expected) -> None:
    profile = load_profile()
    assert profile.sources_of(kind) == expected
    # The same values, in the same order, as `fields_of` lists them.
    assert [(m, name) for m, name, _, _ in profile.sources_of(kind)] == [
        (m, name) for m, names in profile.fields_of(kind) for name in names]
    assert all(above == profile.metrics[m].ranked_above(source)
               for m, _, source, above in profile.sources_of(kind))
