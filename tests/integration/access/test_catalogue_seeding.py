"""API workers start together and each seeds the catalogue from the declaration: none
may fail on another's rows (a look-then-insert let two insert the same id, and the
worker that lost crashed at start-up)."""
from __future__ import annotations

import multiprocessing as mp

from cityhub.access import catalogue


def _seed(home: str, barrier) -> None:
    import os

    os.environ["CITYHUB_HOME"] = home
    from cityhub.core.settings import Settings
    from cityhub.declarations import load
    from cityhub.lake.hubdb import engine

    cfg, decl = Settings(), load()
    engine(cfg.hub_db_uri)  # the tables exist before the race, as the app factory makes them
    barrier.wait()
    catalogue.load(cfg, decl)


def test_workers_seeding_the_catalogue_at_once_all_succeed(tmp_path, cfg, decl):
    ctx = mp.get_context("spawn")
    for round_ in range(3):
        home = tmp_path / f"hub{round_}"
        home.mkdir()
        barrier = ctx.Barrier(4)
        seeders = [ctx.Process(target=_seed, args=(str(home), barrier)) for _ in range(4)]
        for s in seeders:
            s.start()
        for s in seeders:
            s.join(60)
        assert [s.exitcode for s in seeders] == [0, 0, 0, 0]
    seeded = catalogue.current(cfg.model_copy(update={"hub_db_uri": f"sqlite:///{home / 'hub.db'}"}), decl, 0)
    assert set(seeded.categories) == set(decl.catalogue.categories)
