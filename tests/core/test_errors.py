"""Exception groups flattened to the one error a user is shown (:func:`single_error`)."""

from __future__ import annotations

from bulkup.errors import (
    BulkupError,
    ServerError,
    TransportError,
    UploadError,
    UploadTimeout,
    leaves,
    single_error,
)


def test_leaves_are_every_error_of_nested_groups_in_order() -> None:
    a, b, c, d = (TransportError(name) for name in "abcd")
    group = ExceptionGroup("outer", [a, ExceptionGroup("inner", [b, c]), d])
    assert leaves(group) == [a, b, c, d]
    assert leaves(a) == [a]  # not a group: itself


def test_the_first_error_of_a_group_of_known_errors_is_the_one_shown() -> None:
    first, second = ServerError("503", http_status=503), TransportError("reset")
    group = ExceptionGroup("workers", [ExceptionGroup("nested", [first]), second])
    assert single_error(group, BulkupError) is first


def test_a_preferred_kind_wins_over_errors_before_it() -> None:
    timeout = UploadTimeout("no answer")
    group = ExceptionGroup("workers", [ServerError("503", http_status=503), timeout])
    assert single_error(group, UploadError, prefer=UploadTimeout) is timeout
    assert single_error(group, UploadError, prefer=FileNotFoundError) is group.exceptions[0]


def test_a_group_holding_anything_else_is_kept_whole_with_its_tracebacks() -> None:
    group = ExceptionGroup("workers", [ServerError("503", http_status=503), KeyError("a bug")])
    assert single_error(group, UploadError) is group
    cancelled = BaseExceptionGroup(
        "workers", [ServerError("503", http_status=503), KeyboardInterrupt()]
    )
    assert single_error(cancelled, UploadError) is cancelled


def test_an_error_that_is_no_group_is_shown_as_it_is() -> None:
    error, bug = TransportError("reset"), KeyError("a bug")
    assert single_error(error, BulkupError) is error
    assert single_error(bug, BulkupError) is bug
