"""``cityhub reports``: signed indicator reports, verified without the hub, and the key
that signs them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from cityhub.cli.context import console, fail, obtain
from cityhub.core.errors import NotAuthentic
from cityhub.pipelines import report_keys, reports

app = typer.Typer(help="Signed indicator reports (a JWS signed with the hub's Ed25519 key) and that key.",
                  no_args_is_help=True)


@app.command("create")
def reports_create(
    ctx: typer.Context,
    region: str = typer.Option(..., help="the city or one of its counties (6-digit code)"),
    period: str = typer.Option(..., help="YYYY-MM-DD, YYYY-MM (month to date), YYYY (year to date) or now"),
    out: Optional[Path] = typer.Option(None, help="write the report (a compact JWS) to this file; default: print it"),
):
    """Sign a report of the region's stored values over the period, with their evidence digests."""
    signed = reports.create(obtain(ctx).lake, region, period)
    if out is None:
        typer.echo(signed.jws)
        return
    out.write_text(signed.jws + "\n", encoding="ascii")
    r = signed.report
    console().print(f"report of {r['region']} {r['region_name']} over {r['period']}: {len(r['rows'])} values, "
                    f"signed with key {signed.kid} -> {out}", highlight=False)


@app.command("verify")
def reports_verify(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="a report: the JWS `reports create` wrote, or GET /v1/reports' JSON"),
    jwks: Optional[str] = typer.Option(None, help="the hub's keys: a JWK Set file or URL "
                                                  "(https://<hub>/.well-known/jwks.json); default: this hub's"),
):
    """Check a report offline: its key is a published key, the signature is that key's,
    and each value's evidence digest is the digest of its parts. Exit 0 with a summary
    when valid, 1 naming what failed."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {file}: {getattr(e, 'strerror', None) or e}")
    if jwks:
        keys = reports.load_jwks(jwks)
    else:
        keys = report_keys.published(obtain(ctx).cfg)
        if not keys["keys"]:
            fail("this hub has published no report keys: pass --jwks FILE_OR_URL (the hub's /.well-known/jwks.json)")
    try:
        header, report = reports.verify(reports.jws_of(text), keys)
    except NotAuthentic as e:
        console().print(f"[red]not valid[/red]: {e.failed} - {e.detail[len(e.failed) + 2:]}", highlight=False)
        raise typer.Exit(1) from None
    s = reports.summary(header, report)
    console().print(f"[green]valid[/green]: report of {s['region']} {s['region_name']} over {s['period']} by the hub "
                    f"of {s['city']}, created {s['created_at']}, signed with key {s['kid']}; {s['values']} values, "
                    f"{s['evidence_rows']} evidence rows pinned by their digests", highlight=False)
    table = Table("code", "name", "value", "numerator", "denominator", "definition", "evidence rows", "digest")
    for row in report["rows"]:
        d = row[reports.DIGEST]
        table.add_row(str(row["指标编号"]), str(row["指标名称"] or ""), _num(row["指标值"]), _num(row["分子"]),
                      _num(row["分母"]), f"v{row['定义版本']}", str(sum(p["rows"] for p in d["parts"])),
                      d["sha256"][:12])
    console().print(table)


@app.command("jwks")
def reports_jwks(ctx: typer.Context,
                 out: Optional[Path] = typer.Option(None, help="write the JWK Set to this file; default: print it")):
    """The hub's published keys as a JWK Set (what GET /.well-known/jwks.json serves), for
    verifying reports offline."""
    body = json.dumps(report_keys.jwks(obtain(ctx).cfg), indent=2)
    if out is None:
        typer.echo(body)
    else:
        out.write_text(body + "\n", encoding="utf-8")


@app.command("rotate-key")
def reports_rotate_key(ctx: typer.Context):
    """Sign new reports with a new key; the old key's public key stays published, so the
    reports it signed still verify."""
    old, new = report_keys.rotate(obtain(ctx).cfg)
    console().print(f"reports are now signed with key {new}; {old} stays published in the JWKS", highlight=False)


def _num(v) -> str:
    return "" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
