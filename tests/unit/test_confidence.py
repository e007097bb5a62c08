import math

from engine.prompt.confidence import apply_label_confidence, span_probability


def tokens_of(text, size=4, logprob=-0.1):
    return [{"token": text[i:i + size], "logprob": logprob} for i in range(0, len(text), size)]


def test_confidence_is_the_probability_of_the_label_tokens():
    raw = '{"label": "negative", "confidence": 0.99}'
    tokens = tokens_of(raw)
    result = apply_label_confidence({"label": "negative", "confidence": 0.99}, raw, tokens)
    assert result["confidence_source"] == "logprobs"
    start = raw.index("negative")
    overlapping = [t for i, t in enumerate(tokens) if i * 4 + 4 > start and i * 4 < start + len("negative")]
    assert result["confidence"] == round(math.exp(-0.1 * len(overlapping)), 4)


def test_multi_label_confidence_is_the_mean_over_labels():
    raw = '{"labels": ["a", "bb"], "confidence": 0.3}'
    tokens = [{"token": ch, "logprob": -0.5 if ch == "a" else 0.0} for ch in raw]
    result = apply_label_confidence({"labels": ["a", "bb"], "confidence": 0.3}, raw, tokens)
    assert result["confidence"] == round((math.exp(-0.5) + 1.0) / 2, 4)


def test_without_logprobs_the_self_reported_value_stays():
    result = apply_label_confidence({"label": "x", "confidence": 0.7}, '{"label": "x"}', None)
    assert result == {"label": "x", "confidence": 0.7, "confidence_source": "self_reported"}


def test_span_outside_the_tokens_gives_none():
    assert span_probability([{"token": "ab", "logprob": -1}], (5, 7)) is None
