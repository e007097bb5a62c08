"""The cascade's threshold math and its notion of agreement (engine/batch/cascade_threshold.py)."""

import math

import pytest

from engine.batch.cascade_threshold import answers_agree, learn_threshold, wilson_lower_bound


def test_wilson_lower_bound_matches_the_formula_and_its_edges():
    # 95 of 100, z = 1.645: the textbook one-sided Wilson bound.
    z, n, p = 1.6448536269514722, 100, 0.95
    expected = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    assert wilson_lower_bound(95, 100) == pytest.approx(expected)
    assert 0.89 < wilson_lower_bound(95, 100) < 0.92
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(0, 10) == 0.0
    assert wilson_lower_bound(10, 10) < 1.0  # ten out of ten is not certainty
    assert wilson_lower_bound(1000, 1000) > wilson_lower_bound(10, 10)


def test_the_threshold_is_the_lowest_confidence_whose_items_agree_at_the_target():
    # 100 sure and right answers (0.9..0.99), then 20 unsure ones of which half are wrong (0.3..0.49).
    sure = [(0.9 + i / 1000, True) for i in range(100)]
    unsure = [(0.3 + i / 100, i % 2 == 0) for i in range(20)]
    threshold = learn_threshold(sure + unsure, target=0.95)
    assert threshold is not None and 0.3 < threshold <= 0.9
    kept = [agrees for confidence, agrees in sure + unsure if confidence >= threshold]
    assert wilson_lower_bound(sum(kept), len(kept)) >= 0.95
    # One step lower no longer qualifies: it is the lowest.
    lower = max(c for c, _ in sure + unsure if c < threshold)
    more = [agrees for confidence, agrees in sure + unsure if confidence >= lower]
    assert wilson_lower_bound(sum(more), len(more)) < 0.95


def test_no_threshold_when_no_confidence_reaches_the_target():
    assert learn_threshold([(0.9, True), (0.8, False)] * 50, target=0.95) is None
    assert learn_threshold([], target=0.5) is None
    assert learn_threshold([(0.99, True)] * 3, target=0.95) is None  # too few to bound at 95%


def test_tied_confidences_are_kept_or_escalated_together():
    # At 0.5 half the items are wrong: a cut inside the tie would count some of them only.
    pairs = [(0.9, True)] * 100 + [(0.5, True)] * 5 + [(0.5, False)] * 5  # the agreeing ones first
    assert learn_threshold(pairs, target=0.95) == 0.9


def test_labels_agree_on_the_label_alone():
    assert answers_agree("label", {"label": "a", "confidence": 0.2}, {"label": "a", "confidence": 0.9})
    assert not answers_agree("label", {"label": "a"}, {"label": "b"})
    assert answers_agree("label", {"labels": ["a", "b"]}, {"labels": ["b", "a"]})
    assert not answers_agree("label", {"labels": ["a"]}, {"labels": ["a", "b"]})
    assert not answers_agree("label", None, {"label": "a"})


def test_enrich_answers_agree_when_every_field_does_text_loosely():
    strong = {"segment": "Mid-Market", "arr": 12, "note": "grows  fast", "tags": ["a", "B"], "ok": True}
    assert answers_agree("enrich", {"segment": "mid-market ", "arr": 12.0, "note": "Grows fast",
                                    "tags": ["b", "a"], "ok": True}, strong)
    assert not answers_agree("enrich", {**strong, "arr": 13}, strong)
    assert not answers_agree("enrich", {**strong, "ok": 1}, strong)  # a boolean is not a number
    assert not answers_agree("enrich", {k: v for k, v in strong.items() if k != "note"}, strong)
