"""Sums the JSON reports of a fuzz run (scripts/fuzz.sh) into one line per service and a total.

    python3 scripts/fuzz/summary.py OUT_DIR ELAPSED_SECONDS

Exit status 1 when a report has failures or errors, or a service has no report at all (its
run died before writing one).
"""

import json
import pathlib
import sys


def main():
    out, elapsed = pathlib.Path(sys.argv[1]), sys.argv[2]
    ports = sorted(p.name.split(".")[0] for p in out.glob("*.openapi.json"))
    totals = {"operations": 0, "requests": 0, "failures": 0, "errors": 0}
    ok = True
    for port in ports:
        reports = sorted(out.glob(f"{port}.json")) + sorted(out.glob(f"{port}.admin.json"))
        if not reports:
            print(f"[fuzz] :{port} wrote no report (see {out}/{port}.log)", file=sys.stderr)
            ok = False
            continue
        line = {"operations": 0, "requests": 0, "failures": 0, "errors": 0}
        for report in reports:
            data = json.loads(report.read_text())
            # The admin run tests operations the first already counted.
            if not report.name.endswith(".admin.json"):
                line["operations"] += data["operations"]["tested"]
            line["requests"] += data["test_cases"]["generated"]
            line["failures"] += sum(f["count"] for f in data["failures"])
            line["errors"] += len(data["errors"])
            for failure in data["failures"]:
                print(
                    f"[fuzz] :{port} {failure['title']} ×{failure['count']}: "
                    + ", ".join(failure["operations"]),
                    file=sys.stderr,
                )
        ok = ok and line["failures"] == 0 and line["errors"] == 0
        for key, value in line.items():
            totals[key] += value
        print(
            f"[fuzz] :{port} {line['operations']} operations, {line['requests']} requests, "
            f"{line['failures']} failures, {line['errors']} errors",
            file=sys.stderr,
        )
    print(
        f"[fuzz] total: {len(ports)} services, {totals['operations']} operations, "
        f"{totals['requests']} requests, {totals['failures']} failures, "
        f"{totals['errors']} errors in {elapsed} s",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
