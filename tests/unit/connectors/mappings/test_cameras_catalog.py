"""The GB/T 28181 catalogue mapping, in Arrow compute: unknown coordinates, the county
from CivilCode or the DeviceID, status in upper case, for the values platforms send."""
from __future__ import annotations

import pyarrow as pa

from cityhub.connectors.mappings.cameras import catalog


class _Spec:
    name = "camera_catalog_drop"


def test_coordinates_platforms_do_not_know_are_null_and_the_rest_kept_trimmed(caplog):
    raw = [None, "", " ", "0", "0.0", "-0", "+0.000", ".0", "null", "NULL", "None", "nan", "NaN", "0e0",
           "116.3", " 116.30 ", "-.5", "1e3", "abc", "１１６", "1.2.3"]
    want = [None] * 14 + ["116.3", "116.30", "-.5", "1e3", "abc", "１１６", "1.2.3"]
    n = len(raw)
    t = pa.table({"device_id": [f"3714020000131{i:07d}" for i in range(n)], "civil_code": ["371402"] * n,
                  "status": ["ON"] * n, "longitude": raw, "latitude": ["36.4"] * n})
    out = catalog(t, _Spec())
    assert out["longitude"].to_pylist() == want
    assert "13 devices without known coordinates" in caplog.text  # None was never sent: not counted


def test_the_county_comes_from_civilcode_else_from_the_device_id_and_status_is_upper_case():
    t = pa.table({
        "device_id": ["37140300001310000001", " 371404000013 ", "37142200001310000009", None, "3714"],
        "civil_code": ["371402001001", "3714", " 37 ", None, ""],
        "status": [" on ", "Online", None, "ok", "OFF"],
        "longitude": ["116.3"] * 5, "latitude": ["36.4"] * 5})
    out = catalog(t, _Spec())
    assert out["region"].to_pylist() == ["371402", "371404", "371422", None, "3714"]
    assert out["status"].to_pylist() == ["ON", "ONLINE", None, "OK", "OFF"]
