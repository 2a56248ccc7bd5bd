"""The extractor registry: every built-in algorithm registers, a broken one is loud, and an origin's
class names are suggested as a registry's are."""

from __future__ import annotations

import pytest

from nnparts.client.extract import base
from nnparts.client.extract.pipeline import resolve_classes
from nnparts.schemas.errors import UnknownClass


def test_every_builtin_registers_under_its_name() -> None:
    assert set(base._BUILTINS) <= set(base.list_extractors())


def test_a_missing_builtin_is_an_error_not_a_silently_missing_method(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(base._BUILTINS, "gone", "nnparts.client.extract.no_such_algorithm")
    with pytest.raises(ModuleNotFoundError, match="no_such_algorithm"):
        base.get_extractor("channel")


def test_an_unknown_origin_class_suggests_the_nearest_names() -> None:
    with pytest.raises(UnknownClass) as info:
        resolve_classes(["Kat"], ["airplane", "cat", "dog"])
    assert info.value.nearest == ["cat"] and "did you mean: cat?" in str(info.value)
    with pytest.raises(UnknownClass) as info:
        resolve_classes(["CATT"], ["airplane", "cat", "dog"])  # case does not hide a near name
    assert info.value.nearest == ["cat"]
    assert resolve_classes(["CAT", "dog"], ["airplane", "cat", "dog"]) == [1, 2]
