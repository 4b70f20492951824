# The orch status-line contract for the curriculum's shell scriptlets, in POSIX sh and awk.
# Sourced by sanitize_csv.sh and enrich_csv.sh (not a scriptlet itself: its name starts with "_").
#
# A scriptlet is called as   SCRIPT --params JSON [ARGS...]   with ORCH_PARAMS, ORCH_CTX (the
# context keys its step lists in `inputs`), ORCH_WORKDIR and ORCH_DATA_DIR in its environment, and
# prints exactly one JSON line on stdout. Strings reach awk through ENVIRON, never `awk -v`, which
# would interpret backslashes.

# awk functions shared by the scriptlets' awk programs.
#   jstr(s)              s as a JSON string literal
#   ctx_string(json, k)  the string value of key k in a flat JSON object such as ORCH_CTX ("" if absent)
ORCH_JSON_AWK='
function jstr(s,    out, i, c) {
    if (!("\001" in ORCH_CONTROL)) for (i = 1; i < 32; i++) ORCH_CONTROL[sprintf("%c", i)] = i
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") out = out "\\\\"
        else if (c == "\"") out = out "\\\""
        else if (c == "\n") out = out "\\n"
        else if (c == "\t") out = out "\\t"
        else if (c in ORCH_CONTROL) out = out sprintf("\\u%04x", ORCH_CONTROL[c])
        else out = out c
    }
    return "\"" out "\""
}
function ctx_string(json, key,    at, i, c, out, next_c) {
    at = index(json, jstr(key) ":\"")
    if (at == 0) return ""
    out = ""
    for (i = at + length(jstr(key)) + 2; i <= length(json); i++) {
        c = substr(json, i, 1)
        if (c == "\"") return out
        if (c == "\\") {
            i++
            next_c = substr(json, i, 1)
            if (next_c == "n") c = "\n"
            else if (next_c == "t") c = "\t"
            else if (next_c == "r") c = "\r"
            else if (next_c == "u") { c = sprintf("%c", hex4(substr(json, i + 1, 4))); i += 4 }
            else c = next_c
        }
        out = out c
    }
    return out
}
function hex4(h,    i, n) {
    n = 0
    for (i = 1; i <= 4; i++) n = n * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return n
}
'

# orch_fail REASON [DETAILS_JSON]: print the error status line and exit 1.
orch_fail() {
    ORCH_REASON=$1 ORCH_DETAILS=${2:-"{}"} awk "$ORCH_JSON_AWK"'BEGIN {
        printf "{\"status\":\"error\",\"reason\":%s,\"details\":%s}\n", jstr(ENVIRON["ORCH_REASON"]), ENVIRON["ORCH_DETAILS"]
    }'
    exit 1
}

# orch_json_string S: S as a JSON string literal (for details built in sh).
orch_json_string() {
    ORCH_S=$1 awk "$ORCH_JSON_AWK"'BEGIN { printf "%s", jstr(ENVIRON["ORCH_S"]) }'
}

# orch_ctx_string KEY: the string value of KEY in ORCH_CTX, or nothing.
orch_ctx_string() {
    ORCH_KEY=$1 awk "$ORCH_JSON_AWK"'BEGIN { printf "%s", ctx_string(ENVIRON["ORCH_CTX"], ENVIRON["ORCH_KEY"]) }'
}

# orch_relative PATH: PATH relative to the working directory when it lies under it.
orch_relative() {
    case $1 in
        "$ORCH_WORKDIR"/*) printf '%s' "${1#"$ORCH_WORKDIR"/}" ;;
        *) printf '%s' "$1" ;;
    esac
}

# Outside orch (run by hand) the working directory is the current one and data goes to ./Data.
: "${ORCH_WORKDIR:=$(pwd)}" "${ORCH_DATA_DIR:=$ORCH_WORKDIR/Data}" "${ORCH_CTX:={\}}"

# orch_csv_paths: check $input (a CSV, relative to ORCH_WORKDIR unless absolute) and $output (a
# file name under ORCH_DATA_DIR); set $input, $target and $partial, the file written first and
# renamed to $target when complete (removed on exit otherwise).
orch_csv_paths() {
    case $input in /*) ;; *) input=$ORCH_WORKDIR/$input ;; esac
    case $output in */* | "" | . | ..) orch_fail "--output is a file name under the data directory, got: $output" ;; esac
    [ -f "$input" ] || orch_fail "CSV file not found: $(orch_relative "$input")" \
        "{\"path\":$(orch_json_string "$(orch_relative "$input")")}"

    mkdir -p "$ORCH_DATA_DIR"
    target=$ORCH_DATA_DIR/$output
    partial=$target.partial.$$
    trap 'rm -f "$partial"' EXIT
}
