"""Choose the scenario and step for a request.

Selection order: the ``X-Mockrouter-Scenario`` header; the model ``mockrouter/NAME``; the
highest-priority scenario whose ``match`` holds (scenarios scoped to the request's test
(``X-Mockrouter-Test``) first, then its key's, then global ones; equal priorities go to the
one loaded first); the default scenario (``echo``). Cursors are kept per (scenario, state key).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.catalog import SCENARIO_MODEL_PREFIX
from ..errors import SelectionError
from ..state.store import TEST_PREFIX, State
from .matcher import MatchResult, RequestFacts, evaluate, holds
from .model import Scenario, Step

DEFAULT_SCENARIO = "echo"


@dataclass(slots=True)
class Selection:
    scenario: Scenario
    step: Step
    step_index: int
    #: How it was chosen: header | model | match | default.
    how: str
    near_misses: list[dict[str, Any]] = field(default_factory=list)
    chaos: bool = False


class ScenarioSet:
    """Scenarios of one scope, indexed by name and, for literal ``model`` matches, by model."""

    def __init__(self) -> None:
        self.by_name: dict[str, Scenario] = {}
        self._by_model: dict[str, list[Scenario]] = {}
        self._general: list[Scenario] = []
        self._matchable: list[Scenario] = []

    def add(self, scenario: Scenario) -> None:
        self.by_name[scenario.name] = scenario
        self._reindex()

    def add_all(self, scenarios: list[Scenario]) -> None:
        for s in scenarios:
            self.by_name[s.name] = s
        self._reindex()

    def _reindex(self) -> None:
        self._by_model = {}
        self._general = []
        self._matchable = [s for s in sorted(self.by_name.values(), key=_rank) if s.match is not None]
        for s in self._matchable:
            assert s.match is not None
            exact = s.match.exact_models
            if exact is None:
                self._general.append(s)
            else:
                for model in exact:
                    self._by_model.setdefault(model, []).append(s)

    def candidates(self, model: str) -> list[Scenario]:
        indexed = self._by_model.get(model)
        if not indexed:
            return self._general
        if not self._general:
            return indexed
        return sorted(indexed + self._general, key=_rank)

    def matchable(self) -> list[Scenario]:
        return self._matchable

    def __len__(self) -> int:
        return len(self.by_name)


def _rank(s: Scenario) -> tuple[int, int]:
    return (-s.priority, s.order)


def scopes(key: str | None, test: str | None = None) -> list[str]:
    """The scopes a request sees, most specific first: its test's, then its key's."""
    out = [TEST_PREFIX + test] if test else []
    if key is not None:
        out.append(key)
    return out


class Engine:
    """The loaded scenarios and the rules that pick one per request."""

    def __init__(self, scenarios: list[Scenario]) -> None:
        self._order = 0
        self.global_set = ScenarioSet()
        self.scoped: dict[str, ScenarioSet] = {}
        self.add(scenarios)

    def add(self, scenarios: list[Scenario], key: str | None = None, test: str | None = None) -> None:
        """Add (or replace, by name) scenarios globally, or scoped to one test (``X-Mockrouter-Test``)
        or one raw API key."""
        placed = []
        for s in scenarios:
            self._order += 1
            placed.append(replace(s, order=self._order))
        scope = scopes(key, test)
        target = self.scoped.setdefault(scope[0], ScenarioSet()) if scope else self.global_set
        target.add_all(placed)

    def drop_scope(self, key: str | None = None, test: str | None = None) -> None:
        """Forget the scenarios of a test, or of a key, or (neither given) every scoped one."""
        if key is None and test is None:
            self.scoped.clear()
        else:
            self.scoped.pop(scopes(key, test)[0], None)

    def _groups(self, key: str | None, test: str | None) -> list[ScenarioSet]:
        groups = [self.scoped[s] for s in scopes(key, test) if s in self.scoped]
        groups.append(self.global_set)
        return groups

    def find(self, name: str, key: str | None, test: str | None = None) -> Scenario | None:
        for group in self._groups(key, test):
            found = group.by_name.get(name)
            if found is not None:
                return found
        return None

    def names(self, key: str | None = None, test: str | None = None) -> list[str]:
        names: list[str] = []
        for group in reversed(self._groups(key, test)):
            names += [n for n in group.by_name if n not in names]
        return names

    def all(self, key: str | None = None, test: str | None = None) -> list[Scenario]:
        """Scenarios a request of ``key`` (and ``test``) may get: scoped ones first, in load order."""
        out: list[Scenario] = []
        for group in self._groups(key, test):
            out += sorted(group.by_name.values(), key=lambda s: s.order)
        return out

    def _named(self, name: str, key: str | None, how: str, test: str | None) -> Scenario:
        found = self.find(name, key, test)
        if found is None:
            import difflib  # for a hint only: not loaded unless something is misspelled

            hint = difflib.get_close_matches(name, self.names(key, test), n=1)
            message = f"No scenario named {name!r}"
            message += f" (did you mean {hint[0]!r}?)" if hint else ""
            message += f"; selected by {how}."
            raise SelectionError(message, "model" if how == "model" else None)
        return found

    def choose(
        self, facts: RequestFacts, key: str, header_name: str | None, test: str | None = None
    ) -> tuple[Scenario, str, list[dict[str, Any]]]:
        """Pick the scenario; return it, how it was chosen and (if unmatched) near misses."""
        if header_name:
            return self._named(header_name, key, "header X-Mockrouter-Scenario", test), "header", []
        if facts.model.startswith(SCENARIO_MODEL_PREFIX):
            return self._named(facts.model[len(SCENARIO_MODEL_PREFIX) :], key, "model", test), "model", []
        groups = self._groups(key, test) if self.scoped else (self.global_set,)
        for group in groups:
            for s in group.candidates(facts.model):
                assert s.match is not None
                if holds(s.match, facts):
                    return s, "match", []
        default = self.find(DEFAULT_SCENARIO, key, test)
        if default is None:
            raise SelectionError("No scenario matched and no default 'echo' is loaded.")
        return default, "default", self.near_misses(facts, key, test=test)

    def near_misses(
        self, facts: RequestFacts, key: str, limit: int = 3, test: str | None = None
    ) -> list[dict[str, Any]]:
        """The ``limit`` nearest scenarios and what failed in each (as WireMock's near misses)."""
        scored: list[tuple[float, int, Scenario, MatchResult]] = []
        for group in self._groups(key, test):
            for s in group.matchable():
                assert s.match is not None
                result = evaluate(s.match, facts)
                scored.append((result.distance, len(scored), s, result))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [
            {"scenario": s.name, "distance": round(d, 3), "mismatches": [m.as_dict() for m in r.mismatches]}
            for d, _, s, r in scored[:limit]
        ]

    def select(
        self,
        facts: RequestFacts,
        key: str,
        state_key: str,
        header_name: str | None,
        state: State,
        rng: random.Random,
        test: str | None = None,
    ) -> Selection:
        """Choose scenario and step, advance the cursor (in one process's ``state``), and apply chaos."""
        scenario, how, misses = self.choose(facts, key, header_name, test)
        chaos = self.chaos(scenario, how, misses, rng)
        return chaos or self.pick(scenario, state.advance(scenario.name, state_key), how, misses)

    @staticmethod
    def pick(scenario: Scenario, served: int, how: str, misses: list[dict[str, Any]]) -> Selection:
        """The step a cursor that served ``served`` requests before gives now (``then``: stay
        on the last, ``cycle`` or ``exhausted``)."""
        count = len(scenario.steps)
        if served < count:
            index = served
        elif scenario.then == "cycle":
            index = served % count
        elif scenario.then == "exhausted":
            raise SelectionError(f"Scenario {scenario.name!r} is exhausted: all {count} steps were served.")
        else:
            index = count - 1
        return Selection(scenario, scenario.steps[index], index, how, misses)

    @staticmethod
    def chaos(scenario: Scenario, how: str, misses: list[dict[str, Any]], rng: random.Random) -> Selection | None:
        """A chaos fault in place of the scenario's next step, when the roll says so (the cursor
        does not move)."""
        if scenario.chaos is not None and rng.random() < scenario.chaos.rate:
            return Selection(scenario, rng.choice(scenario.chaos.faults), -1, how, misses, chaos=True)
        return None
