"""Choose the scenario and step for a request.

Selection order: the ``X-Mockrouter-Scenario`` header; the model ``mockrouter/NAME``; the
highest-priority scenario whose ``match`` holds (scenarios scoped to the request's key
first, then global ones; equal priorities go to the one loaded first); the default
scenario (``echo``). Cursors are kept per (scenario, state key).
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.catalog import SCENARIO_MODEL_PREFIX
from ..errors import SelectionError
from ..state.store import State
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


class Engine:
    """The loaded scenarios and the rules that pick one per request."""

    def __init__(self, scenarios: list[Scenario]) -> None:
        self._order = 0
        self.global_set = ScenarioSet()
        self.scoped: dict[str, ScenarioSet] = {}
        self.add(scenarios)

    def add(self, scenarios: list[Scenario], key: str | None = None) -> None:
        """Add (or replace, by name) scenarios globally or scoped to one raw API key."""
        placed = []
        for s in scenarios:
            self._order += 1
            placed.append(replace(s, order=self._order))
        target = self.global_set if key is None else self.scoped.setdefault(key, ScenarioSet())
        target.add_all(placed)

    def drop_scope(self, key: str | None = None) -> None:
        if key is None:
            self.scoped.clear()
        else:
            self.scoped.pop(key, None)

    def find(self, name: str, key: str | None) -> Scenario | None:
        if key is not None and key in self.scoped:
            found = self.scoped[key].by_name.get(name)
            if found is not None:
                return found
        return self.global_set.by_name.get(name)

    def names(self, key: str | None = None) -> list[str]:
        names = list(self.global_set.by_name)
        if key is not None and key in self.scoped:
            names += [n for n in self.scoped[key].by_name if n not in names]
        return names

    def all(self, key: str | None = None) -> list[Scenario]:
        out = sorted(self.global_set.by_name.values(), key=lambda s: s.order)
        if key is not None and key in self.scoped:
            out = sorted(self.scoped[key].by_name.values(), key=lambda s: s.order) + out
        return out

    def _named(self, name: str, key: str | None, how: str) -> Scenario:
        found = self.find(name, key)
        if found is None:
            hint = difflib.get_close_matches(name, self.names(key), n=1)
            message = f"No scenario named {name!r}"
            message += f" (did you mean {hint[0]!r}?)" if hint else ""
            message += f"; selected by {how}."
            raise SelectionError(message, "model" if how == "model" else None)
        return found

    def choose(
        self, facts: RequestFacts, key: str, header_name: str | None
    ) -> tuple[Scenario, str, list[dict[str, Any]]]:
        """Pick the scenario; return it, how it was chosen and (if unmatched) near misses."""
        if header_name:
            return self._named(header_name, key, "header X-Mockrouter-Scenario"), "header", []
        if facts.model.startswith(SCENARIO_MODEL_PREFIX):
            return self._named(facts.model[len(SCENARIO_MODEL_PREFIX) :], key, "model"), "model", []
        scoped = self.scoped.get(key)
        for group in (scoped, self.global_set):
            if group is None:
                continue
            for s in group.candidates(facts.model):
                assert s.match is not None
                if holds(s.match, facts):
                    return s, "match", []
        default = self.find(DEFAULT_SCENARIO, key)
        if default is None:
            raise SelectionError("No scenario matched and no default 'echo' is loaded.")
        return default, "default", self.near_misses(facts, key)

    def near_misses(self, facts: RequestFacts, key: str, limit: int = 3) -> list[dict[str, Any]]:
        """The ``limit`` nearest scenarios and what failed in each (as WireMock's near misses)."""
        scored: list[tuple[float, int, Scenario, MatchResult]] = []
        groups = [self.scoped[key]] if key in self.scoped else []
        groups.append(self.global_set)
        for group in groups:
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
        self, facts: RequestFacts, key: str, state_key: str, header_name: str | None, state: State, rng: random.Random
    ) -> Selection:
        """Choose scenario and step, advance the cursor, and apply chaos."""
        scenario, how, misses = self.choose(facts, key, header_name)
        if scenario.chaos is not None and rng.random() < scenario.chaos.rate:
            fault = rng.choice(scenario.chaos.faults)
            return Selection(scenario, fault, -1, how, misses, chaos=True)
        served = state.advance(scenario.name, state_key)
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
