"""Smoke run of the network-size table script on the embedded default data (CI)."""
import re

from experiments import size_table


def test_size_table_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "table.md"
    assert size_table.main(["--data", "default", "--epochs", "2", "--rows", "1,4", "--out", str(out)]) == 0
    rows = [ln for ln in out.read_text().splitlines() if ln.startswith("| ") and "layer" in ln]
    assert [r.split("|")[1].strip() for r in rows] == ["1 layer x 64", "2 layers x 256"]
    for r in rows:
        train, test = (float(v) for v in r.split("|")[2:4])
        assert 0 <= train <= 100 and 0 <= test <= 100
    assert re.search(r"\| 89 \| 86 \|", rows[0]) and re.search(r"\| 92 \| 88 \|", rows[1])
