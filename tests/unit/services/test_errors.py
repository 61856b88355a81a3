"""The error hierarchy: one tree, drawn at the top of core.domain.errors, of documented
classes; the typed refusals that replaced a bare `InvalidValue` still are one."""

from __future__ import annotations

import inspect

import pytest

from core.domain import errors as domain_errors
from core.domain.errors import DomainError, InvalidValue
from core.services import errors as service_errors
from core.storage import errors as storage_errors

ERRORS = [
    cls
    for module in (domain_errors, service_errors, storage_errors)
    for _, cls in inspect.getmembers(module, inspect.isclass)
    if issubclass(cls, DomainError) and cls.__module__ == module.__name__
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_is_drawn_in_the_tree_and_says_what_it_is(cls: type[DomainError]) -> None:
    assert f" {cls.__name__} " in f"{domain_errors.__doc__} ".replace("\n", " \n")
    doc = cls.__dict__.get("__doc__")
    assert doc and "\n" not in doc.strip()


@pytest.mark.parametrize(
    "error",
    [
        domain_errors.LateLimitReached(2),
        service_errors.AlreadyCalled(),
        service_errors.UnknownLinkCode(),
        service_errors.AccountDisabled(),
        service_errors.NoQueueChosen("say which queue, e.g. /queue PHARM"),
        service_errors.NoCounters("PHARM"),
        service_errors.NothingCalled(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_typed_refusals_keep_the_code_of_an_invalid_value(error: InvalidValue) -> None:
    assert isinstance(error, InvalidValue)
    assert error.code == "invalid_value"
