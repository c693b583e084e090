"""The documents shipped in the repository agree with the code: the Grafana
dashboard is well-formed and queries only metrics binlake exports (and
every one of them), the contract names every metric, and committed outputs
name no path of the machine they were made on. Reads files only.
"""

import json
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "docs/grafana/binlake.json"
CONTRACT_DIR = REPO / "docs"

# Prometheus adds these to a histogram's name.
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_metrics() -> set[str]:
    """Metric names as src/metrics.rs registers them (string literals)."""
    text = (REPO / "src/metrics.rs").read_text()
    names = set(re.findall(r'"(binlake_[a-z0-9_]+)"', text))
    assert len(names) >= 10, f"found only {sorted(names)} in src/metrics.rs"
    return names


def base_name(name: str, exported: set[str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in exported:
            return name[: -len(suffix)]
    return name


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = []
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            exprs.append(target["expr"])
    for var in doc.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            exprs.append(query.get("query", ""))
        elif var.get("type") == "query" and isinstance(query, str):
            exprs.append(query)
    return exprs


def test_dashboard_is_grafana_json():
    doc = json.loads(DASHBOARD.read_text())
    assert doc["title"] and doc["uid"] and isinstance(doc["schemaVersion"], int)
    panels = doc["panels"]
    assert panels, "no panels"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids {ids}"
    for p in panels:
        grid = p["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"], f"panel {p['title']!r} queries nothing"
            assert all(t["expr"].strip() for t in p["targets"]), p["title"]


def test_dashboard_queries_exactly_the_exported_metrics():
    exported = exported_metrics()
    queried = set()
    for expr in dashboard_queries():
        for name in re.findall(r"\bbinlake_[a-z0-9_]+", expr):
            queried.add(base_name(name, exported))
    unknown = queried - exported
    assert not unknown, f"the dashboard queries metrics binlake does not export: {sorted(unknown)}"
    missing = exported - queried
    assert not missing, f"metrics without a dashboard panel: {sorted(missing)}"


def test_contract_names_every_metric():
    text = "\n".join(p.read_text() for p in CONTRACT_DIR.glob("*.md"))
    missing = [m for m in sorted(exported_metrics()) if m not in text]
    assert not missing, f"docs/*.md do not describe {missing}"


# An absolute path of a build or home directory, or a home-relative cache.
MACHINE_PATH = re.compile(r"(?<![\w.$}])/(?:root|home/[\w.-]+|work|tmp)/|~/\.cache/binlake/target")


def committed_outputs() -> list[pathlib.Path]:
    files = [REPO / "bench/RESULTS.md", REPO / "bench/README.md", DASHBOARD]
    files += sorted(CONTRACT_DIR.rglob("*.md"))
    return [f for f in files if f.exists()]


def test_committed_outputs_name_no_machine_paths():
    found = []
    for path in committed_outputs():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:160]}")
    assert not found, "machine paths in committed files:\n" + "\n".join(found)
