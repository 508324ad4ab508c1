"""Safe YAML with line numbers: every problem collected, each with its line."""

from __future__ import annotations

import pickle

import pytest

from hub.errors import ConfigError
from hub.yamlsrc import LineMap, Problem, YamlError, format_path, load_yaml, parse_yaml

DOC = """\
version: 1
trigger:
  event: payment.captured
steps:
  - id: contact
    with:
      email: x@example.com
  - id: second
"""


def test_format_path_reads_like_the_docs() -> None:
    assert format_path(("steps", 0, "with", "email")) == "steps[0].with.email"
    assert format_path(()) == ""
    assert format_path((0, "a")) == "[0].a"


def test_problem_str_is_file_line_path_message() -> None:
    assert str(Problem("r.yaml", 7, "steps[0].use", "bad")) == "r.yaml:7: steps[0].use: bad"
    assert str(Problem("r.yaml", 1, "", "empty")) == "r.yaml:1: empty"


def test_load_returns_data_and_lines_of_each_path() -> None:
    data, lines = load_yaml(DOC, "r.yaml")
    assert data["steps"][0]["with"] == {"email": "x@example.com"}
    assert lines.line(("version",)) == 1
    assert lines.line(("trigger", "event")) == 3
    assert lines.line(("steps", 0)) == 5
    assert lines.line(("steps", 0, "with")) == 6  # the key's line, not the block's
    assert lines.line(("steps", 0, "with", "email")) == 7
    assert lines.line(("steps", 1, "id")) == 8


def test_line_falls_back_to_the_nearest_parent() -> None:
    _, lines = load_yaml(DOC, "r.yaml")
    assert lines.line(("steps", 0, "with", "missing", "deeper")) == 6
    assert lines.line(("steps", 0, "use")) == 5
    assert lines.line(("nothing",)) == 1
    assert LineMap().line(("a",)) == 1


@pytest.mark.parametrize("key", ["on", "yes", "no", "off", "y", "n", "On", "TRUE"])
def test_yaml11_boolean_keys_are_refused(key: str) -> None:
    doc = parse_yaml(f"a: 1\n{key}: push\n", "r.yaml")
    assert [str(p) for p in doc.problems] == [
        f"r.yaml:2: {key}: key '{key}' is read as a boolean by YAML 1.1; quote it"
    ]
    assert doc.data[key] == "push"  # kept as written so later checks can name it


def test_quoted_boolean_keys_and_boolean_values_are_fine() -> None:
    data, _ = load_yaml("\"on\": 1\n'yes': 2\nenabled: yes\n", "r.yaml")
    assert data == {"on": 1, "yes": 2, "enabled": True}


def test_duplicate_keys_name_both_lines() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n", "r.yaml")
    assert [str(p) for p in doc.problems] == ["r.yaml:5: b.c: duplicate key 'c' (first at line 3)"]


def test_all_problems_come_together_in_one_error() -> None:
    with pytest.raises(YamlError) as info:
        load_yaml("on: 1\na: 2\na: 3\nsteps:\n  - yes: 1\n", "r.yaml")
    assert [(p.line, p.path) for p in info.value.problems] == [
        (1, "on"),
        (3, "a"),
        (5, "steps[0].yes"),
    ]
    assert isinstance(info.value, ConfigError)
    assert str(info.value).count("\n") == 2


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(YamlError) as info:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "r.yaml")
    [problem] = info.value.problems
    assert problem.line == 3
    assert "YAML syntax error" in problem.message
    assert "line 3, column" in problem.message


def test_arbitrary_python_objects_are_refused() -> None:
    doc = parse_yaml("a: !!python/object/apply:os.system ['true']\n", "r.yaml")
    assert doc.data is None
    assert "could not determine a constructor" in doc.problems[0].message


def test_empty_document_is_none_without_problems() -> None:
    assert load_yaml("# nothing\n", "r.yaml")[0] is None


def test_multiple_documents_are_an_error() -> None:
    with pytest.raises(YamlError, match=r"r\.yaml:"):
        load_yaml("a: 1\n---\nb: 2\n", "r.yaml")


def test_nested_aliases_do_not_explode() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    data, line_map = load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert len(data) == 12
    assert line_map.line(("a11",)) == 12


def test_yaml_error_pickles_with_its_problems() -> None:
    err = YamlError([Problem("r.yaml", 2, "on", "bad")])
    clone = pickle.loads(pickle.dumps(err))
    assert clone.problems == err.problems
    assert str(clone) == "r.yaml:2: on: bad"
