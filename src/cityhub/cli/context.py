"""What every command works on, built once per invocation: the settings from the
environment, the declarations they point at, the lake."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import typer
from pydantic import ValidationError
from rich.console import Console

from cityhub.core.settings import Settings
from cityhub.declarations import Declarations, load
from cityhub.lake import Lake

def console() -> Console:
    """Rich's console for what is printed now: made at the time, so it takes the width
    (``COLUMNS``, the terminal) of this invocation, not of the first one in the process."""
    return Console()


def fail(msg: str, code: int = 2) -> None:
    console().print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code)


@dataclass
class Context:
    cfg: Settings

    @cached_property
    def decl(self) -> Declarations:
        return load(self.cfg.declarations)

    @cached_property
    def lake(self) -> Lake:
        self.decl.city(self.cfg.city)
        return Lake(self.cfg, self.decl)


def obtain(ctx: typer.Context) -> Context:
    """The invocation's context (built by the app's callback)."""
    root = ctx.find_root()
    if root.obj is None:
        try:
            root.obj = Context(Settings())
        except ValidationError as e:
            fail("settings: " + "; ".join(
                (f"CITYHUB_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" if err["loc"]
                 else err["msg"].removeprefix("Value error, "))  # a rule over several settings names them
                for err in e.errors()))
    return root.obj
