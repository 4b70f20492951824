#!/bin/sh
# Drop the dirty rows of a numbers CSV and write the clean ones under the data directory.
#
#   sanitize_csv.sh --params '{}' [--input PATH] [--output NAME]
#
#   --input PATH   the CSV file, relative to the working directory
#                  (default: the curriculum's sample numbers.csv, shipped in this package)
#   --output NAME  the clean file's name under the data directory (default: numbers_sanitized.csv)
#   params         none: configure it with `args:` in the recipe
#
# A data row is dropped when it is blank, repeats the header, has another number of cells than
# the header, or has a blank cell or a cell that is not a finite number (the reasons load_numbers
# gives); spaces around cells are trimmed. The first non-blank row is the header; its names must
# be unique and non-empty. Cells are split at commas (no quoted cells).
#
# Writes:  csv.sanitized_path_v1    the clean file, relative to the working directory when under it
#          csv.sanitize_counts_v1   {"rows_read", "rows_kept", "rows_dropped",
#                                    "dropped": [{"line", "reason"}, ...]} (line: 1-based, in the input)
# Artifact: the clean file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/_contract.sh"

params='{}'
if [ "${1:-}" = --params ]; then params=$2; shift 2; fi
[ "$params" = '{}' ] || orch_fail "sanitize_csv.sh takes no params; give --input and --output in args" \
    "{\"params\":$params}"
input=$(cd "$here/../data" && pwd)/numbers.csv
output=numbers_sanitized.csv
while [ $# -gt 0 ]; do
    case $1 in
        --input) [ $# -ge 2 ] || orch_fail "--input needs a path"; input=$2; shift 2 ;;
        --output) [ $# -ge 2 ] || orch_fail "--output needs a file name"; output=$2; shift 2 ;;
        *) orch_fail "unknown argument: $1" "{\"known\":[\"--input\",\"--output\"]}" ;;
    esac
done
orch_csv_paths
echo "sanitize_csv: reading $(orch_relative "$input")" >&2

line=$(ORCH_TARGET=$(orch_relative "$target") ORCH_INPUT=$(orch_relative "$input") ORCH_PARTIAL=$partial \
awk -F, "$ORCH_JSON_AWK"'
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function finite_number(s,    v) {
    if (s !~ /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/) return 0
    v = s + 0
    return v == 0 || v != v * 2   # rejects overflow to infinity
}
function quoted(s) { return "'"'"'" s "'"'"'" }
function problem(    i, row) {
    if ($0 ~ /^[ \t,]*$/) return "blank line"
    row = ""
    for (i = 1; i <= NF; i++) row = row (i > 1 ? "," : "") trim($i)
    if (row == header) return "repeated header"
    if (NF != columns) return "expected " columns " cells, found " NF
    for (i = 1; i <= NF; i++) {
        if (trim($i) == "") return "blank cell in " quoted(name[i])
        if (!finite_number(trim($i))) return "not a number in " quoted(name[i]) ": " quoted(trim($i))
    }
    return ""
}
{ sub(/\r$/, "") }
header == "" {
    if ($0 ~ /^[ \t,]*$/) next
    for (i = 1; i <= NF; i++) {
        name[i] = trim($i)
        if (name[i] == "" || (name[i] in seen)) {
            failed = "Header of " ENVIRON["ORCH_INPUT"] " needs unique, non-empty names"
            exit 1
        }
        seen[name[i]] = 1
        header = header (i > 1 ? "," : "") name[i]
    }
    columns = NF
    print header > ENVIRON["ORCH_PARTIAL"]
    next
}
{
    read++
    why = problem()
    if (why != "") {
        dropped = dropped (dropped == "" ? "" : ",") "{\"line\":" NR ",\"reason\":" jstr(why) "}"
        next
    }
    kept++
    row = ""
    for (i = 1; i <= NF; i++) row = row (i > 1 ? "," : "") trim($i)
    print row > ENVIRON["ORCH_PARTIAL"]
}
END {
    if (failed == "" && header == "") failed = "No header row in " ENVIRON["ORCH_INPUT"]
    if (failed != "") {
        printf "{\"status\":\"error\",\"reason\":%s,\"details\":{\"path\":%s}}\n", jstr(failed), jstr(ENVIRON["ORCH_INPUT"])
        exit 1
    }
    close(ENVIRON["ORCH_PARTIAL"])
    printf "{\"status\":\"ok\",\"outputs\":[\"csv.sanitized_path_v1\",\"csv.sanitize_counts_v1\"],"
    printf "\"ctx\":{\"csv.sanitized_path_v1\":%s,", jstr(ENVIRON["ORCH_TARGET"])
    printf "\"csv.sanitize_counts_v1\":{\"rows_read\":%d,\"rows_kept\":%d,\"rows_dropped\":%d,\"dropped\":[%s]}},",
        read, kept, read - kept, dropped
    printf "\"artifact\":%s}\n", jstr(ENVIRON["ORCH_TARGET"])
}' "$input") || { status=$?; printf '%s\n' "$line"; exit "$status"; }
mv "$partial" "$target"
printf '%s\n' "$line"
