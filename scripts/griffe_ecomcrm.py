"""Griffe extension used by the docs build (mkdocs.yml): teaches griffe ecomcrm's conventions.

Griffe reads the source statically; three of our conventions need help to render well:

- attrs classes (``@attrs.frozen``, ``@attrs.define``...) have no ``__init__`` in the source, so
  griffe saw no parameters: their ``Args:`` sections warned and lost their types. The extension
  builds the ``__init__`` attrs generates (fields in order, inherited fields first, ``kw_only``,
  ``default=``/``factory=``, ``init=False`` skipped, a leading ``_`` dropped from the name).
- Our docstrings say ``Example:`` (what doctest and ``help()`` readers see); griffe's Google
  parser only knows ``Examples:`` and rendered ours as prose, with ``>>>`` as nested quotes. The
  extension renames the section so examples render as highlighted code.
- Sphinx roles (``:class:`Name```, ``:func:``, ``:meth:``...) become mkdocstrings cross-references
  when griffe can resolve the name, plain code otherwise; a private default such as the
  ``_MISSING`` sentinel of ``EcomcrmError(value=...)`` is shown as ``...`` (the stub convention
  for "has a default that is not shown").
"""

from __future__ import annotations

import re
from typing import Any

from griffe import (
    Alias,
    AliasResolutionError,
    Attribute,
    Class,
    CyclicAliasError,
    Expr,
    ExprCall,
    Extension,
    Function,
    Module,
    NameResolutionError,
    Object,
    Parameter,
    ParameterKind,
    Parameters,
)

_ATTRS_DECORATORS = {
    "attrs.frozen",
    "attrs.define",
    "attrs.mutable",
    "attr.s",
    "attr.attrs",
    "attr.frozen",
    "attr.define",
    "attr.mutable",
}
_FIELD_CALLS = {"attrs.field", "attr.ib", "attr.attrib", "attr.field"}
_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.M)
_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj|const):`(~?)([\w.]+)(?:\(\))?`"
)


def _call_args(expr: object) -> dict[str, Any]:
    if not isinstance(expr, ExprCall):
        return {}
    args: dict[str, Any] = {}
    for argument in expr.arguments:
        name = getattr(argument, "name", None)
        if name is not None:
            args[name] = argument.value  # type: ignore[union-attr]
    return args


def _attrs_decorator(cls: Class) -> Expr | str | None:
    for decorator in cls.decorators:
        value = decorator.value
        path = value.function.canonical_path if isinstance(value, ExprCall) else None
        if path is None and isinstance(value, Expr):
            path = value.canonical_path
        if path in _ATTRS_DECORATORS:
            return value
    return None


def _attrs_parameters(cls: Class) -> list[Parameter]:
    decorator_args = _call_args(_attrs_decorator(cls))
    if str(decorator_args.get("init")) == "False":
        return []
    kw_only = str(decorator_args.get("kw_only")) == "True"
    parameters = []
    for member in cls.members.values():
        if not isinstance(member, Attribute) or member.annotation is None:
            continue
        if "property" in member.labels or (
            "class-attribute" in member.labels and "instance-attribute" not in member.labels
        ):
            continue
        value = member.value
        field: dict[str, Any] = {}
        if isinstance(value, ExprCall) and value.function.canonical_path in _FIELD_CALLS:
            field = _call_args(value)
            if str(field.get("init")) == "False":
                continue
            if "factory" in field:
                default: Any = ExprCall(function=field["factory"], arguments=[])
            else:
                default = field.get("default")
        else:
            default = value
        kind = (
            ParameterKind.keyword_only
            if kw_only or str(field.get("kw_only")) == "True"
            else ParameterKind.positional_or_keyword
        )
        name = str(field.get("alias", "")).strip("'\"") or member.name.lstrip("_")
        parameters.append(Parameter(name, annotation=member.annotation, kind=kind, default=default))
    return parameters


def _set_attrs_init(cls: Class) -> None:
    if "__init__" in cls.members or _attrs_decorator(cls) is None:
        return
    try:
        mro = cls.mro()
    except ValueError:
        mro = []
    by_name: dict[str, Parameter] = {}
    for klass in [*reversed(mro), cls]:
        if _attrs_decorator(klass) is not None:
            for parameter in _attrs_parameters(klass):
                by_name.pop(parameter.name, None)
                by_name[parameter.name] = parameter
    ordered = sorted(by_name.values(), key=lambda p: p.kind is ParameterKind.keyword_only)
    init = Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parent=cls,
        parameters=Parameters(
            Parameter("self", kind=ParameterKind.positional_or_keyword),
            *ordered,
        ),
        returns="None",
    )
    cls.set_member("__init__", init)


def _exported(module: Module, name: str) -> bool:
    return name in {getattr(e, "name", str(e)) for e in (module.exports or ())}


def _rendered(obj: Object, path: str) -> bool:
    """Whether the API pages show ``path`` (an unshown target would be a broken link)."""
    try:
        target = obj.modules_collection[path]
    except KeyError:
        return False
    while isinstance(target, Alias):
        try:
            target = target.final_target
        except (AliasResolutionError, CyclicAliasError):  # an unresolvable alias is not rendered
            return False
    chain: list[Object] = []
    node: Object | None = target
    while node is not None and not isinstance(node, Module):
        chain.append(node)
        node = node.parent
    if node is None:
        return False
    if not chain:  # a module: public packages only
        return not any(part.startswith("_") for part in node.path.split("."))
    if any(o.name.startswith("_") or o.docstring is None for o in chain):
        return False
    top = chain[-1]
    parts = node.path.split(".")
    if not any(part.startswith("_") for part in parts):
        return node.exports is None or _exported(node, top.name)
    public = ".".join(parts[: next(i for i, part in enumerate(parts) if part.startswith("_"))])
    package = obj.modules_collection[public]
    return isinstance(package, Module) and _exported(package, top.name)


def _resolve(obj: Object, name: str) -> str | None:
    head, _, rest = name.partition(".")
    scope: Object | None = obj
    path = name if name.startswith("ecomcrm.") else None
    while path is None and scope is not None:
        try:
            path = scope.resolve(head)
        except NameResolutionError:
            scope = scope.parent
            continue
        path = f"{path}.{rest}" if rest else path
    return path if path is not None and _rendered(obj, path) else None


def _rewrite_docstring(obj: Object) -> None:
    docstring = obj.docstring
    if docstring is None:
        return
    text = _EXAMPLE.sub(r"\1Examples:", docstring.value)

    def role(match: re.Match[str]) -> str:
        tilde, name = match.groups()
        shown = name.rsplit(".", 1)[-1] if tilde else name
        scope = obj if isinstance(obj, Module | Class) else obj.parent or obj
        target = _resolve(scope, name)
        return f"[`{shown}`][{target}]" if target else f"`{shown}`"

    docstring.value = _ROLE.sub(role, text)


def _readable_defaults(function: Function) -> None:
    for parameter in function.parameters:
        default = parameter.default
        if default is not None and str(default).startswith("_"):
            parameter.default = "..."


def _walk(obj: Object, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if isinstance(obj, Class):
        _set_attrs_init(obj)
    if isinstance(obj, Function):
        _readable_defaults(obj)
    _rewrite_docstring(obj)
    if isinstance(obj, Module | Class):
        for member in list(obj.members.values()):
            if not isinstance(member, Alias):
                _walk(member, seen)


class EcomcrmDocs(Extension):
    """Applies the rewrites above to every object of a loaded package."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        """Rewrite the whole package once griffe has loaded it."""
        _walk(pkg, set())
