import pytest

from ecomcrm import errors


def test_every_error_derives_from_root() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.EcomcrmError)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ValidationError, ValueError),
        (errors.NotFoundError, LookupError),
        (errors.ConvergenceError, ArithmeticError),
        (errors.ConfigurationError, ValueError),
        (errors.ExpressionError, ValueError),
    ],
)
def test_builtin_mixins(cls: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(cls, builtin)


def test_message_names_entity_field_value_row() -> None:
    err = errors.ValidationError("must be positive", entity="Order", field="total", value=-3, row=7)
    assert str(err) == "Order.total: must be positive (got -3) at row 7"
    assert (err.entity, err.field, err.value, err.row) == ("Order", "total", -3, 7)


def test_expression_error_has_caret() -> None:
    err = errors.ExpressionError(
        "unknown field", source="a and\nbb > 1", line=2, column=1, suggestion="b"
    )
    text = str(err)
    assert "did you mean 'b'?" in text
    assert text.endswith("  bb > 1\n  ^")
