"""The action graph of one analysis, kept in both directions and built once:
who produces each path, who reads it, and each action's upstream and downstream actions."""

from __future__ import annotations

import operator
from functools import cached_property
from typing import Iterable

from .actions import Action, Artifact

_path = operator.attrgetter("path")


class ActionGraph:
    def __init__(self, actions: Iterable[Action] = ()):
        self.actions: list[Action] = []  # in analysis order
        self.producer: dict[str, Action] = {}  # output path -> the action writing it
        for action in actions:
            self.add(action)

    def add(self, action: Action) -> None:
        self.actions.append(action)
        for out in action.outputs:
            self.producer[out.path] = action

    @cached_property
    def by_id(self) -> dict[str, Action]:
        return {a.id: a for a in self.actions}

    @cached_property
    def upstream(self) -> dict[str, tuple[str, ...]]:
        """Action id -> the ids of the actions producing its inputs."""
        producer = self.producer
        return {a.id: tuple(dict.fromkeys(producer[i.path].id for i in a.inputs
                                          if not i.is_source and i.path in producer))
                for a in self.actions}

    @cached_property
    def dependents(self) -> dict[str, list[str]]:
        """Action id -> the ids of the actions reading one of its outputs."""
        down: dict[str, list[str]] = {a.id: [] for a in self.actions}
        for action_id, ups in self.upstream.items():
            for up in ups:
                down[up].append(action_id)
        return down

    @cached_property
    def consumers(self) -> dict[str, list[str]]:
        """Source path -> the ids of the actions reading it."""
        readers: dict[str, list[str]] = {}
        for a in self.actions:
            for art in a.inputs:
                if art.is_source:
                    readers.setdefault(art.path, []).append(a.id)
        return readers

    def needed(self, wanted: Iterable[Artifact]) -> list[Action]:
        """Every action the wanted artifacts need, dependencies first."""
        return self.needed_set(wanted).actions

    def needed_set(self, wanted: Iterable[Artifact]) -> "Needed":
        """The same as a Needed (kept: the server builds the same artifacts of
        the same graph again; keyed by their paths, which hash at C speed)."""
        wanted = tuple(wanted)
        key = tuple(map(_path, wanted))
        kept = self.__dict__.get("_needed")
        if kept is None or kept[0] != key:
            kept = self.__dict__["_needed"] = (key, Needed(self._needed_by(wanted)))
        return kept[1]

    def _needed_by(self, wanted: tuple[Artifact, ...]) -> list[Action]:
        producer = self.producer
        seen: set[str] = set()
        order: list[Action] = []
        stack: list[tuple[Action, bool]] = [(producer[a.path], False) for a in wanted if not a.is_source]
        while stack:
            action, expanded = stack.pop()
            if expanded:
                order.append(action)
                continue
            if action.id in seen:
                continue
            seen.add(action.id)
            stack.append((action, True))
            for art in action.inputs:
                if not art.is_source and producer[art.path].id not in seen:
                    stack.append((producer[art.path], False))
        return order

    def downstream(self, seeds: Iterable[str]) -> set[str]:
        """The seed action ids and every action that depends on one of them."""
        dependents = self.dependents
        closure: set[str] = set()
        stack = list(seeds)
        while stack:
            action_id = stack.pop()
            if action_id not in closure:
                closure.add(action_id)
                stack.extend(dependents.get(action_id, ()))
        return closure


class Needed:
    """What some wanted artifacts need: the actions, dependencies first, and
    their ids as a list (the same order) and a set."""

    __slots__ = ("actions", "ids", "id_set", "_position")

    def __init__(self, actions: list[Action]):
        self.actions = actions
        self.ids = [a.id for a in actions]
        self.id_set = frozenset(self.ids)
        self._position: dict[str, int] | None = None

    def ordered(self, ids: Iterable[str], by_id: dict[str, Action]) -> list[Action]:
        """The actions of these ids (a subset), dependencies first."""
        if self._position is None:
            self._position = {action_id: i for i, action_id in enumerate(self.ids)}
        return [by_id[i] for i in sorted(ids, key=self._position.__getitem__)]
