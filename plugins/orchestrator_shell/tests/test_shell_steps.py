"""Shell steps through the real ``orch`` command: inputs, writes, the contract, and validation."""

from __future__ import annotations

import json
from pathlib import Path

import orchestrator_shell

# A script that reports what it received: params (both ways), args, its context inputs
# and directories, each as a context key. It also says something on stderr.
ECHO = r"""
    #!/bin/sh
    # Reports what it received as context keys.
    [ "$1" = --params ] || { echo "expected --params first, got: $1" >&2; exit 64; }
    params=$2
    shift 2
    printf '%s\0' "$@" > args.bin
    echo "received $# args" >&2
    echo "a second line on stderr" >&2
    printf '{"status":"ok","outputs":["echo.params_v1","echo.env_params_v1","echo.ctx_v1","echo.dirs_v1"],'
    printf '"ctx":{"echo.params_v1":%s,"echo.env_params_v1":%s,"echo.ctx_v1":%s,' "$params" "$ORCH_PARAMS" "$ORCH_CTX"
    printf '"echo.dirs_v1":["%s","%s","%s","%s"]},"artifact":"Data/none.txt"}\n' \
        "$ORCH_WORKDIR" "$ORCH_DATA_DIR" "$ORCH_STEP" "$(pwd)"
"""

WRITE = r"""
    #!/bin/sh
    # Writes two keys.
    printf '{"status":"ok","outputs":["demo.count_v1","demo.name_v1"],'
    printf '"ctx":{"demo.count_v1":3,"demo.name_v1":"ünï 🚀"}}\n'
"""


def by_step(outcome) -> dict[str, dict]:
    return {line["step"]: line for line in outcome.lines}


def test_the_plugin_is_listed_with_its_version(orch_cli):
    plugins = {p["name"]: p for p in json.loads(orch_cli("plugins", "list", "--json").assert_success().out)}
    shell = plugins["shell"]
    assert (shell["distribution"], shell["version"], shell["module"], shell["hooks"], shell["error"]) == (
        "orchestrator-shell-steps", orchestrator_shell.__version__, "orchestrator_shell.plugin",
        ["orch_register_step_types"], None)
    assert "orchestrator-shell-steps" in orch_cli("plugins", "list").assert_success().out


def test_writes_reach_the_state_store_and_the_next_step(run_shell, script, history, tmp_path):
    script("write.sh", WRITE)
    script("bin/echo.sh", ECHO)
    outcome = run_shell("""
        steps:
          - {name: write, type: shell, script: write.sh}
          - {name: echo, type: shell, script: bin/echo.sh, inputs: [demo.count_v1, demo.name_v1, demo.absent_v1],
             params: {n: 1}}
    """)
    outcome.assert_success()
    lines = by_step(outcome)
    assert lines["write"]["outputs"] == ["demo.count_v1", "demo.name_v1"]
    assert lines["echo"]["artifact"] == "Data/none.txt"
    # The second step got exactly the keys it asked for that exist, as ORCH_CTX.
    echo_ctx = history("echo.ctx_v1")[-1]
    assert echo_ctx["value"] == {"demo.count_v1": 3, "demo.name_v1": "ünï 🚀"}
    assert (echo_ctx["who"], echo_ctx["step"]) == ("echo.sh", "echo")
    name = history("demo.name_v1")
    assert [(w["value"], w["who"], w["step"]) for w in name] == [("ünï 🚀", "write.sh", "write")]
    workdir, data_dir, step, cwd = history("echo.dirs_v1")[-1]["value"]
    assert Path(workdir) == Path(cwd) == tmp_path.resolve()
    assert (Path(data_dir), step) == (tmp_path.resolve() / "Data", "echo")
    # stderr went through, line by line, prefixed with the step name.
    assert "[echo] received 0 args\n[echo] a second line on stderr\n" in outcome.err


def test_a_name_that_is_not_utf8_reaches_the_next_script_as_escaped_json(run_shell, script, history):
    # A Latin-1 file name in the context (a lone surrogate, as os.listdir gives it) cannot be
    # passed as UTF-8: ORCH_CTX holds the same JSON value with \u escapes instead.
    script("name.sh", r"""
        #!/bin/sh
        printf '{"status":"ok","outputs":["demo.name_v1"],"ctx":{"demo.name_v1":"caf\\udce9.csv"}}\n'
    """)
    script("echo.sh", ECHO)
    outcome = run_shell("""
        steps:
          - {name: name, type: shell, script: name.sh}
          - {name: echo, type: shell, script: echo.sh, inputs: [demo.name_v1], cache_key: echo}
    """)
    outcome.assert_success()
    assert history("echo.ctx_v1")[-1]["value"] == {"demo.name_v1": "caf\udce9.csv"}


