"""What `make run` (manage.py run_portal) does besides starting web, worker and beat.

Apps register, from their AppConfig.ready():
- set-up steps (`@setup_step(order)`): idempotent functions run after `migrate` (built-in CA, demo data, ...);
- background processes (`@portal_process`): extra long-running commands started with the portal (the demo IIS lab);
- after-start steps (`@after_start_step(order)`): run once the workers are up (e.g. onboarding the demo hosts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Say = Callable[[str], None]


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready_check: Callable[[], bool] | None = None  # polled until true before after-start steps run


_setup: list[tuple[int, Callable[[Say], None]]] = []
_after_start: list[tuple[int, Callable[[Say], None]]] = []
_processes: list[Callable[[], ProcessSpec | None]] = []


def setup_step(order: int) -> Callable[[Callable[[Say], None]], Callable[[Say], None]]:
    def register(fn: Callable[[Say], None]) -> Callable[[Say], None]:
        _setup.append((order, fn))
        return fn

    return register


def after_start_step(order: int) -> Callable[[Callable[[Say], None]], Callable[[Say], None]]:
    def register(fn: Callable[[Say], None]) -> Callable[[Say], None]:
        _after_start.append((order, fn))
        return fn

    return register


def portal_process(fn: Callable[[], ProcessSpec | None]) -> Callable[[], ProcessSpec | None]:
    _processes.append(fn)
    return fn


def setup_steps() -> list[Callable[[Say], None]]:
    return [fn for _, fn in sorted(_setup, key=lambda pair: pair[0])]


def after_start_steps() -> list[Callable[[Say], None]]:
    return [fn for _, fn in sorted(_after_start, key=lambda pair: pair[0])]


def extra_processes() -> list[ProcessSpec]:
    return [spec for spec in (fn() for fn in _processes) if spec is not None]
