# Shared by the scripts that install a Python tool into a virtualenv of its own (sourced, not
# run). Tools live under $ORGSVC_TOOLS_DIR (default ~/.cache/orgsvc), one directory per version.
#
#   venv_install SCRIPT DIR REQUIREMENT PROBE...
#
# Prints nothing itself; returns once DIR holds a virtualenv where PROBE (a command, run with
# DIR/bin first on PATH) succeeds, installing REQUIREMENT with pip if it did not. REQUIREMENT may
# name several packages, separated by spaces.
ORGSVC_TOOLS_HOME="${ORGSVC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orgsvc}"

venv_install() {
    local script=$1 dir=$2 requirement=$3
    shift 3
    if [ -x "$dir/bin/python" ] && PATH="$dir/bin:$PATH" "$@" >/dev/null 2>&1; then
        return
    fi
    command -v python3 >/dev/null || { echo "$script: python3 is needed" >&2; exit 1; }
    echo "$script: installing $requirement (once)" >&2
    rm -rf "$dir"
    python3 -m venv "$dir" >&2
    # shellcheck disable=SC2086 # several requirements split on spaces
    "$dir/bin/pip" install --quiet --disable-pip-version-check $requirement >&2
    PATH="$dir/bin:$PATH" "$@" >/dev/null
}