def test_params_and_args_arrive_intact_and_nothing_is_interpreted(run_shell, script, history, tmp_path):
    script("echo.sh", ECHO)
    params = {
        "quotes": "it's \"quoted\" 'twice'",
        "subst": "$(touch pwned_subst)",
        "ticks": "`touch pwned_ticks`",
        "newlines": "line one\nline two\n",
        "unicode": "naïve café — 日本語 🚀",
        "glob_and_semicolon": "*; touch pwned_semicolon",
        "nested": {"list": [1, 2.5, None, True], "empty": ""},
    }
    args = ["$(touch pwned_arg)", "two words", "`id`", "*", "ünï"]
    outcome = run_shell(f"""
        steps:
          - name: echo
            type: shell
            script: echo.sh
            params: {json.dumps(params, ensure_ascii=False)}
            args: {json.dumps(args, ensure_ascii=False)}
    """)
    outcome.assert_success()
    assert history("echo.params_v1")[-1]["value"] == params
    assert history("echo.env_params_v1")[-1]["value"] == params
    assert (tmp_path / "args.bin").read_bytes().decode().split("\0")[:-1] == args
    assert not list(tmp_path.glob("pwned*"))


def test_each_broken_contract_and_failure_is_error_json(run_shell, script, orch_cli):
    script("fail.sh", r"""
        #!/bin/sh
        mode=$3
        echo "running $mode" >&2
        case "$mode" in
          text) echo "plain text, not JSON";;
          several) echo '{"status":"ok","outputs":[]}'; echo '{"status":"ok","outputs":[]}';;
          unnamed) echo '{"status":"ok","outputs":["demo.a_v1","demo.b_v1"],"ctx":{"demo.a_v1":1}}';;
          undeclared) echo '{"status":"ok","outputs":["demo.other_v1"],"ctx":{"demo.other_v1":1}}';;
          exit) i=0; while [ $i -lt 30 ]; do echo "stderr line $i" >&2; i=$((i+1)); done; exit 3;;
          reported) echo '{"status":"error","reason":"Too few rows (min=5)","details":{"rows":2}}'; exit 2;;
          reported0) echo '{"status":"error","reason":"Nothing to do","exit_code":5}';;
          signal) kill -SEGV $$;;
        esac
    """)
    modes = ["text", "several", "unnamed", "undeclared", "exit", "reported", "reported0", "signal"]
    steps = "\n".join(
        f"  - {{name: {m}, type: shell, script: fail.sh, args: [{m}], depends_on: []"
        + (", outputs: [demo.mine_v1]" if m == "undeclared" else "") + "}" for m in modes)
    outcome = run_shell("steps:\n" + steps + "\n", "--keep-going")
    assert outcome.exit_code == 1, outcome.err
    lines = by_step(outcome)
    assert set(lines) == set(modes)
    for mode, line in lines.items():
        assert set(line) >= {"status", "error_type", "reason", "details", "exit_code", "step", "ts"}, mode
        assert line["status"] == "error" and line["step"] == mode
        assert line["details"]["stderr_tail"][-1:] == ([f"running {mode}"] if mode != "exit" else ["stderr line 29"])
        assert "Traceback" not in json.dumps(line)
    summary = {m: (lines[m]["error_type"], lines[m]["exit_code"]) for m in modes}
    assert summary == {
        "text": ("contract_violation", 1), "several": ("contract_violation", 1),
        "unnamed": ("contract_violation", 1), "undeclared": ("contract_violation", 1),
        "exit": ("nonzero_exit", 3), "reported": ("nonzero_exit", 2), "reported0": ("script_error", 5),
        "signal": ("nonzero_exit", 139),
    }
    assert lines["text"]["details"]["stdout_lines"] == ["plain text, not JSON"]
    assert "printed 2 JSON lines" in lines["several"]["reason"]
    assert "not in \"ctx\": demo.b_v1" in lines["unnamed"]["reason"]
    assert "undeclared key 'demo.other_v1'" in lines["undeclared"]["reason"]
    exit3 = lines["exit"]
    assert (exit3["reason"], exit3["details"]["exit_code"]) == ("script exited with code 3", 3)
    assert exit3["details"]["stderr_tail"] == [f"stderr line {i}" for i in range(10, 30)]
    reported = lines["reported"]
    assert (reported["reason"], reported["details"]["rows"], reported["details"]["exit_code"]) == (
        "Too few rows (min=5)", 2, 2)
    assert lines["reported0"]["reason"] == "Nothing to do"
    assert (lines["signal"]["reason"], lines["signal"]["details"]["signal"]) == (
        "script was killed by signal SIGSEGV", "SIGSEGV")
    # Nothing a failed step wrote reached the context recorded in the state store.
    recorded = json.loads(orch_cli("context", "show", "--json").assert_success().out)
    assert not [key for key in recorded if key.startswith("demo.")]


