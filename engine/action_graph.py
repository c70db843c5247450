"""The action graph of one analysis, kept in both directions and built once:
who produces each path, who reads it, and each action's upstream and downstream actions."""

from __future__ import annotations

from functools import cached_property
from typing import Iterable

from .actions import Action, Artifact


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
        """Every action the wanted artifacts need, dependencies first (kept:
        the server builds the same artifacts of the same graph again)."""
        wanted = tuple(wanted)
        cache = self.__dict__.setdefault("_needed", {})
        if wanted not in cache:
            cache.clear()
            cache[wanted] = self._needed_by(wanted)
        return cache[wanted]

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
