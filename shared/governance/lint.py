"""``cdp plan lint``: what a tracking plan gets wrong before it reaches ingest.

Two layers. Loading already refuses what the checks could not apply (an unknown type, format,
status, finding kind or mode, a misspelt key, a name against the convention): lint reports each
of those refusals as an error of its own, with where it is. Then, on a plan that loads, each
rule below looks for what parses but contradicts itself: a required property with a default, an
enum value of another type than its property, a default the property itself would flag, a
range on a string, a platform event that is also a planned one, a deprecated event with no
note saying what to send instead. Errors fail the lint; warnings (an event nobody owns) do not.
Pure: text in, issues out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import yaml
from pydantic import ValidationError

from shared.governance.checks import TYPE_CHECKS, value_problem
from shared.governance.plan import Property, TrackingPlan, parse_plan

ERROR = "error"
WARNING = "warning"
NUMERIC = frozenset({"number", "integer"})
STRINGS = frozenset({"string"})


@dataclass(frozen=True)
class Issue:
    severity: str  # error | warning
    where: str  # dotted path in the plan, e.g. events.kyc_rejected.properties.reason
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def lint_text(text: str) -> list[Issue]:
    """Every issue of a plan's YAML text: why it does not load, or what its rules find."""
    try:
        plan = parse_plan(text)
    except yaml.YAMLError as error:
        return [Issue(ERROR, "", f"not YAML: {error}")]
    except ValidationError as error:
        return [_refusal(e["loc"], e["msg"]) for e in error.errors()]
    except ValueError as error:
        return [Issue(ERROR, "", str(error))]
    return lint(plan)


def _refusal(loc: tuple[int | str, ...], message: str, prefix: str = "") -> Issue:
    where = ".".join([*([prefix] if prefix else []), *(str(part) for part in loc)])
    return Issue(ERROR, where, message.removeprefix("Value error, "))


def lint(plan: TrackingPlan) -> list[Issue]:
    return [issue for rule in RULES for issue in rule(plan)]


def failed(issues: list[Issue]) -> bool:
    return any(i.severity == ERROR for i in issues)


def _properties(plan: TrackingPlan) -> Iterator[tuple[str, Property]]:
    """Every property declaration, with where it is."""
    for name, prop in plan.common_properties.items():
        yield f"common_properties.{name}", prop
    for name, prop in plan.traits.items():
        yield f"traits.{name}", prop
    for section, events in (("events", plan.events), ("platform_events", plan.platform_events)):
        for event, spec in events.items():
            for name, prop in spec.properties.items():
                yield f"{section}.{event}.properties.{name}", prop


def required_with_default(plan: TrackingPlan) -> Iterator[Issue]:
    for where, prop in _properties(plan):
        if prop.required and prop.default is not None:
            yield Issue(ERROR, where, "required, yet has a default: which is it?")


def required_for_without_required(plan: TrackingPlan) -> Iterator[Issue]:
    for where, prop in _properties(plan):
        if prop.required_for and not prop.required:
            yield Issue(ERROR, where, "required_for without required: true")


def enum_values(plan: TrackingPlan) -> Iterator[Issue]:
    for where, prop in _properties(plan):
        if prop.enum is None:
            continue
        if not prop.enum:
            yield Issue(ERROR, where, "an empty enum: no value could pass")
        wrong = [v for v in prop.enum if not TYPE_CHECKS[prop.type](v)]
        if wrong:
            shown = ", ".join(repr(v) for v in wrong)
            yield Issue(ERROR, where, f"enum value(s) {shown} are not of type {prop.type}")
        if len(set(prop.enum)) < len(prop.enum):
            yield Issue(WARNING, where, "an enum value is listed twice")


def constraints_fit_the_type(plan: TrackingPlan) -> Iterator[Issue]:
    for where, prop in _properties(plan):
        ranged = prop.minimum is not None or prop.maximum is not None
        if ranged and prop.type not in NUMERIC:
            yield Issue(ERROR, where, f"minimum/maximum on a {prop.type}: only numbers have one")
        if prop.minimum is not None and prop.maximum is not None and prop.minimum > prop.maximum:
            yield Issue(ERROR, where, "minimum is above maximum: no value could pass")
        for key in ("format", "pattern"):
            if getattr(prop, key) is not None and prop.type not in STRINGS:
                yield Issue(ERROR, where, f"{key} on a {prop.type}: only strings have one")


def default_passes(plan: TrackingPlan) -> Iterator[Issue]:
    for where, prop in _properties(plan):
        if prop.default is not None and TYPE_CHECKS[prop.type](prop.default):
            problem = value_problem(prop, prop.default)
            if problem:
                yield Issue(ERROR, where, f"the default would be flagged: {problem}")
        elif prop.default is not None:
            yield Issue(ERROR, where, f"the default is not of type {prop.type}")


def platform_events_are_not_planned_twice(plan: TrackingPlan) -> Iterator[Issue]:
    for name in sorted(set(plan.platform_events) & set(plan.events)):
        yield Issue(ERROR, f"platform_events.{name}", "also a planned event: declare it once")


def deprecations_say_what_instead(plan: TrackingPlan) -> Iterator[Issue]:
    for section, events in (("events", plan.events), ("platform_events", plan.platform_events)):
        for name, spec in events.items():
            if spec.status == "deprecated" and not spec.replacement.strip():
                yield Issue(ERROR, f"{section}.{name}", "deprecated without a replacement note")
            elif spec.status != "deprecated" and spec.replacement:
                yield Issue(WARNING, f"{section}.{name}", "a replacement note, but not deprecated")


def common_properties_keep_their_type(plan: TrackingPlan) -> Iterator[Issue]:
    for event, spec in plan.events.items():
        for name, prop in spec.properties.items():
            common = plan.common_properties.get(name)
            if common is not None and common.type != prop.type:
                yield Issue(
                    ERROR,
                    f"events.{event}.properties.{name}",
                    f"retypes the common property {name} ({common.type} → {prop.type})",
                )


def events_have_owners(plan: TrackingPlan) -> Iterator[Issue]:
    for section, events in (("events", plan.events), ("platform_events", plan.platform_events)):
        for name, spec in events.items():
            if not spec.owner:
                yield Issue(WARNING, f"{section}.{name}", "no owner")
            if not spec.description:
                yield Issue(WARNING, f"{section}.{name}", "no description")


def pii_section_loads(plan: TrackingPlan) -> Iterator[Issue]:
    from shared.governance.pii import PiiConfig  # the PII guard owns its section's rules

    try:
        PiiConfig.model_validate(plan.pii)
    except ValidationError as error:
        for e in error.errors():
            yield _refusal(e["loc"], e["msg"], "pii")


RULES: tuple[Callable[[TrackingPlan], Iterator[Issue]], ...] = (
    required_with_default,
    required_for_without_required,
    enum_values,
    constraints_fit_the_type,
    default_passes,
    platform_events_are_not_planned_twice,
    deprecations_say_what_instead,
    common_properties_keep_their_type,
    events_have_owners,
    pii_section_loads,
)