def test_scripts_shipped_by_a_pack_are_found_by_name_and_listed(orch_cli, make_pack, script, tmp_path):
    pack = make_pack("orch-scripts-pack", {
        "scripts_pack/__init__.py": "",
        "scripts_pack/plugin.py": """
            from pathlib import Path
            from orchestrator_core import hookimpl

            @hookimpl
            def orch_register_recipe_dirs():
                return [Path(__file__).parent / "scripts"]
        """,
        "scripts_pack/scripts/greet.sh": "#!/bin/sh\n# Greets from the pack.\n"
            """printf '{"status":"ok","outputs":["pack.greeting_v1"],"ctx":{"pack.greeting_v1":"from the pack"}}\\n'\n""",
        "scripts_pack/scripts/_helpers.sh": "# sourced by the pack's scripts, not one of them\n",
    }, entry_points={"scripts": "scripts_pack.plugin"})
    (pack / "scripts_pack/scripts/greet.sh").chmod(0o755)
    script("local.sh", """
        #!/bin/sh
        printf '{"status":"ok","outputs":["pack.local_v1"],"ctx":{"pack.local_v1":"from next to the recipe"}}\\n'
    """)
    (tmp_path / "recipe.yaml").write_text(
        "steps:\n  - {name: greet, type: shell, script: greet.sh}\n  - {name: local, type: shell, script: local.sh}\n")
    outcome = orch_cli("run", "recipe.yaml", pythonpath=[pack]).assert_success()
    assert [line["outputs"] for line in outcome.lines] == [["pack.greeting_v1"], ["pack.local_v1"]]
    listed = json.loads(orch_cli("steps", "list", "--json", pythonpath=[pack]).assert_success().out)
    scripts = [row for row in listed if row["type"] == "shell" and row["plugin"] == "scripts"]
    assert [(r["name"], r["pack"], r["description"]) for r in scripts] == [
        ("greet.sh", "orch-scripts-pack", "Greets from the pack.")]
    assert "greet.sh" in orch_cli("steps", "list", pythonpath=[pack]).assert_success().out
    # A file next to the recipe wins over a pack's script of the same name.
    script("greet.sh", """
        #!/bin/sh
        printf '{"status":"ok","outputs":["pack.greeting_v1"],"ctx":{"pack.greeting_v1":"local copy"}}\\n'
    """)
    orch_cli("run", "recipe.yaml", "--only", "greet", pythonpath=[pack]).assert_success()
    shown = orch_cli("context", "show", "pack.greeting_v1", "--json", pythonpath=[pack]).assert_success().out
    assert json.loads(shown) == "local copy"


def test_a_missing_or_non_executable_script_stops_everything_before_it_starts(run_shell, script, tmp_path):
    script("first.sh", """
        #!/bin/sh
        touch first_ran
        echo '{"status":"ok","outputs":[]}'
    """)
    script("plain.sh", "#!/bin/sh\necho '{\"status\":\"ok\",\"outputs\":[]}'\n", mode=0o644)
    recipe = """
        steps:
          - name: first
            type: shell
            script: first.sh
          - name: missing
            type: shell
            script: scripts/nowhere.sh
          - name: by_name
            type: shell
            script: no_such_script.sh
          - name: not_executable
            type: shell
            script: plain.sh
          - name: no_script
            type: shell
            uses: load_numbers
    """
    for command in ("run", "validate"):
        outcome = run_shell(recipe, command=command)
        assert outcome.exit_code == 2, outcome.err
        assert "Traceback" not in outcome.err
        recipe_file = tmp_path / "recipe.yaml"
        assert f"{recipe_file}:8: step 'missing': script 'scripts/nowhere.sh' not found: no file " \
               f"{tmp_path / 'scripts/nowhere.sh'}" in outcome.err
        assert f"{recipe_file}:11: step 'by_name': script 'no_such_script.sh' not found" in outcome.err
        assert "no installed pack ships a script of that name" in outcome.err
        assert (f"{recipe_file}:14: step 'not_executable': script {tmp_path / 'plain.sh'} is not executable "
                f"(chmod +x {tmp_path / 'plain.sh'})") in outcome.err
        assert f"{recipe_file}:17: step 'no_script': a shell step runs a script: use 'script: NAME'" in outcome.err
        assert f"{recipe_file}:15: step 'no_script': a shell step needs 'script:" in outcome.err
    assert not (tmp_path / "first_ran").exists()
    assert not (tmp_path / ".orch" / "state.db").exists()  # no run was even recorded


def _readme_block(after: str, language: str) -> str:
    """The first ``language`` code block after the line starting with ``after`` in the README."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after):]
    start = rest.index(f"```{language}\n") + len(language) + 4
    return rest[start:rest.index("```", start)]


def test_the_readme_example_script_and_recipe_work_as_shown(orch_cli, script, tmp_path, history):
    script("scripts/count_words.sh", _readme_block("`scripts/count_words.sh`", "sh"))
    recipe = _readme_block("## In a recipe", "yaml") + "context: {text.language_v1: en}\n"
    (tmp_path / "recipe.yaml").write_text(recipe, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("the quick brown fox jumps over a lazy dog\n")
    outcome = orch_cli("run", "recipe.yaml").assert_success()
    assert outcome.lines[0]["artifact"] == "Data/words.csv"
    assert "[count_words] counting the words of notes.txt with at least 3 letters" in outcome.err
    assert [(w["value"], w["who"]) for w in history("text.word_count_v1")] == [(8, "count_words.sh")]
    assert (tmp_path / "Data" / "words.csv").read_text() == "notes.txt,8\n"
