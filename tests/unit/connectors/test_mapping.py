"""A declaration's mapping function: the hub's own mappings or a module outside the hub,
never another part of the hub; one that cannot be found is named with why."""
from __future__ import annotations

import pytest

from cityhub.connectors.mapping import resolve, unresolved
from cityhub.connectors.mappings.cameras import registry
from cityhub.core.errors import DeclarationError


def test_the_hubs_own_mappings_and_outside_modules_resolve():
    assert resolve("cityhub.connectors.mappings.cameras:registry") is registry
    assert resolve("json:dumps").__name__ == "dumps"  # a city's own module outside the hub


@pytest.mark.parametrize("function, why", [
    ("cityhub.access.clients:create", "a mapping lives in cityhub.connectors.mappings or outside the hub"),
    ("cityhub.connectors.mappings.cameras:nope", "cannot be found"),
    ("no_such_module_anywhere:fn", "cannot be found"),
    ("cityhub.connectors.mappings.cameras:re", "is not callable"),
])
def test_anything_else_is_refused_saying_why(function, why):
    with pytest.raises(DeclarationError) as e:
        resolve(function)
    assert why in e.value.detail and function in e.value.detail


def test_the_installed_connectors_name_functions_that_exist(decl):
    assert unresolved(decl) == {}
