import polars as pl
import pytest

from engine.batch.service import with_template_fields
from engine.errors import InvalidRequest
from engine.prompt.templates import parse_template


def test_renders_plain_fields_and_escapes():
    template = parse_template("Hi {name}: {content} {{literal}}")
    assert template.fields == {"name", "content"}
    assert template.render({"name": "Ann", "content": "text"}) == "Hi Ann: text {literal}"


def test_non_string_values_render_as_json():
    assert parse_template("{x}|{y}|{z}").render({"x": 3, "y": None, "z": {"a": [1]}}) == '3||{"a": [1]}'


@pytest.mark.parametrize(
    "source",
    ["{x.__globals__}", "{x[0]}", "{0}", "{}", "{content:>50000000}", "{content!r}", "{a-b}"],
)
def test_refuses_everything_but_plain_names(source):
    with pytest.raises(InvalidRequest) as info:
        parse_template(source)
    assert info.value.field == "user_prompt_template"


def test_malformed_template_is_a_clear_error():
    with pytest.raises(InvalidRequest, match="malformed template"):
        parse_template("unclosed {content")


def test_missing_field_names_it():
    with pytest.raises(InvalidRequest, match=r"\{company\}.*content"):
        parse_template("{company}").render({"content": "x"})


def test_batch_input_is_checked_for_the_template_fields_as_it_streams():
    frames = [pl.DataFrame({"content": ["a", "b"], "id": [None, None],
                            "metadata": ['{"product": "p", "note": "{\\"tier\\": 1}"}', '{"product":"q","tier":2}']}),
              pl.DataFrame({"content": ["c", "d"], "id": [None, None], "metadata": ['{"product": 1}', None]})]
    with pytest.raises(InvalidRequest) as missing:  # item 0's "tier" is only inside a string value
        list(with_template_fields(frames, frozenset({"product", "tier"})))
    assert missing.value.field == "items.0.metadata.tier"
    passed = []
    with pytest.raises(InvalidRequest) as missing:  # item 3 has no metadata at all
        for frame in with_template_fields(frames, frozenset({"product"})):
            passed.append(frame.height)
    assert passed == [2] and missing.value.field == "items.3.metadata.product"
