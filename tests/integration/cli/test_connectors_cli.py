"""The data engineer's commands: ``cityhub connectors list|status|test`` and
``cityhub ingest``, run in-process as the ``cityhub`` script runs them (settings
built from the environment at each invocation)."""
from __future__ import annotations

import json
from datetime import date

from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.lake import Lake


def cli(*args: str) -> str:
    out = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert out.exit_code == 0, (out.output, out.exception)
    return out.stdout


def test_list_names_every_declared_connector(hub_home, decl):
    out = cli("connectors", "list")
    for name in decl.connectors:
        assert name in out


def test_status_shows_fresh_feeds_lag_and_drift(cfg):
    from cityhub_sim import social_security, traffic

    sw = social_security.generate(social_security.SocialSecurityConfig(start=date(2026, 11, 20), days=3,
                                                                       records_per_day=300))
    social_security.write_drop(sw, cfg.drop_root)
    traffic.write_drop(traffic.generate(traffic.TrafficConfig(intersections_per_county=10)), cfg.drop_root)
    rows = {r["connector"]: r for r in json.loads(cli("connectors", "status", "--json"))}
    assert rows["social_security_records_drop"]["lag"] == 3  # three files waiting
    assert rows["social_security_records_drop"]["fresh"] is None  # never run

    cli("ingest", "social_security_records_drop", "traffic_intersections_drop")
    rows = {r["connector"]: r for r in json.loads(cli("connectors", "status", "--json"))}
    for name in ("social_security_records_drop", "traffic_intersections_drop"):
        assert rows[name]["fresh"] is True and rows[name]["lag"] == 0
        assert rows[name]["result"] == "ok" and rows[name]["landed"] > 0
    assert "detector_count" in rows["traffic_intersections_drop"]["drift"]["new_fields"]
    assert rows["camera_catalog_http"]["configured"].startswith("no URL")


def test_dry_run_shows_what_would_land_and_why_not_without_committing(cfg, decl, tmp_path):
    sample = tmp_path / "records.csv"
    header = "业务流水号,业务类型代码,业务类型名称,办理渠道,行政区划代码,异地办理标志,办理状态,受理时间,办结时间,公民身份号码,姓名,联系电话"
    good = "SB1,SI_TRANSFER,社会保险关系转移接续,网上,371425,是,已办结,2026-11-20 09:00:00,2026-11-20 09:30:00,11010519491231002X,张三,13800001111"
    bad_id = "SB2,SI_TRANSFER,社会保险关系转移接续,网上,371425,是,已办结,2026-11-20 09:00:00,2026-11-20 09:30:00,110105194912310021,李四,13800002222"
    reversed_ = "SB3,ENROL,参保登记,窗口,371425,否,已办结,2026-11-20 09:00:00,2026-11-19 09:30:00,11010519491231002X,王五,13800003333"
    sample.write_bytes("\r\n".join([header, good, bad_id, reversed_]).encode("gb18030") + b"\r\n")
    out = cli("connectors", "test", "social_security_records_drop", "--sample", str(sample))
    assert "1 row(s) would land, 2 would be quarantined" in out
    assert "bad_id_number" in out and "end_before_start" in out
    assert Lake(cfg, decl).snapshot_id("social_security_records") is None  # nothing committed


def test_status_check_exits_1_naming_stale_failing_and_silent_feeds(cfg, decl):
    """For cron and Airflow sensors: exit 0 only when every configured feed is fresh."""
    from datetime import timedelta

    from sqlalchemy import update

    from cityhub.core.time import now_cst
    from cityhub.lake.hubdb import connector_runs, engine
    from cityhub_sim import traffic

    traffic.write_drop(traffic.generate(traffic.TrafficConfig(intersections_per_county=5)), cfg.drop_root)
    cli("ingest", "traffic_intersections_drop")
    runner = CliRunner()
    out = runner.invoke(app, ["connectors", "status", "--check"], env={"COLUMNS": "250"})
    assert out.exit_code == 1  # the other configured drops have never delivered
    assert "traffic_intersections_drop" not in out.stderr and "never delivered data" in out.stderr
    with engine(cfg.hub_db_uri).begin() as con:  # the intersections' last data is now two days old
        con.execute(update(connector_runs).values(finished_at=now_cst() - timedelta(days=2)))
    out = runner.invoke(app, ["connectors", "status", "--check"], env={"COLUMNS": "250"})
    assert out.exit_code == 1 and "traffic_intersections_drop: stale: last data" in out.stderr
