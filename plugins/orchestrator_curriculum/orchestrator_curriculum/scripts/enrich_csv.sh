#!/bin/sh
# Add derived columns to a clean numbers CSV: weighted = value × weight, value_scaled in [0, 1].
#
#   enrich_csv.sh --params '{}' [--input PATH] [--output NAME] [--value COLUMN] [--weight COLUMN]
#
#   --input PATH      the clean CSV, relative to the working directory (default: the context key
#                     csv.sanitized_path_v1, so list it in the step's `inputs:` after sanitize_csv)
#   --output NAME     the enriched file's name under the data directory (default: numbers_enriched.csv)
#   --value COLUMN    the column to weight and scale (default: value)
#   --weight COLUMN   the weights (default: weight)
#   params            none: configure it with `args:` in the recipe
#
# Adds two columns after the existing ones: weighted (value × weight) and value_scaled
# ((value − min) / (max − min), min-max scaling as normalize_numbers does; 0 when all values are
# equal). Every cell of the two columns must be a number: run sanitize_csv first.
#
# Writes:  csv.enriched_path_v1      the enriched file, relative to the working directory when under it
#          csv.enriched_columns_v1   its column names, in order
# Artifact: the enriched file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/_contract.sh"

params='{}'
if [ "${1:-}" = --params ]; then params=$2; shift 2; fi
[ "$params" = '{}' ] || orch_fail "enrich_csv.sh takes no params; give its options in args" "{\"params\":$params}"
input=$(orch_ctx_string csv.sanitized_path_v1)
output=numbers_enriched.csv
value=value
weight=weight
while [ $# -gt 0 ]; do
    case $1 in
        --input | --output | --value | --weight)
            [ $# -ge 2 ] || orch_fail "$1 needs a value"
            case $1 in
                --input) input=$2 ;; --output) output=$2 ;; --value) value=$2 ;; --weight) weight=$2 ;;
            esac
            shift 2 ;;
        *) orch_fail "unknown argument: $1" "{\"known\":[\"--input\",\"--output\",\"--value\",\"--weight\"]}" ;;
    esac
done
[ -n "$input" ] || orch_fail "no input CSV: give --input PATH, or list csv.sanitized_path_v1 in the step's inputs" \
    "{\"ctx\":$ORCH_CTX}"
orch_csv_paths
echo "enrich_csv: adding weighted and value_scaled to $(orch_relative "$input")" >&2

line=$(ORCH_TARGET=$(orch_relative "$target") ORCH_INPUT=$(orch_relative "$input") ORCH_PARTIAL=$partial \
    ORCH_VALUE=$value ORCH_WEIGHT=$weight awk -F, "$ORCH_JSON_AWK"'
function fail(reason, details) {
    printf "{\"status\":\"error\",\"reason\":%s,\"details\":%s}\n", jstr(reason), details
    failed = 1
    exit 1
}
function number(s, column) {
    if (s !~ /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/)
        fail("not a number in column " column " at line " NR ": run sanitize_csv first",
             "{\"line\":" NR ",\"column\":" jstr(column) ",\"cell\":" jstr(s) "}")
    return s + 0
}
{ sub(/\r$/, "") }
NR == 1 {
    header = $0
    for (i = 1; i <= NF; i++) {
        if ($i == ENVIRON["ORCH_VALUE"]) v = i
        if ($i == ENVIRON["ORCH_WEIGHT"]) w = i
    }
    if (!v || !w)
        fail("column " (v ? ENVIRON["ORCH_WEIGHT"] : ENVIRON["ORCH_VALUE"]) " not in " ENVIRON["ORCH_INPUT"],
             "{\"header\":" jstr(header) "}")
    next
}
{
    rows++
    line[rows] = $0
    value[rows] = number($v, ENVIRON["ORCH_VALUE"])
    weighted[rows] = value[rows] * number($w, ENVIRON["ORCH_WEIGHT"])
    if (rows == 1 || value[rows] < low) low = value[rows]
    if (rows == 1 || value[rows] > high) high = value[rows]
}
END {
    if (failed) exit 1
    if (header == "") fail("No header row in " ENVIRON["ORCH_INPUT"], "{}")
    out = ENVIRON["ORCH_PARTIAL"]
    print header ",weighted,value_scaled" > out
    for (r = 1; r <= rows; r++) {
        scaled = high > low ? (value[r] - low) / (high - low) : 0
        printf "%s,%.12g,%.12g\n", line[r], weighted[r], scaled > out
    }
    close(out)
    n = split(header ",weighted,value_scaled", names, ",")
    columns = ""
    for (i = 1; i <= n; i++) columns = columns (i > 1 ? "," : "") jstr(names[i])
    printf "{\"status\":\"ok\",\"outputs\":[\"csv.enriched_path_v1\",\"csv.enriched_columns_v1\"],"
    printf "\"ctx\":{\"csv.enriched_path_v1\":%s,\"csv.enriched_columns_v1\":[%s]},", jstr(ENVIRON["ORCH_TARGET"]), columns
    printf "\"artifact\":%s}\n", jstr(ENVIRON["ORCH_TARGET"])
}' "$input") || { status=$?; printf '%s\n' "$line"; exit "$status"; }
mv "$partial" "$target"
printf '%s\n' "$line"
