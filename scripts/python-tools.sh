#!/usr/bin/env bash
# The Python command-line tools the tests use, from PyPI, in one virtual environment.
#
#   source scripts/python-tools.sh; ensure_python_tool schemathesis 'schemathesis==4.32.5'
#
# Debian's own python3 (its python3-venv is in scripts/packages.sh) makes the environment, so
# a pyenv or another interpreter first on PATH changes nothing; pins keep runs repeatable.
# MS_PYTHON_TOOLS moves the environment (default /opt/ms-tui-python).
set -euo pipefail

PYTHON_TOOLS=${MS_PYTHON_TOOLS:-/opt/ms-tui-python}

# Prints the path of COMMAND in the environment, installing SPEC first when the command is
# missing or reports another version than SPEC pins.
ensure_python_tool() { # command pip-spec
    local command=$1 spec=$2 pinned
    pinned=${spec##*==}
    if [ ! -x "$PYTHON_TOOLS/bin/python" ]; then
        /usr/bin/python3 -m venv "$PYTHON_TOOLS" >&2
    fi
    local installed
    # Captured, not piped into `grep -q`: under pipefail pip's SIGPIPE would fail the test.
    installed=$("$PYTHON_TOOLS/bin/pip" show "${spec%%==*}" 2>/dev/null || true)
    if ! grep -qx "Version: $pinned" <<<"$installed"; then
        printf '[python-tools] installing %s into %s\n' "$spec" "$PYTHON_TOOLS" >&2
        "$PYTHON_TOOLS/bin/pip" install --quiet --disable-pip-version-check "$spec" >&2
    fi
    [ -x "$PYTHON_TOOLS/bin/$command" ] || {
        printf '[python-tools] ERROR: %s has no command %s\n' "$spec" "$command" >&2
        return 1
    }
    echo "$PYTHON_TOOLS/bin/$command"
}
